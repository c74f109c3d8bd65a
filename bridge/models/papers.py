"""An exam's paper (one per exam) and its sessions (场次) with assigned candidates (C3, C8)."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.db import Base, TimestampMixin

PARTIAL_RULES = ("all_or_nothing", "proportional", "proportional_with_penalty")


class Paper(TimestampMixin, Base):
    """How the exam's items are chosen and the rules candidates sit it under.
    ``mode`` fixed: ``items`` in order; draw: per candidate from ``draws``
    ([{"category_id", "count", "points"}])."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), unique=True)
    mode: Mapped[str] = mapped_column(String(10), default="fixed")
    draws: Mapped[list] = mapped_column(JSON, default=list)
    shuffle_items: Mapped[bool] = mapped_column(Boolean, default=False)
    shuffle_options: Mapped[bool] = mapped_column(Boolean, default=True)
    multiple_rule: Mapped[str] = mapped_column(String(30), default="all_or_nothing")
    rules_html: Mapped[str] = mapped_column(Text, default="")
    early_submit_minutes: Mapped[int] = mapped_column(Integer, default=0)  # submit allowed after
    late_login_minutes: Mapped[int] = mapped_column(Integer, default=30)    # no login after
    lock_limit: Mapped[int] = mapped_column(Integer, default=5)
    remote_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    info_form: Mapped[list] = mapped_column(JSON, default=list)  # pre-exam fields (C2)
    scores_released: Mapped[bool] = mapped_column(Boolean, default=False)
    # the last release: registrations of the exam are purged a set time after it
    scores_released_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    items = relationship("PaperItem", order_by="PaperItem.position", cascade="all, delete-orphan")


class PaperItem(Base):
    __tablename__ = "paper_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer)
    points: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("paper_id", "question_id"),)


class ExamSession(TimestampMixin, Base):
    """A session (场次) of an exam; its rooms are its sittings (``bridge.models.sittings``)."""

    __tablename__ = "exam_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime)
    exam_code: Mapped[Optional[str]] = mapped_column(String(6), unique=True)  # remote sitting (C1)
    # The item gate of a session without sittings (made in the course, authorized by the
    # teacher who made it). Once the session is placed at a site, each candidate's items wait
    # for the exam authorization of the candidate's sitting (bridge.services.venue.authorization, V6).
    authorized: Mapped[bool] = mapped_column(Boolean, default=True)
    # The session's number (场次号) in admission numbers, fixed at its first exam data build.
    number: Mapped[Optional[int]] = mapped_column(Integer)

    exam = relationship("Exam")
    candidates = relationship("SessionCandidate", cascade="all, delete-orphan")


class SessionCandidate(Base):
    __tablename__ = "session_candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"))
    # Where the room's exam data placed the candidate (bridge.services.venue.exam_data, V4).
    room_id: Mapped[Optional[int]] = mapped_column(ForeignKey("rooms.id", ondelete="SET NULL"))
    sequence: Mapped[Optional[int]] = mapped_column(Integer)  # 序号 within room and session
    seat_number: Mapped[Optional[int]] = mapped_column(Integer)
    admission_number: Mapped[Optional[str]] = mapped_column(String(100))

    # a candidate sits an exam in one session; an admission number names one candidate of an exam
    __table_args__ = (UniqueConstraint("exam_id", "user_id"), UniqueConstraint("exam_id", "admission_number"))
