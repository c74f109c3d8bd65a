"""Environment check runs of a room's seats (V3; seed 001 §3.3).

A run is one "start" (all seats) or "re-test failed" (the seats that failed before): one
``env_check`` kiosk command per seat with a kiosk, the requirement set copied in at the
start (so a later change of the exam's requirements does not rewrite an old report). A
seat's result is derived on read from its command's answer (``bridge.services.venue.envchecks``):
nothing on the hub's hot path knows about runs.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge import clock
from bridge.db import Base

RUN_SCOPES = ("all", "failed")


class EnvCheckRun(Base):
    __tablename__ = "env_check_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    exam_id: Mapped[Optional[int]] = mapped_column(ForeignKey("exams.id", ondelete="SET NULL"))
    scope: Mapped[str] = mapped_column(String(10), default="all")  # all | failed
    requirements: Mapped[dict] = mapped_column(JSON, default=dict)
    started_by: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)


class EnvCheckResult(Base):
    """One seat in one run: the kiosk asked and the command that carries its answer (none
    when the seat had no kiosk: that seat fails the run)."""

    __tablename__ = "env_check_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("env_check_runs.id", ondelete="CASCADE"), index=True)
    seat_number: Mapped[int] = mapped_column(Integer)
    kiosk_id: Mapped[Optional[int]] = mapped_column(ForeignKey("kiosks.id", ondelete="SET NULL"))
    command_id: Mapped[Optional[int]] = mapped_column(ForeignKey("kiosk_commands.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("run_id", "seat_number"),)
