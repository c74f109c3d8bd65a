"""Rooms and kiosks: enrolment, identity, seating, presence, reports (K1, K2, K7; V1 in part).

Domain rules only: functions take a ``Session`` and plain values, flush, and return plain
values (they run on the group writer, whose sessions do not outlive the job). The hub
(``bridge.hub``) calls them; so do the CLI and, later, the venue and console pages.

Enrolment codes. A room has one kiosk enrolment code that the person installing the agents
types once per PC. It is stored twice: as an HMAC under the bridge's secret (what register
checks, in constant time) and sealed with AES-GCM under a key derived from that secret, so
a proctor or admin can read it out again (``enrolment_code``) without it lying in the
database in clear. ``rotate_enrolment_code`` makes a new one; kiosks already enrolled keep
working (they prove themselves with their own key from then on).

Forward tokens. The exam page gets ``mint_forward_token(session, secret, attempt_id)`` from
the bridge and hands it to the local agent with the events; the agent forwards both and the
hub accepts the events only with a valid token (``check_forward_token``, constant time), so
a kiosk can only forward what its candidate's signed-in page gave it. A token names the
attempt's epoch and an expiry (the deadline plus ``FORWARD_GRACE``, or ``FORWARD_LIFETIME``
without a deadline), both under the HMAC. The first kiosk that forwards with a token binds
(attempt, epoch) to itself (``bind_forward``, a ``kiosk_attempts`` row); another kiosk
forwarding for that attempt and epoch is refused (``wrong_kiosk``). A resume raises the
epoch, so the new seat's page gets a token of the new epoch and the new seat a binding of
its own. The hub keeps the bindings it has seen per process (``known_binding``), so only a
kiosk's first ``events`` message for an (attempt, epoch) costs a write.
"""
from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Optional

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Forbidden, Invalid, NotFound
from bridge.i18n import N_
from bridge.models.devices import Kiosk, KioskReport, Room
from bridge.services import audit, signing

ROOM_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: Unambiguous characters (no 0/O, 1/I/L) for codes typed by hand.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
#: ``last_seen_at`` is written at most this often while nothing else changes.
LAST_SEEN_EVERY = dt.timedelta(seconds=60)
REPORT_KINDS = ("focus_lost", "forbidden_process", "lockdown_failed", "env_check", "disk_low", "journal_damaged")
MAX_DETAIL_BYTES = 64 * 1024


_kiosks = Kiosk.__table__


class BadEnrolmentCode(Forbidden):
    code = "bad_enrolment_code"


class KeyInUse(Conflict):
    code = "key_in_use"


class UnknownKiosk(NotFound):
    code = "unknown_kiosk"


@dataclass(frozen=True, slots=True)
class KioskInfo:
    id: int
    room_id: int
    room_code: str
    public_key: str
    status: str
    seat: Optional[int]
    attempt_id: Optional[int]
    agent_status: str
    candidate: Optional[str]
    last_address: str
    last_seen_at: Optional[dt.datetime]
    agent_version: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RoomInfo:
    id: int
    code: str
    name: str
    site_id: Optional[str]


# --- secrets ------------------------------------------------------------------------------
# The enrolment code is hashed and sealed like every code of the bridge (bridge.services.signing).
def _key(secret_key: str, purpose: str) -> bytes:
    return signing.derive(secret_key, purpose)


def _code_hash(secret_key: str, room_code: str, code: str) -> str:
    return signing.code_hash(secret_key, "enrolment", room_code, code)


def _seal(secret_key: str, room_code: str, code: str) -> str:
    return signing.seal(secret_key, "enrolment", room_code, code)


def _unseal(secret_key: str, room_code: str, sealed: str) -> str | None:
    return signing.unseal(secret_key, "enrolment", room_code, sealed)


def new_enrolment_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


