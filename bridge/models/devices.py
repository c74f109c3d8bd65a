"""Rooms and the kiosks (exam PCs) enrolled to them, their commands and reports (K1, K2, K6, K7).

A room's kiosk enrolment code is stored as a hash (``kiosk_enrolment_hash``) plus, so a
proctor can read it out to the person installing the agents, the code itself sealed with
the bridge's secret (``kiosk_enrolment_sealed``, see ``bridge.services.kiosks.devices``). ``site_id``
is kept on every venue record for the later site node (DESIGN "Site node").
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge import clock
from bridge.db import Base, TimestampMixin

KIOSK_STATUSES = ("pending", "seated", "retired")
COMMAND_STATUSES = ("queued", "sent", "done", "refused", "failed")


class Room(TimestampMixin, Base):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int] = mapped_column(Integer, default=0)  # candidates per session (考场人数); 0: not set
    kiosk_enrolment_hash: Mapped[str] = mapped_column(String(64))
    kiosk_enrolment_sealed: Mapped[str] = mapped_column(String(200))
    kiosk_enrolment_rotated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)


class Kiosk(TimestampMixin, Base):
    """One exam PC, known by its Ed25519 public key. ``pending`` until a proctor seats it."""

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    machine: Mapped[str] = mapped_column(String(64), default="")
    hostname: Mapped[str] = mapped_column(String(255), default="")
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    platform: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | seated | retired
    seat: Mapped[Optional[int]] = mapped_column(Integer)
    last_address: Mapped[str] = mapped_column(String(64), default="")
    last_seen_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    # What the agent last said in a heartbeat, persisted only when it changes.
    agent_status: Mapped[str] = mapped_column(String(20), default="")
    candidate: Mapped[Optional[str]] = mapped_column(String(100))
    attempt_id: Mapped[Optional[int]] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"))
    env_check: Mapped[Optional[dict]] = mapped_column(JSON)
    env_checked_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


class KioskCommand(Base):
    """A console command for one kiosk (K6). The row is the command; the bus only says
    "kiosk N has commands"."""

    __tablename__ = "kiosk_commands"

    id: Mapped[int] = mapped_column(primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("kiosks.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(30))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued | sent | done | refused | failed
    issued_by: Mapped[str] = mapped_column(String(255), default="")
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
    sent_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    result: Mapped[Optional[dict]] = mapped_column(JSON)

    __table_args__ = (Index("ix_kiosk_commands_kiosk_id_status", "kiosk_id", "status"),)


class KioskReport(Base):
    """Something a kiosk reported (focus lost, forbidden process, environment check...)."""

    __tablename__ = "kiosk_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("kiosks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)


class KioskAttempt(Base):
    """Which kiosk carries an attempt in one epoch: bound by the first kiosk that forwards
    events for (attempt, epoch) with a valid forward token (``devices.bind_forward``). A second
    kiosk forwarding for the same attempt and epoch is refused (``wrong_kiosk``); a resume
    raises the epoch, so the new seat gets a binding of its own. Pack import accepts a pack
    from a registered kiosk only when it carried the attempt (``devices.carried``)."""

    __tablename__ = "kiosk_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("kiosks.id", ondelete="CASCADE"), index=True)
    bound_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)

    __table_args__ = (UniqueConstraint("attempt_id", "epoch"),)
