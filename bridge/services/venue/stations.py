"""Room registration: a room's proctor station binds to its room (V5; seed 002 §3.2).

The site admin hands each room its room code and registration code (the site information
page, or the signed site file). The station registers with both; the site then sees the
address it registered from and when, and can revoke it. After a reinstall, the station
restores its registration from the signed site file exported after registration (it
carries each room's registration), without a new code. A registered station holds a
token (its cookie); only the token's hash is stored.

Codes are generated per room and window (``issue_code``: from now until the end of the
room's last sitting, or a week); wrong codes are counted per address and room
(``bridge.services.people.throttle``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Forbidden, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.devices import Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession
from bridge.models.sittings import Sitting
from bridge.models.venues import Site, StationRegistration
from bridge.services import audit, signing
from bridge.services.people import access, throttle
from bridge.services.venue.venues import room_of

PURPOSE = "station registration"
SITE_FILE = "site-info"
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LENGTH = 8
DEFAULT_WINDOW = dt.timedelta(days=7)
MAX_FAILURES = 10
FAILURE_WINDOW = dt.timedelta(minutes=10)
#: a station is connected while it was seen within this
CONNECTED_WITHIN = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class Registration:
    id: int
    room_id: int
    room_code: str
    code: Optional[str]
    valid_from: dt.datetime
    valid_until: dt.datetime
    address: Optional[str]
    registered_at: Optional[dt.datetime]
    restored_at: Optional[dt.datetime]
    seen_at: Optional[dt.datetime]

    @property
    def registered(self) -> bool:
        return self.registered_at is not None

    @property
    def connected(self) -> bool:
        return self.seen_at is not None and clock.utcnow_naive() - self.seen_at <= CONNECTED_WITHIN


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _current(session: Session, room_id: int) -> Optional[StationRegistration]:
    return session.scalar(select(StationRegistration).where(
        StationRegistration.room_id == room_id, StationRegistration.revoked_at.is_(None))
        .order_by(StationRegistration.id.desc()).limit(1))


def _info(session: Session, row: StationRegistration, secret_key: str) -> Registration:
    room = session.get(Room, row.room_id)
    return Registration(row.id, room.id, room.code, signing.unseal(secret_key, PURPOSE, room.code, row.code_sealed),
                        row.valid_from, row.valid_until, row.registered_address, row.registered_at, row.restored_at,
                        row.station_seen_at)


def current(session: Session, room_id: int, *, secret_key: str) -> Optional[Registration]:
    row = _current(session, room_id)
    return _info(session, row, secret_key) if row else None


def _room_window_end(session: Session, room_id: int, now: dt.datetime) -> dt.datetime:
    latest = None
    for starts_at, minutes in session.execute(
            select(ExamSession.starts_at, Exam.duration_minutes).join(Sitting, Sitting.session_id == ExamSession.id)
            .join(Exam, Exam.id == ExamSession.exam_id).where(Sitting.room_id == room_id)):
        end = starts_at + dt.timedelta(minutes=minutes)
        latest = end if latest is None or end > latest else latest
    return latest if latest is not None and latest > now else now + DEFAULT_WINDOW


def issue_code(session: Session, room_id: int, *, secret_key: str, actor: str = "") -> str:
    """A new registration code for the room, valid until its last sitting ends. Refused
    while a station is registered (revoke it first); an unused older code is withdrawn."""
    access.check_site_of_room(session, actor, room_id)
    room = room_of(session, room_id)
    now = clock.utcnow_naive()
    old = _current(session, room.id)
    if old is not None and old.registered_at is not None:
        raise InvalidState(N_("A station is registered to this room; revoke it before making a new code."))
    if old is not None:
        old.revoked_at, old.revoked_by = now, "superseded"
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    session.add(StationRegistration(site_id=room.site_id, room_id=room.id,
                                    code_hash=signing.code_hash(secret_key, PURPOSE, room.code, code),
                                    code_sealed=signing.seal(secret_key, PURPOSE, room.code, code),
                                    valid_from=now, valid_until=_room_window_end(session, room.id, now)))
    session.flush()
    audit.record(session, "station.code", actor=actor, target=f"room:{room.id}")
    return code


def _bind(session: Session, row: StationRegistration, address: str, action: str, *,
          secret_key: str) -> tuple[Registration, str]:
    """Give the station at ``address`` a new token for ``row`` (any older token stops
    working); audited as ``station.<action>``."""
    token = secrets.token_urlsafe(32)
    row.station_token_hash, row.registered_address = _token_hash(token), address[:64]
    row.station_seen_at = clock.utcnow_naive()
    session.flush()
    audit.record(session, f"station.{action}", actor=f"station:{address}", target=f"room:{row.room_id}",
                 remote_addr=address)
    return _info(session, row, secret_key), token


def register(session: Session, *, room_code: str, code: str, address: str, secret_key: str) -> tuple[Registration, str]:
    """Bind a station to its room; returns the registration and the station's token."""
    room_code, code = (room_code or "").strip(), (code or "").strip()
    key = f"station:{address}:{room_code}"
    if throttle.blocked(session, key, limit=MAX_FAILURES, window=FAILURE_WINDOW):
        raise Forbidden(N_("Too many wrong registration codes from this address; wait ten minutes."))
    room = session.scalar(select(Room).where(Room.code == room_code)) if room_code else None
    row = _current(session, room.id) if room else None
    if row is None or not hmac.compare_digest(row.code_hash, signing.code_hash(secret_key, PURPOSE, room.code, code)):
        throttle.fail(session, key, window=FAILURE_WINDOW)
        raise Forbidden(N_("Wrong room code or registration code. Check both on the site information sheet."))
    now = clock.utcnow_naive()
    if not row.valid_from <= now <= row.valid_until:
        raise InvalidState(N_("This registration code is no longer valid; ask the site for a new one."))
    if row.registered_at is not None:
        raise Conflict(N_("This room is registered already (from %(address)s); the site must revoke that first."),
                       params={"address": row.registered_address or "?"})
    row.registered_at = now
    return _bind(session, row, address, "register", secret_key=secret_key)


