"""Exam sites and their rooms (V1; seed 002 §3, seed 001 §3.1).

A site's code is fixed once made (only site init, V9, clears it); its name and mode may
change, each change audited. The mode (formal 正式考试 / mock 模拟考试) decides which
guards hold later (re-exam codes, early collection, init), so pages show it everywhere.
Rooms are made here for a site (``add_room``: code, name, capacity) on top of
``devices.create_room``, which also gives the room its kiosk enrolment code.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.devices import Kiosk, Room
from bridge.models.venues import SITE_MODES, Seat, Site
from bridge.services import audit
from bridge.services.kiosks import devices
from bridge.services.people import access

SITE_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_CAPACITY = 9999


@dataclass(frozen=True)
class SiteInfo:
    id: str
    code: str
    name: str
    mode: str
    rooms: int = 0
    address: str = ""


@dataclass(frozen=True)
class RoomSummary:
    id: int
    code: str
    name: str
    capacity: int
    seats: int
    kiosks: int
    unassigned: int


def _mode(mode: str) -> str:
    if mode not in SITE_MODES:
        raise Invalid(N_("A site's mode is formal or mock."))
    return mode


def _name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        raise Invalid(N_("Give a name of 1 to 200 characters."))
    return name


def create_site(session: Session, *, code: str, name: str, mode: str = "formal", actor: str = "") -> SiteInfo:
    access.check_admin(actor)
    code = (code or "").strip()
    if not SITE_CODE_RE.match(code):
        raise Invalid(N_("A site code is 1 to 32 letters, digits, '-' or '_'."))
    if session.scalar(select(Site.id).where(Site.code == code)) is not None:
        raise Conflict(N_("A site with this code exists already."))
    site = Site(id=uuid.uuid4().hex, code=code, name=_name(name), mode=_mode(mode), updated_at=clock.utcnow_naive())
    session.add(site)
    session.flush()
    audit.record(session, "site.create", actor=actor, target=f"site:{site.id}",
                 detail={"code": code, "name": site.name, "mode": site.mode})
    return _site_info(session, site)


def update_site(session: Session, site_id: str, *, name: str, mode: str, address: str | None = None,
                actor: str = "") -> SiteInfo:
    """Change the name, mode and address (``None``: kept); the code stays (site init is the
    only way to clear it)."""
    from bridge.services.venue.site_backup import init_blockers

    site = _site(session, site_id, actor)
    before = {"name": site.name, "mode": site.mode, "address": site.address}
    mode = _mode(mode)
    if mode != site.mode and init_blockers(session, site.id):
        raise InvalidState(N_("A formal exam is running at this site without its results uploaded: its mode "
                              "cannot change now."))
    site.name, site.mode, site.updated_at = _name(name), mode, clock.utcnow_naive()
    if address is not None:
        site.address = " ".join(address.split())[:300]
    session.flush()
    after = {"name": site.name, "mode": site.mode, "address": site.address}
    if after != before:
        audit.record(session, "site.update", actor=actor, target=f"site:{site.id}",
                     detail={"before": before, "after": after})
    return _site_info(session, site)


def list_sites(session: Session, *, actor: str = "") -> list[SiteInfo]:
    """The sites ``actor`` runs (every site for the admin)."""
    mine = access.site_ids(actor)
    counts = dict(session.execute(select(Room.site_id, func.count()).where(Room.site_id.is_not(None))
                                  .group_by(Room.site_id)).all())
    return [SiteInfo(s.id, s.code, s.name, s.mode, counts.get(s.id, 0))
            for s in session.scalars(select(Site).order_by(Site.code)) if mine is None or s.id in mine]


def get_site(session: Session, site_id: str, *, actor: str = "") -> SiteInfo:
    return _site_info(session, _site(session, site_id, actor))


def _site(session: Session, site_id: str, actor: str = "") -> Site:
    site = session.get(Site, site_id) if isinstance(site_id, str) else None
    if site is None:
        raise NotFound(N_("That site does not exist."))
    access.check_site(actor, site.id)
    return site


def _site_info(session: Session, site: Site) -> SiteInfo:
    rooms = session.scalar(select(func.count()).select_from(Room).where(Room.site_id == site.id)) or 0
    return SiteInfo(site.id, site.code, site.name, site.mode, rooms, site.address)


# --- rooms --------------------------------------------------------------------------------
def _capacity(capacity: Optional[int]) -> int:
    if capacity is None:
        return 0
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 0 <= capacity <= MAX_CAPACITY:
        raise Invalid(N_("A room's capacity is a whole number from 0 to 9999."))
    return capacity


def add_room(session: Session, site_id: str, *, code: str, name: str, capacity: Optional[int],
             secret_key: str, actor: str = "") -> tuple[RoomSummary, str]:
    """A room of the site, and its kiosk enrolment code (shown once; ``devices.enrolment_code``
    reads it out again)."""
    site = _site(session, site_id, actor)
    capacity = _capacity(capacity)
    info, enrolment = devices.create_room(session, code=code, name=_name(name), secret_key=secret_key,
                                          site_id=site.id, actor=actor)
    room = session.get(Room, info.id)
    room.capacity = capacity
    session.flush()
    return room_summary(session, room.id), enrolment


def update_room(session: Session, room_id: int, *, name: str, capacity: Optional[int], actor: str = "") -> RoomSummary:
    room = room_of(session, room_id, actor=actor)
    before = {"name": room.name, "capacity": room.capacity}
    room.name, room.capacity = _name(name), _capacity(capacity)
    session.flush()
    after = {"name": room.name, "capacity": room.capacity}
    if after != before:
        audit.record(session, "room.update", actor=actor, target=f"room:{room.id}", detail={"before": before,
                                                                                             "after": after})
    return room_summary(session, room.id)


def room_of(session: Session, room_id: int, site_id: str | None = None, *, actor: str = "") -> Room:
    """The room (of ``site_id`` when given), once ``actor`` is seen to run its site."""
    room = session.get(Room, room_id) if isinstance(room_id, int) else None
    if room is None or (site_id is not None and room.site_id != site_id):
        raise NotFound(N_("That room does not exist."))
    access.check_site(actor, room.site_id)
    return room


def room_summary(session: Session, room_id: int, *, actor: str = "") -> RoomSummary:
    room = room_of(session, room_id, actor=actor)
    seats = session.scalar(select(func.count()).select_from(Seat).where(Seat.room_id == room.id)) or 0
    kiosks = session.scalar(select(func.count()).select_from(Kiosk)
                            .where(Kiosk.room_id == room.id, Kiosk.status != "retired")) or 0
    seated = session.scalar(select(func.count()).select_from(Seat)
                            .where(Seat.room_id == room.id, Seat.kiosk_id.is_not(None))) or 0
    return RoomSummary(room.id, room.code, room.name, room.capacity, seats, kiosks, kiosks - seated)


def site_rooms(session: Session, site_id: str, *, actor: str = "") -> list[RoomSummary]:
    _site(session, site_id, actor)
    ids = session.scalars(select(Room.id).where(Room.site_id == site_id).order_by(Room.code))
    return [room_summary(session, room_id) for room_id in ids]
