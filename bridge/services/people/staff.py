"""Staff accounts and what each may touch: an admin creates a local account (password, no
default) with a role bound to a place (``bridge.models.staff``), adds or removes grants, and
may bind a proctor to the room's registered proctor station."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import Invalid, NotFound
from bridge.i18n import N_
from bridge.models.devices import Room
from bridge.models.sittings import Sitting
from bridge.models.staff import STAFF_ROLES, StaffGrant
from bridge.models.users import User
from bridge.models.venues import Site
from bridge.services import audit
from bridge.services.people import access, accounts

ROLE_LABELS = {"admin": N_("administrator"), "site_admin": N_("site admin"), "proctor": N_("proctor"),
               "authority": N_("authority")}


@dataclass(frozen=True)
class GrantInfo:
    id: int
    role: str
    site: str  # the site's code, or "" for every site
    room: str  # the room's code, or ""
    sitting_id: Optional[int]
    valid_on: Optional[dt.date]
    station_only: bool


@dataclass(frozen=True)
class StaffInfo:
    id: int
    username: str
    name: str
    admin: bool
    grants: list[GrantInfo]


def _site_by_code(session: Session, code: str) -> Site:
    site = session.scalar(select(Site).where(Site.code == (code or "").strip()))
    if site is None:
        raise NotFound(N_("There is no site with the code %(code)s."), params={"code": code})
    return site


def _room_by_code(session: Session, code: str) -> Room:
    room = session.scalar(select(Room).where(Room.code == (code or "").strip()))
    if room is None:
        raise NotFound(N_("There is no room with the code %(code)s."), params={"code": code})
    return room


def add_grant(session: Session, user_id: int, *, role: str, site: str = "", room: str = "",
              sitting_id: Optional[int] = None, valid_on: Optional[dt.date] = None, station_only: bool = False,
              actor: str) -> StaffGrant:
    """Give ``user_id`` a role over a place. Sites and rooms are named by their codes.

    site_admin: a site (required). proctor: a room (optionally for one day, optionally from
    its registered station only) or a sitting. authority: a site, or none for every site."""
    access.check_admin(actor)
    user = session.get(User, user_id)
    if user is None or not user.password_hash:
        raise NotFound(N_("There is no local account with this id."))
    if role not in STAFF_ROLES:
        raise Invalid(N_("A role is site admin, proctor or authority."))
    grant = StaffGrant(user_id=user.id, role=role, station_only=False, created_by=str(actor)[:255])
    if role == "site_admin":
        if not site:
            raise Invalid(N_("A site admin needs the site they run."))
        grant.site_id = _site_by_code(session, site).id
    elif role == "authority":
        grant.site_id = _site_by_code(session, site).id if site else None
    else:
        if sitting_id is not None:
            sitting = session.get(Sitting, sitting_id) if type(sitting_id) is int else None
            if sitting is None:
                raise NotFound(N_("That sitting does not exist."))
            grant.sitting_id, grant.room_id, grant.site_id = sitting.id, sitting.room_id, sitting.site_id
        elif room:
            found = _room_by_code(session, room)
            grant.room_id, grant.site_id = found.id, found.site_id
        else:
            raise Invalid(N_("A proctor needs a room or a sitting."))
        grant.valid_on = valid_on
        grant.station_only = bool(station_only)
    session.add(grant)
    session.flush()
    audit.record(session, "account.grant", actor=actor, target=f"user:{user.id}",
                 detail={"grant": grant.id, "role": role, "site": grant.site_id, "room": grant.room_id,
                         "sitting": grant.sitting_id, "day": valid_on.isoformat() if valid_on else None,
                         "station_only": grant.station_only})
    return grant


def create_staff(session: Session, *, username: str, password: str, name: str = "", role: str,
                 site: str = "", room: str = "", sitting_id: Optional[int] = None,
                 valid_on: Optional[dt.date] = None, station_only: bool = False, actor: str) -> User:
    """A local account with its first grant (``role`` "admin": a global administrator)."""
    access.check_admin(actor)
    if role != "admin" and role not in STAFF_ROLES:
        raise Invalid(N_("A role is administrator, site admin, proctor or authority."))
    user = accounts.create_admin(session, username=username, password=password, name=name, actor=actor,
                                 admin=role == "admin")
    if role != "admin":
        add_grant(session, user.id, role=role, site=site, room=room, sitting_id=sitting_id, valid_on=valid_on,
                  station_only=station_only, actor=actor)
    return user


def remove_grant(session: Session, grant_id: int, *, actor: str) -> None:
    access.check_admin(actor)
    grant = session.get(StaffGrant, grant_id) if type(grant_id) is int else None
    if grant is None:
        raise NotFound(N_("That grant does not exist."))
    detail = {"grant": grant.id, "role": grant.role, "site": grant.site_id, "room": grant.room_id,
              "sitting": grant.sitting_id}
    session.delete(grant)
    session.flush()
    audit.record(session, "account.revoke", actor=actor, target=f"user:{grant.user_id}", detail=detail)


def list_staff(session: Session) -> list[StaffInfo]:
    """Every local account with its grants, by user name."""
    sites = dict(session.execute(select(Site.id, Site.code)).all())
    rooms = dict(session.execute(select(Room.id, Room.code)).all())
    by_user: dict[int, list[GrantInfo]] = {}
    for g in session.scalars(select(StaffGrant).order_by(StaffGrant.id)):
        by_user.setdefault(g.user_id, []).append(GrantInfo(
            g.id, g.role, sites.get(g.site_id, "") if g.site_id else "", rooms.get(g.room_id, "") if g.room_id else "",
            g.sitting_id, g.valid_on, bool(g.station_only)))
    users = session.scalars(select(User).where(User.username.is_not(None)).order_by(User.username))
    return [StaffInfo(u.id, u.username, u.display_name, u.is_admin, by_user.get(u.id, [])) for u in users]