def revoke(session: Session, room_id: int, *, actor: str = "", secret_key: str) -> None:
    access.check_site_of_room(session, actor, room_id)
    room = room_of(session, room_id)
    row = _current(session, room.id)
    if row is None or row.registered_at is None:
        raise InvalidState(N_("No station is registered to this room."))
    row.revoked_at, row.revoked_by = clock.utcnow_naive(), actor[:255]
    session.flush()
    audit.record(session, "station.revoke", actor=actor, target=f"room:{room.id}",
                 detail={"address": row.registered_address})
    issue_code(session, room.id, secret_key=secret_key, actor=actor)  # the room can register again


def station(session: Session, token: str | None, *, touch: bool = True) -> Optional[Registration]:
    """The registration a station's token holds (None: unknown or revoked)."""
    if not token:
        return None
    row = session.scalar(select(StationRegistration).where(StationRegistration.station_token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    if touch:
        row.station_seen_at = clock.utcnow_naive()
        session.flush()
    return Registration(row.id, row.room_id, session.get(Room, row.room_id).code, None, row.valid_from,
                        row.valid_until, row.registered_address, row.registered_at, row.restored_at,
                        row.station_seen_at)


def site_registrations(session: Session, site_id: str, *, secret_key: str,
                       actor: str = "") -> list[tuple[Room, Optional[Registration]]]:
    access.check_site(actor, site_id)
    rooms = session.scalars(select(Room).where(Room.site_id == site_id).order_by(Room.code))
    return [(room, current(session, room.id, secret_key=secret_key)) for room in rooms]


def counts(session: Session, site_id: str, *, actor: str = "") -> dict[str, int]:
    access.check_site(actor, site_id)
    rooms = session.scalar(select(func.count()).select_from(Room).where(Room.site_id == site_id)) or 0
    registered = session.scalar(select(func.count()).select_from(StationRegistration).where(
        StationRegistration.site_id == site_id, StationRegistration.revoked_at.is_(None),
        StationRegistration.registered_at.is_not(None))) or 0
    return {"rooms": rooms, "registered": registered, "unregistered": rooms - registered}


def export_site_file(session: Session, site_id: str, *, secret_key: str, actor: str = "") -> bytes:
    """The signed site file (KDINFO): the site, its rooms and each room's current
    registration; a reinstalled station restores from it."""
    access.check_site(actor, site_id)
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(N_("That site does not exist."))
    rooms = []
    for room, reg in site_registrations(session, site.id, secret_key=secret_key):
        rooms.append({"id": room.id, "code": room.code, "name": room.name,
                      "registration": None if reg is None else {
                          "id": reg.id, "address": reg.address,
                          "registered_at": reg.registered_at.isoformat() if reg.registered_at else None}})
    payload = {"site": {"id": site.id, "code": site.code, "name": site.name, "mode": site.mode}, "rooms": rooms,
               "exported_at": clock.utcnow_naive().replace(microsecond=0).isoformat()}
    audit.record(session, "site.export_info", actor=actor, target=f"site:{site.id}")
    return signing.dumps(signing.sign(secret_key, site.id, SITE_FILE, payload))


def restore(session: Session, raw: bytes, *, room_code: str, address: str, secret_key: str) -> tuple[Registration, str]:
    """A reinstalled station takes back its room's registration from the site file."""
    document = signing.loads(raw)
    site_id = document.get("site_id") if isinstance(document, dict) else None
    if not isinstance(site_id, str):
        raise Invalid(N_("This is not an ExamBridge file (it is not JSON). Choose the file the bridge exported."))
    payload = signing.read(secret_key, document, SITE_FILE, site_id=site_id)["payload"]
    rooms = payload.get("rooms") if isinstance(payload.get("rooms"), list) else []
    entry = next((r for r in rooms if isinstance(r, dict) and r.get("code") == (room_code or "").strip()), None)
    if entry is None:
        raise NotFound(N_("The site file has no room with this code."))
    listed = (entry.get("registration") or {}).get("id") if isinstance(entry.get("registration"), dict) else None
    row = session.get(StationRegistration, listed) if type(listed) is int else None
    room = session.get(Room, row.room_id) if row is not None else None
    # the row must still be this site's registration of this room (ids are not stable across a
    # site init or a restore)
    if row is None or row.registered_at is None or row.site_id != site_id or room is None \
            or room.id != entry.get("id") or room.code != entry.get("code"):
        raise InvalidState(N_("The site file was exported before this room registered: register with the code."))
    if row.revoked_at is not None:
        raise InvalidState(N_("This room's registration was revoked since the file was exported; register again."))
    if row.station_seen_at is not None and clock.utcnow_naive() - row.station_seen_at <= CONNECTED_WITHIN:
        raise Conflict(N_("The room's registered station is still connected; the site must revoke it before "
                          "another station takes the room."))
    row.restored_at = clock.utcnow_naive()
    return _bind(session, row, address, "restore", secret_key=secret_key)


def info_sheet(session: Session, site_id: str, *, secret_key: str, actor: str = "") -> dict[str, Any]:
    access.check_site(actor, site_id)
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(N_("That site does not exist."))
    return {"site": site, "rooms": site_registrations(session, site.id, secret_key=secret_key),
            "exported_at": clock.utcnow_naive()}
