"""Who may touch which site, room and sitting (least privilege).

Every service already takes the acting person's audit name (``actor="user:5"``). For a person
signed in over HTTP or the console socket that name is an :class:`Actor`: still the same
string, so audit lines and every existing signature stay as they are, but it also carries the
person's grants (``bridge.models.staff``). The services that read or change a site, a room or
a sitting call the checks below with it, so a view that forgets a check still cannot reach
another site's data. A plain string is an internal caller (the CLI, the sweeper, the kiosk
hub, a test) and passes: those act for the institution, not for a person with a scope.

Scopes:

- the global admin: everything;
- a site admin: every room, sitting, session placement and file of their sites;
- a proctor: the sittings of their room (on their day, when the grant names one; from the
  room's registered station, when the grant asks for it), or one sitting;
- an authority: the authorization requests of their sites (every site when unbound), never
  one they asked for themselves.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock, timezones
from bridge.errors import Forbidden
from bridge.i18n import N_
from bridge.models.devices import Room
from bridge.models.papers import ExamSession
from bridge.models.sittings import Sitting
from bridge.models.staff import StaffGrant
from bridge.models.users import User


@dataclass(frozen=True)
class Grant:
    role: str
    site_id: Optional[str] = None
    room_id: Optional[int] = None
    sitting_id: Optional[int] = None
    valid_on: Optional[dt.date] = None
    station_only: bool = False


class Actor(str):
    """A signed-in person's audit name (``user:<id>``) with what they may touch."""

    user_id: int
    admin: bool
    grants: tuple[Grant, ...]
    station_room: Optional[int]

    def __new__(cls, user_id: int, *, admin: bool = False, grants: Iterable[Grant] = (),
                station_room: Optional[int] = None) -> "Actor":
        self = super().__new__(cls, f"user:{user_id}")
        self.user_id = user_id
        self.admin = bool(admin)
        self.grants = tuple(grants)
        self.station_room = station_room
        return self

    def roles(self) -> set[str]:
        return ({"admin"} if self.admin else set()) | {g.role for g in self.grants}

    def of(self, role: str) -> tuple[Grant, ...]:
        return tuple(g for g in self.grants if g.role == role)

    @property
    def is_staff(self) -> bool:
        return self.admin or bool(self.grants)


def actor_for(session: Session, user: User, *, station_room: Optional[int] = None) -> Actor:
    """The Actor of ``user`` as stored now; ``station_room``: the room whose registered
    proctor station this browser is (None when it is not one)."""
    rows = session.scalars(select(StaffGrant).where(StaffGrant.user_id == user.id)).all()
    return Actor(user.id, admin=user.is_admin, station_room=station_room,
                 grants=[Grant(r.role, r.site_id, r.room_id, r.sitting_id, r.valid_on, bool(r.station_only))
                         for r in rows])


def _scoped(actor) -> bool:
    """Whether ``actor`` is a person whose scope is checked (not an internal caller or admin)."""
    return isinstance(actor, Actor) and not actor.admin


def _today() -> dt.date:
    return timezones.to_local(clock.utcnow_naive()).date()


_REFUSALS = {"site": N_("Your account does not cover this exam site."),
             "room": N_("Your account does not cover this room."),
             "session": N_("Your account does not cover this session at this site.")}


def _refuse(what: str):
    raise Forbidden(_REFUSALS[what])


# --- sites --------------------------------------------------------------------------------
def site_ids(actor) -> Optional[set[str]]:
    """The sites ``actor`` runs as a site admin; None for every site (admin, internal)."""
    if not _scoped(actor):
        return None
    return {g.site_id for g in actor.of("site_admin") if g.site_id}


def runs_site(actor, site_id: Optional[str]) -> bool:
    sites = site_ids(actor)
    return sites is None or (site_id is not None and site_id in sites)


def check_site(actor, site_id: Optional[str]) -> None:
    if not runs_site(actor, site_id):
        _refuse("site")


def check_admin(actor) -> None:
    """Acts no site admin may do (create a site, change the violation catalogue)."""
    if _scoped(actor):
        raise Forbidden(N_("Only an administrator may do this."))


# --- rooms and sittings ---------------------------------------------------------------------
def _proctor_room_grant(actor: Actor, room_id: int) -> bool:
    today = None
    for g in actor.of("proctor"):
        if g.room_id != room_id:
            continue
        if g.station_only and actor.station_room != room_id:
            continue
        if g.valid_on is not None:
            today = today or _today()
            if g.valid_on != today:
                continue
        return True
    return False


def may_sitting(session: Session, actor, sitting: Sitting) -> bool:
    if not _scoped(actor):
        return True
    if runs_site(actor, sitting.site_id) and sitting.site_id is not None:
        return True
    if any(g.sitting_id == sitting.id and (not g.station_only or actor.station_room == sitting.room_id)
           for g in actor.of("proctor")):
        return True
    return _proctor_room_grant(actor, sitting.room_id)


def check_sitting(session: Session, actor, sitting: Sitting) -> None:
    if not may_sitting(session, actor, sitting):
        _refuse("room")


def may_room(session: Session, actor, room_id: int) -> bool:
    if not _scoped(actor):
        return True
    room = session.get(Room, room_id)
    if room is None:
        return False
    if room.site_id is not None and runs_site(actor, room.site_id):
        return True
    if _proctor_room_grant(actor, room_id):
        return True
    granted = [g.sitting_id for g in actor.of("proctor") if g.sitting_id]
    if not granted:
        return False
    return any(s.room_id == room_id and may_sitting(session, actor, s)
               for s in session.scalars(select(Sitting).where(Sitting.id.in_(granted))))


def check_room(session: Session, actor, room_id: int) -> None:
    if not may_room(session, actor, room_id):
        _refuse("room")


def visible_sittings(session: Session, actor, sittings: Iterable[Sitting]) -> list[Sitting]:
    return [s for s in sittings if may_sitting(session, actor, s)]


def check_exam_session_at_site(session: Session, actor, site_id: str, exam_session_id: int) -> None:
    """A site admin's act on a session (authorize, seal, monitor): the session must have a
    sitting at that site, and the site must be theirs."""
    check_site(actor, site_id)
    if session.get(ExamSession, exam_session_id) is None:
        return  # the service says "no such session"
    if _scoped(actor) and session.scalar(select(Sitting.id).where(
            Sitting.session_id == exam_session_id, Sitting.site_id == site_id).limit(1)) is None:
        _refuse("session")


# --- authority ---------------------------------------------------------------------------
def authority_sites(actor) -> Optional[set[Optional[str]]]:
    """The sites whose authorization requests ``actor`` may answer; None for every site."""
    if not _scoped(actor):
        return None
    grants = actor.of("authority")
    if any(g.site_id is None for g in grants):
        return None
    return {g.site_id for g in grants}


def is_authority(actor) -> bool:
    return not _scoped(actor) or bool(actor.of("authority"))


def check_authority(actor, site_id: Optional[str]) -> None:
    sites = authority_sites(actor)
    if not is_authority(actor) or (sites is not None and site_id not in sites):
        raise Forbidden(N_("Only the authority for this site may issue its codes."))


def check_site_of_room(session: Session, actor, room_id: int) -> None:
    """A site admin's act on a room: the room's site must be theirs."""
    if not _scoped(actor):
        return
    room = session.get(Room, room_id) if type(room_id) is int else None
    check_site(actor, room.site_id if room is not None else None)