# --- rooms --------------------------------------------------------------------------------
def create_room(session: Session, *, code: str, name: str, secret_key: str,
                site_id: str | None = None, actor: str = "") -> tuple[RoomInfo, str]:
    """A new room and its kiosk enrolment code (shown once here; ``enrolment_code`` later)."""
    code = (code or "").strip()
    if not ROOM_CODE_RE.match(code):
        raise Invalid(N_("A room code is 1 to 32 letters, digits, '-' or '_'."))
    if session.scalar(select(Room.id).where(Room.code == code)) is not None:
        raise Conflict(N_("A room with this code exists already."))
    enrolment = new_enrolment_code()
    room = Room(code=code, name=(name or "").strip()[:200], site_id=site_id,
                kiosk_enrolment_hash=_code_hash(secret_key, code, enrolment),
                kiosk_enrolment_sealed=_seal(secret_key, code, enrolment),
                kiosk_enrolment_rotated_at=clock.utcnow_naive())
    session.add(room)
    session.flush()
    audit.record(session, "room.create", actor=actor, target=f"room:{room.id}", detail={"code": code})
    return RoomInfo(room.id, room.code, room.name, room.site_id), enrolment


def list_rooms(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Room).order_by(Room.code)).scalars()
    out = []
    for room in rows:
        kiosks = session.scalars(select(Kiosk.status).where(Kiosk.room_id == room.id)).all()
        out.append({"id": room.id, "code": room.code, "name": room.name, "site_id": room.site_id,
                    "kiosks": len(kiosks), "seated": sum(1 for s in kiosks if s == "seated"),
                    "pending": sum(1 for s in kiosks if s == "pending")})
    return out


def _room(session: Session, room_id: int) -> Room:
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound(N_("That room does not exist."))
    return room


def room_by_code(session: Session, code: str) -> RoomInfo:
    room = session.scalar(select(Room).where(Room.code == code))
    if room is None:
        raise NotFound(N_("That room does not exist."))
    return RoomInfo(room.id, room.code, room.name, room.site_id)


def enrolment_code(session: Session, room_id: int, *, secret_key: str) -> str | None:
    """The room's current kiosk enrolment code, for a proctor or admin to read out; None when
    the bridge's secret changed since it was made (rotate it then)."""
    room = _room(session, room_id)
    return _unseal(secret_key, room.code, room.kiosk_enrolment_sealed)


def rotate_enrolment_code(session: Session, room_id: int, *, secret_key: str, actor: str = "") -> str:
    room = _room(session, room_id)
    enrolment = new_enrolment_code()
    room.kiosk_enrolment_hash = _code_hash(secret_key, room.code, enrolment)
    room.kiosk_enrolment_sealed = _seal(secret_key, room.code, enrolment)
    room.kiosk_enrolment_rotated_at = clock.utcnow_naive()
    session.flush()
    audit.record(session, "room.rotate_enrolment_code", actor=actor, target=f"room:{room.id}")
    return enrolment


# --- kiosks -------------------------------------------------------------------------------
def _info(kiosk: Kiosk, room_code: str) -> KioskInfo:
    return KioskInfo(kiosk.id, kiosk.room_id, room_code, kiosk.public_key, kiosk.status, kiosk.seat,
                     kiosk.attempt_id, kiosk.agent_status, kiosk.candidate, kiosk.last_address, kiosk.last_seen_at,
                     kiosk.agent_version)


def check_enrolment(connection: Any, room_code: str, code: str, secret_key: str) -> None:
    """Raise ``BadEnrolmentCode`` unless ``code`` is the room's kiosk enrolment code: a plain
    read, so a wrong code never costs the group writer a job (``register_kiosk`` checks
    again inside its transaction)."""
    rooms = Room.__table__
    row = connection.execute(select(rooms.c.code, rooms.c.kiosk_enrolment_hash)
                             .where(rooms.c.code == room_code)).first()
    if row is None or not hmac.compare_digest(row.kiosk_enrolment_hash, _code_hash(secret_key, row.code, code)):
        raise BadEnrolmentCode(N_("Wrong room code or kiosk enrolment code: ask the proctor for the room's code."))


