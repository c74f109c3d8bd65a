"""Exam sites and the seat plan of their rooms (V1, V2; seeds 001 §3.2 and 002 §3).

A ``Site`` (考点) has a code that never changes except by site init (V9) and a mode, formal
or mock, shown on every page of the site. Its id is an opaque text so that a site node can
carry it to the central bridge unchanged (DESIGN "Site node"); ``rooms.site_id`` and every
venue row name it.

A ``Seat`` (机位) is one numbered place of a room's seat plan: the address and computer
name of the PC that belongs there, a note, and the kiosk bound to it once that PC's agent
has announced itself. A seat may exist before its kiosk (added by hand or imported from a
CSV file) and is bound when a kiosk from that address or computer name is scanned.
``kiosks.seat`` and ``kiosks.status`` repeat the binding for the hub's hot path (welcome,
``show_seat``); only ``bridge.services.venue.seats`` writes either.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge import clock
from bridge.db import Base, TimestampMixin

SITE_MODES = ("formal", "mock")


class Site(TimestampMixin, Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(10), default="formal")  # formal | mock
    address: Mapped[str] = mapped_column(String(300), default="", server_default="")  # on admission tickets
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)


class Seat(TimestampMixin, Base):
    __tablename__ = "seats"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(64), default="")
    hostname: Mapped[str] = mapped_column(String(255), default="")
    note: Mapped[str] = mapped_column(String(200), default="")
    kiosk_id: Mapped[Optional[int]] = mapped_column(ForeignKey("kiosks.id", ondelete="SET NULL"), unique=True)

    __table_args__ = (UniqueConstraint("room_id", "number"),)


class StationRegistration(TimestampMixin, Base):
    """A room's registration code for one window and, once used, the proctor station bound
    with it (V5; seed 002 §3.2). The code is kept as a hash and, so the site admin can hand
    it to the room, sealed with the bridge's secret. A station holds a token (its cookie);
    only the token's hash is stored. At most one unrevoked, registered row per room: a
    station that must be replaced is revoked first (or restored from the site file)."""

    __tablename__ = "station_registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[Optional[str]] = mapped_column(String(64))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    code_sealed: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime)
    registered_address: Mapped[Optional[str]] = mapped_column(String(64))
    registered_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    station_token_hash: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    station_seen_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    restored_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    revoked_by: Mapped[str] = mapped_column(String(255), default="")
