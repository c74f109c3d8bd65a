"""Sittings: one exam session (场次) in one room, and the sealing checks of a site (V4–V8).

A ``Sitting`` carries what the venue workflow records of (session, room): the room's exam
data package (built from the roster and the seat plan, with its hash; loaded and verified
at the site after its release time), the exam authorization of the session at this site and
its verification, and later the end of the exam and the upload of its results (the proctor
console's issue). A candidate of a session with sittings reads items only once the sitting
of the candidate's room is authorized: one site's authorization never opens another's rooms.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge import clock
from bridge.db import Base, TimestampMixin

SEAT_ORDERS = ("in_order", "shuffled")


class Sitting(TimestampMixin, Base):
    __tablename__ = "sittings"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    seat_order: Mapped[str] = mapped_column(String(10), default="in_order")
    data: Mapped[Optional[dict]] = mapped_column(JSON)  # the signed package (bridge.services.venue.exam_data)
    data_hash: Mapped[Optional[str]] = mapped_column(String(64))
    data_built_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    release_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    data_loaded_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    data_loaded_hash: Mapped[Optional[str]] = mapped_column(String(64))
    # The exam authorization (V6) and its verification (V8), given per session and site: every
    # sitting of the session at the site at once (bridge.services.venue.authorization).
    authorized_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    authorized_by: Mapped[str] = mapped_column(String(255), default="")
    authorization_method: Mapped[str] = mapped_column(String(10), default="")  # online | file
    verified_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # The proctor console (P1, P2, P10, P12): who runs the room, and the sitting's state
    # scheduled → login allowed → start allowed → (in progress, from the start time) → ended → uploaded.
    console_entered_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    staff: Mapped[dict] = mapped_column(JSON, default=dict)  # {"admin": {name, phone}, "proctors": [{name, phone}]}
    login_allowed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    start_allowed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    ended_by: Mapped[str] = mapped_column(String(255), default="")
    backed_up_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    uploaded_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # the room's results collected at the site from its exported file (bridge.services.venue.collection, V10);
    # uploaded online, the upload itself is the collection
    collected_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    collected_hash: Mapped[Optional[str]] = mapped_column(String(64))
    collected_data: Mapped[Optional[dict]] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("session_id", "room_id"),)


class SealingCheck(Base):
    """One sealing check (封场检测) of a session, for one room or (``room_id`` null) the
    whole site: each condition with its state, kept as it was found."""

    __tablename__ = "sealing_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    room_id: Mapped[Optional[int]] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    items: Mapped[list] = mapped_column(JSON, default=list)
    checked_by: Mapped[str] = mapped_column(String(255), default="")
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
    seats: Mapped[int] = mapped_column(Integer, default=0)


class Violation(Base):
    """A violation registered against a candidate (P3): a code of the catalogue and what
    happened; cancelled with a reason (kept, not deleted)."""

    __tablename__ = "violations"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64))
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    code_text: Mapped[str] = mapped_column(String(300), default="")  # the catalogue's text when registered
    description: Mapped[str] = mapped_column(String(500), default="")
    registered_by: Mapped[str] = mapped_column(String(255), default="")
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
    cancelled_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    cancelled_by: Mapped[str] = mapped_column(String(255), default="")
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")


class ViolationCode(Base):
    """The violation catalogue (P3), editable; ships with the national rules' list as default
    (``bridge.services.proctoring.console.DEFAULT_VIOLATIONS``)."""

    __tablename__ = "violation_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    text: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