def register_kiosk(session: Session, *, room_code: str, code: str, public_key: str, machine: str,
                   hostname: str = "", agent_version: str = "", platform: str = "", address: str = "",
                   secret_key: str) -> KioskInfo:
    """Enrol a kiosk to a room (``pending`` until seated). The caller has verified that the
    agent holds ``public_key``'s private key. The same key registering again from the same
    machine gets its existing kiosk back (an agent that lost its kiosk id); any other reuse of
    a key is ``key_in_use``."""
    room = session.scalar(select(Room).where(Room.code == room_code))
    if room is None or not hmac.compare_digest(room.kiosk_enrolment_hash, _code_hash(secret_key, room.code, code)):
        raise BadEnrolmentCode(N_("Wrong room code or kiosk enrolment code: ask the proctor for the room's code."))
    existing = session.scalar(select(Kiosk).where(Kiosk.public_key == public_key))
    now = clock.utcnow_naive()
    if existing is not None:
        if existing.machine != machine or existing.room_id != room.id or existing.status == "retired":
            raise KeyInUse(N_("This device key is registered to another kiosk: reset the agent's data "
                              "folder to make a new key."))
        existing.hostname, existing.agent_version, existing.platform = hostname, agent_version, platform
        existing.last_address, existing.last_seen_at = address, now
        session.flush()
        return _info(existing, room.code)
    kiosk = Kiosk(room_id=room.id, site_id=room.site_id, public_key=public_key, machine=machine, hostname=hostname,
                  agent_version=agent_version, platform=platform, status="pending", last_address=address,
                  last_seen_at=now, agent_status="")
    session.add(kiosk)
    session.flush()
    return _info(kiosk, room.code)


# Built once: every hello after a restart runs this (thousands within seconds).
_SELECT_KIOSK = (select(_kiosks.c.id, _kiosks.c.room_id, Room.__table__.c.code.label("room_code"),
                        _kiosks.c.public_key, _kiosks.c.status, _kiosks.c.seat, _kiosks.c.attempt_id,
                        _kiosks.c.agent_status, _kiosks.c.candidate, _kiosks.c.last_address, _kiosks.c.last_seen_at,
                        _kiosks.c.agent_version)
                 .join(Room.__table__, Room.__table__.c.id == _kiosks.c.room_id)
                 .where(_kiosks.c.id == bindparam("kiosk_id")))


def kiosk(session: Session, kiosk_id: int, *, allow_retired: bool = False) -> KioskInfo:
    """The kiosk as a hello sees it; ``unknown_kiosk`` when it does not exist or is retired."""
    row = session.execute(_SELECT_KIOSK, {"kiosk_id": kiosk_id}).first()
    if row is None or (row.status == "retired" and not allow_retired):
        raise UnknownKiosk(N_("This kiosk is not enrolled (or was retired): register it again."))
    return KioskInfo(*row)


def retire_kiosk(session: Session, kiosk_id: int, *, actor: str = "") -> KioskInfo:
    row = session.get(Kiosk, kiosk_id)
    if row is None:
        raise UnknownKiosk(N_("This kiosk is not enrolled (or was retired): register it again."))
    row.status, row.seat = "retired", None
    from bridge.models.venues import Seat

    for seat in session.scalars(select(Seat).where(Seat.kiosk_id == kiosk_id)):
        seat.kiosk_id = None  # the seat stays in the plan, free for the PC that replaces it
    session.flush()
    audit.record(session, "kiosk.retire", actor=actor, target=f"kiosk:{kiosk_id}")
    return kiosk(session, kiosk_id, allow_retired=True)


