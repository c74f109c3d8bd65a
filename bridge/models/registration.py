"""Registration for exam sittings (R1–R6; seed 003, the NCRE registration manual).

A ``RegistrationPeriod`` (考次) is a window in which candidates register; the sites taking
part (``PeriodSite``, each saying whether it reviews registrations) offer subjects
(``Offer``: an exam, with a capacity and a fee per person). A ``Registration`` is one
person's in one period: their personal data, the site they chose and the subjects
(``RegistrationSubject``) they chose there, and the photo (``RegistrationPhoto``, never at
a public URL). A candidate is a ``User`` either way: launched from the LMS, or a public
candidate with a ``CandidateAccount`` (email and password) behind the user.

The ID number is personal data: stored sealed (AES-GCM under a key derived from the
bridge's secret), with a keyed hash for finding the same person at two sites and a masked
form for pages (``bridge.services.registration.identity``); never in clear.

Registration states: ``draft`` (agreed, being filled in) → ``submitted`` (guaranteed true;
at a site that does not review, payable at once) or ``pending_review`` → ``approved``
(locked, payable within the payment window) or ``rejected`` (with a reason; editable, then
submitted again) → ``paid`` (every chosen subject paid; locked) → ``confirmed`` (on-site
confirmation, where the period asks for it). ``lapsed``: the payment window passed unpaid
and the places went back.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import (Boolean, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge import clock
from bridge.db import Base, TimestampMixin

REGISTRATION_STATES = ("draft", "submitted", "pending_review", "approved", "rejected", "paid", "confirmed",
                       "lapsed")
#: states in which the candidate may still change their data and subjects
EDITABLE_STATES = ("draft", "submitted", "rejected")
SUBJECT_STATES = ("chosen", "paid", "released")
GENDERS = ("male", "female")


class RegistrationPeriod(TimestampMixin, Base):
    __tablename__ = "registration_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    opens_at: Mapped[dt.datetime] = mapped_column(DateTime)
    closes_at: Mapped[dt.datetime] = mapped_column(DateTime)
    subject_limit: Mapped[int] = mapped_column(Integer, default=3)  # per person and period (R2)
    onsite_confirmation: Mapped[bool] = mapped_column(Boolean, default=False)  # 现场确认
    payment_hours: Mapped[int] = mapped_column(Integer, default=24)  # after approval (R4)
    form_print_from: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)    # 报名登记表
    form_print_until: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    ticket_print_from: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)  # 准考证
    ticket_print_until: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    agreement: Mapped[str] = mapped_column(Text, default="")  # 报名协议, plain text

    sites = relationship("PeriodSite", cascade="all, delete-orphan", order_by="PeriodSite.id")
    offers = relationship("Offer", cascade="all, delete-orphan", order_by="Offer.id")


class PeriodSite(Base):
    __tablename__ = "registration_period_sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("registration_periods.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    reviews: Mapped[bool] = mapped_column(Boolean, default=False)  # 信息审核

    __table_args__ = (UniqueConstraint("period_id", "site_id"),)


class Offer(Base):
    """A subject (an exam) offered at a site in a period."""

    __tablename__ = "registration_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("registration_periods.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"))
    capacity: Mapped[int] = mapped_column(Integer)
    fee_cents: Mapped[int] = mapped_column(Integer, default=0)  # per person, in the currency's cents (CNY)

    exam = relationship("Exam")

    __table_args__ = (UniqueConstraint("period_id", "site_id", "exam_id"),)


class CandidateAccount(TimestampMixin, Base):
    """A public candidate's sign-in: email and password, the email verified by a link."""

    __tablename__ = "candidate_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    verified_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # bumped by a password change: every reset link issued before it stops working
    password_version: Mapped[int] = mapped_column(Integer, default=1)

    user = relationship("User")


class Registration(TimestampMixin, Base):
    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("registration_periods.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[Optional[str]] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    agreed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)  # "true and accurate" given
    reviewed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    reviewed_by: Mapped[Optional[str]] = mapped_column(String(255))
    reject_reason: Mapped[str] = mapped_column(String(500), default="")
    pay_by: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    confirmed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # when the retention purge removed the personal data and the photo (bridge.services.registration.retention)
    purged_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # personal data (R1)
    name: Mapped[str] = mapped_column(String(100), default="")
    gender: Mapped[str] = mapped_column(String(10), default="")
    birth_date: Mapped[Optional[dt.date]] = mapped_column(Date)
    id_type: Mapped[str] = mapped_column(String(20), default="")
    id_sealed: Mapped[str] = mapped_column(Text, default="")       # AES-GCM, never the number in clear
    id_digest: Mapped[str] = mapped_column(String(64), default="", index=True)  # keyed hash: same person
    id_masked: Mapped[str] = mapped_column(String(40), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    address: Mapped[str] = mapped_column(String(300), default="")

    period = relationship("RegistrationPeriod")
    subjects = relationship("RegistrationSubject", cascade="all, delete-orphan", order_by="RegistrationSubject.id")

    __table_args__ = (UniqueConstraint("period_id", "user_id"),)


class RegistrationSubject(Base):
    __tablename__ = "registration_subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("registration_offers.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="chosen")
    paid_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    offer = relationship("Offer")

    __table_args__ = (UniqueConstraint("registration_id", "offer_id"),)


class PaymentOrder(TimestampMixin, Base):
    """One order for a registration's fees at a payment provider (R5). ``out_trade_no`` is
    ours and names it at the provider; only the provider's signed word marks it paid."""

    __tablename__ = "payment_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    out_trade_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | paid | closed
    trade_no: Mapped[str] = mapped_column(String(64), default="")  # the provider's number for the trade
    paid_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    notifications: Mapped[int] = mapped_column(Integer, default=0)  # signed paid notices received

    registration = relationship("Registration")


class RegistrationPhoto(Base):
    """The registration's photo, checked (``bridge.services.registration.photo``) and served
    only to its owner and the site's reviewers."""

    __tablename__ = "registration_photos"

    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
