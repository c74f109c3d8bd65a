"""Authorization requests (P15; DESIGN "Authorization codes"): a guarded act the console
wants to do (delay start, late resume, extra time beyond the free limit, re-exam), waiting
for the authority's code or an online approval. The row keeps everything the code is bound
to, so the authority computes the code from the row (``exambridge authcode``) and reads the
details back on the phone."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bridge import clock
from bridge.db import Base

ACTIONS = ("delay_start", "late_resume", "extra_time", "re_exam")
REQUEST_STATES = ("open", "used", "locked", "cancelled")


class AuthRequest(Base):
    __tablename__ = "auth_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    subject: Mapped[int] = mapped_column(Integer)  # the exam (科目)
    candidates: Mapped[list] = mapped_column(JSON, default=list)  # admission numbers, sorted
    candidates_hash: Mapped[str] = mapped_column(String(64))
    parameter: Mapped[int] = mapped_column(Integer, default=0)  # e.g. the extra seconds asked for
    request_code: Mapped[str] = mapped_column(String(12), unique=True)
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | used | locked | cancelled
    tries: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str] = mapped_column(String(255), default="")
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
    approved_by: Mapped[str] = mapped_column(String(255), default="")  # an online admin's approval
    used_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    used_by: Mapped[str] = mapped_column(String(255), default="")

    __table_args__ = (Index("ix_auth_requests_room_id_action_status", "room_id", "action", "status"),)