def record_presence(session: Session, kiosk_id: int, *, address: str | None = None,
                    agent_status: str | None = None, candidate: str | None = None,
                    attempt_id: int | None = None, agent_version: str | None = None,
                    seen: bool = True) -> None:
    """Persist what a proctor sees of a kiosk: the hub calls this only when something
    changed, or ``last_seen_at`` is older than ``LAST_SEEN_EVERY``. An ``attempt_id`` that
    does not exist is stored as null (the kiosk's heartbeat is information, not authority).
    One UPDATE (this runs for thousands of kiosks a minute)."""
    from bridge.models.attempts import Attempt

    values: dict[str, Any] = {}
    if address is not None:
        values["last_address"] = address[:64]
    if agent_status is not None:
        if attempt_id is not None and session.scalar(select(Attempt.id).where(Attempt.id == attempt_id)) is None:
            attempt_id = None
        values.update(agent_status=agent_status[:20], candidate=candidate[:100] if candidate else None,
                      attempt_id=attempt_id)
    if agent_version:
        values["agent_version"] = agent_version[:64]
    if seen:
        values["last_seen_at"] = clock.utcnow_naive()
    if values:  # Core, not ORM: no identity-map synchronisation for a row nobody loaded
        session.execute(update(_kiosks).where(_kiosks.c.id == kiosk_id).values(**values))


def record_presences(session: Session, items: list[tuple[int, dict[str, Any]]]) -> list[None]:
    """``record_presence(kiosk_id, **fields)`` for many kiosks in one job (the hub batches
    them): one executemany UPDATE per combination of fields."""
    from bridge.models.attempts import Attempt

    attempt_ids = {f["attempt_id"] for _k, f in items if f.get("attempt_id") is not None}
    existing = set(session.scalars(select(Attempt.id).where(Attempt.id.in_(attempt_ids)))) if attempt_ids else set()
    now = clock.utcnow_naive()
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for kiosk_id, fields in items:
        values: dict[str, Any] = {"last_seen_at": now}
        if fields.get("address") is not None:
            values["last_address"] = fields["address"][:64]
        if fields.get("agent_status") is not None:
            attempt_id = fields.get("attempt_id")
            candidate = fields.get("candidate")
            values.update(agent_status=fields["agent_status"][:20], candidate=candidate[:100] if candidate else None,
                          attempt_id=attempt_id if attempt_id in existing else None)
        if fields.get("agent_version"):
            values["agent_version"] = fields["agent_version"][:64]
        key = tuple(sorted(values))
        groups.setdefault(key, []).append({"b_id": kiosk_id, **{f"b_{k}": v for k, v in values.items()}})
    for key, rows in groups.items():
        statement = (update(_kiosks).where(_kiosks.c.id == bindparam("b_id"))
                     .values({k: bindparam(f"b_{k}") for k in key}))
        session.execute(statement, rows)
    return [None] * len(items)


def record_report(session: Session, kiosk_id: int, kind: str, detail: dict) -> int:
    """Store a kiosk's report; an ``env_check`` also becomes the kiosk's environment check (K7)."""
    from kiosk_agent.answer_pack.model import canonical

    if kind not in REPORT_KINDS:
        raise Invalid(N_("Unknown report kind."))
    if not isinstance(detail, dict) or len(canonical(detail)) > MAX_DETAIL_BYTES:
        raise Invalid(N_("A report's detail is an object of at most 64 KiB."))
    now = clock.utcnow_naive()
    report = KioskReport(kiosk_id=kiosk_id, kind=kind, detail=detail, at=now)
    session.add(report)
    if kind == "env_check":
        store_env_check(session, kiosk_id, detail, at=now)
    session.flush()
    return report.id


def store_env_check(session: Session, kiosk_id: int, result: dict, *, at: dt.datetime | None = None) -> None:
    row = session.get(Kiosk, kiosk_id)
    if row is None:
        raise UnknownKiosk(N_("This kiosk is not enrolled (or was retired): register it again."))
    row.env_check = result
    row.env_checked_at = at or clock.utcnow_naive()
    session.flush()


def reports(session: Session, kiosk_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(KioskReport).where(KioskReport.kiosk_id == kiosk_id).order_by(KioskReport.id))
    return [{"id": r.id, "kind": r.kind, "detail": r.detail, "at": r.at} for r in rows]


