"""Backup, restore and init of a site (V9; seed 002 §6.1–6.3).

A backup holds everything the site holds: the site, its rooms, exam PCs and seat plan, the
stations' registrations, the environment checks (with the kiosks' answers), the sittings
with their exam data, authorization-independent state and sealing checks, and where the
exam data placed each candidate. It is one gzip'd signed file (``bridge.services.signing``,
kind ``site-backup``), so a damaged or foreign backup is refused before anything is written.

``restore`` writes it into a database that does not hold the site (an empty one after a
reinstall, or one with other sites): rows get new ids, references are carried over; rows
that point at exam sessions this database does not have (the exam comes from the LMS) are
skipped and counted. ``init`` clears the site (and its code) after a typed confirmation;
it is refused for a formal site while a started session's results are not uploaded.
"""
from __future__ import annotations

import datetime as dt
import gzip
import zlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import DateTime, delete, insert, select, update
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Forbidden, Invalid, NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt
from bridge.models.devices import Kiosk, KioskCommand, Room
from bridge.models.envchecks import EnvCheckResult, EnvCheckRun
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, SessionCandidate
from bridge.models.sittings import SealingCheck, Sitting
from bridge.models.users import User
from bridge.models.venues import Seat, Site, StationRegistration
from bridge.services import audit, signing
from bridge.services.people import access

KIND = "site-backup"
MAX_BYTES = 64 * 1024 * 1024
MAX_UNPACKED = 512 * 1024 * 1024
_T = {m.__tablename__: m.__table__ for m in (Site, Room, Kiosk, KioskCommand, Seat, StationRegistration, EnvCheckRun,
                                             EnvCheckResult, Sitting, SealingCheck)}
#: per table, its references: column → the table whose new ids replace the old ones
#: ("=sessions", "=exams", "=attempts": kept when this database has that row)
REFS: dict[str, dict[str, str]] = {
    "sites": {}, "rooms": {}, "kiosks": {"room_id": "rooms", "attempt_id": "=attempts"},
    "kiosk_commands": {"kiosk_id": "kiosks"}, "seats": {"room_id": "rooms", "kiosk_id": "kiosks"},
    "station_registrations": {"room_id": "rooms"}, "env_check_runs": {"room_id": "rooms", "exam_id": "=exams"},
    "env_check_results": {"run_id": "env_check_runs", "kiosk_id": "kiosks", "command_id": "kiosk_commands"},
    "sittings": {"room_id": "rooms", "session_id": "=sessions"},
    "sealing_checks": {"room_id": "rooms", "session_id": "=sessions"},
}
ORDER = tuple(REFS)
_KEEP_IF = {"=attempts": Attempt, "=exams": Exam, "=sessions": ExamSession}
_REQUIRED = {("sittings", "session_id"), ("sealing_checks", "session_id")}  # no session: the row is skipped
PLACEMENT = ("session_id", "user_id", "room_id", "sequence", "seat_number", "admission_number")


@dataclass
class RestoreReport:
    site_id: str
    code: str
    restored: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def _encode(value: Any) -> Any:
    return {"$dt": value.isoformat()} if isinstance(value, dt.datetime) else value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$dt"}:
        return dt.datetime.fromisoformat(value["$dt"])
    return value


def _site_rows(session: Session, site_id: str) -> dict[str, list[dict]]:
    rooms = select(Room.id).where(Room.site_id == site_id)
    kiosks = select(Kiosk.id).where(Kiosk.room_id.in_(rooms))
    runs = select(EnvCheckRun.id).where(EnvCheckRun.room_id.in_(rooms))
    commands = select(EnvCheckResult.command_id).where(EnvCheckResult.run_id.in_(runs))
    where = {
        "sites": Site.id == site_id, "rooms": Room.site_id == site_id, "kiosks": Kiosk.room_id.in_(rooms),
        "kiosk_commands": KioskCommand.id.in_(commands) & KioskCommand.kiosk_id.in_(kiosks),
        "seats": Seat.room_id.in_(rooms), "station_registrations": StationRegistration.room_id.in_(rooms),
        "env_check_runs": EnvCheckRun.room_id.in_(rooms), "env_check_results": EnvCheckResult.run_id.in_(runs),
        "sittings": Sitting.room_id.in_(rooms), "sealing_checks": SealingCheck.site_id == site_id,
    }
    out = {}
    for name in ORDER:
        table = _T[name]
        out[name] = [{k: _encode(v) for k, v in row._mapping.items()}
                     for row in session.execute(select(table).where(where[name]).order_by(table.c.id))]
    return out


def _session_keys(session: Session, ids: set[int]) -> dict[str, list]:
    """What names a session beyond its row id (ids differ between databases)."""
    rows = session.execute(select(ExamSession.id, ExamSession.exam_id, ExamSession.name, ExamSession.starts_at)
                           .where(ExamSession.id.in_(ids))) if ids else []
    return {str(i): [exam_id, name, starts_at.isoformat()] for i, exam_id, name, starts_at in rows}


def _user_keys(session: Session, ids: set[int]) -> dict[str, str]:
    """A user's LMS identity (platform and subject) or local username."""
    rows = session.execute(select(User.id, User.platform_id, User.lti_sub, User.username)
                           .where(User.id.in_(ids))) if ids else []
    return {str(i): f"lti:{platform}:{sub}" if sub else f"local:{username}" for i, platform, sub, username in rows}


def _matching(session: Session, model, keys: dict[str, Any], key_of) -> set[int]:
    """The ids in ``keys`` whose row here is the same thing the backup meant."""
    ids = [int(i) for i in keys if str(i).isdigit()]
    if not ids:
        return set()
    here = {r.id: key_of(r) for r in session.scalars(select(model).where(model.id.in_(ids)))}
    return {i for i in ids if i in here and here[i] == keys[str(i)]}


def backup(session: Session, site_id: str, *, secret_key: str, note: str = "", actor: str = "") -> bytes:
    access.check_site(actor, site_id)
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(N_("That site does not exist."))
    rooms = select(Room.id).where(Room.site_id == site.id)
    placements = [dict(zip(PLACEMENT, row)) for row in session.execute(
        select(*(getattr(SessionCandidate, c) for c in PLACEMENT)).where(SessionCandidate.room_id.in_(rooms))
        .order_by(SessionCandidate.id))]
    tables = _site_rows(session, site.id)
    payload = {"site": {"id": site.id, "code": site.code, "name": site.name, "mode": site.mode},
               "note": (note or "").strip()[:500], "created_at": clock.utcnow_naive().replace(microsecond=0).isoformat(),
               "tables": tables, "placements": placements,
               "sessions": _session_keys(session, {r["session_id"] for name in ("sittings", "sealing_checks")
                                                   for r in tables[name]}),
               "users": _user_keys(session, {p["user_id"] for p in placements})}
    audit.record(session, "site.backup", actor=actor, target=f"site:{site.id}",
                 detail={"rows": {k: len(v) for k, v in payload["tables"].items()}, "note": payload["note"]})
    return gzip.compress(signing.dumps(signing.sign(secret_key, site.id, KIND, payload)), mtime=0)


def read_backup(raw: bytes, *, secret_key: str) -> dict:
    if len(raw) > MAX_BYTES:
        raise Invalid(N_("This file is too large to be a site backup."))
    not_a_backup = Invalid(N_("This is not a site backup (it is not a .bak file the bridge made)."))
    unpack = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip, bounded: no bomb fills the memory
    try:
        body = unpack.decompress(raw, MAX_UNPACKED)
    except zlib.error:
        raise not_a_backup
    if unpack.unconsumed_tail or not unpack.eof:
        raise not_a_backup
    try:
        document = signing.loads(body)
    except Invalid:
        raise not_a_backup
    if not isinstance(document, dict):
        raise not_a_backup
    payload = signing.read(secret_key, document, KIND, site_id=str(document.get("site_id")))["payload"]
    if not isinstance(payload.get("site"), dict) or not isinstance(payload.get("tables"), dict):
        raise not_a_backup
    return payload


def restore(session: Session, raw: bytes, *, secret_key: str, actor: str = "") -> RestoreReport:
    payload = read_backup(raw, secret_key=secret_key)
    tables = payload.get("tables") or {}
    site = payload["site"]
    access.check_site(actor, site["id"])
    if session.get(Site, site["id"]) is not None or session.scalar(select(Site.id).where(Site.code == site["code"])):
        raise Conflict(N_("This database holds the site already: init it first, or restore into an empty database."))
    codes = [r["code"] for r in tables.get("rooms", [])]
    if codes and session.scalar(select(Room.code).where(Room.code.in_(codes)).limit(1)):
        raise Conflict(N_("A room of this backup exists here already (room codes are unique)."))
    keys = [r["public_key"] for r in tables.get("kiosks", [])]
    if keys and session.scalar(select(Kiosk.id).where(Kiosk.public_key.in_(keys)).limit(1)):
        raise Conflict(N_("An exam PC of this backup is enrolled here already."))
    report = RestoreReport(site["id"], site["code"])
    new_ids: dict[str, dict[int, int]] = {name: {} for name in ORDER}
    # a session or user is carried over only where this database holds the same one (its exam,
    # name and start; its LMS identity), not merely a row with the same id
    exists: dict[str, set] = {"=sessions": _matching(
        session, ExamSession, payload.get("sessions") or {},
        lambda r: [r.exam_id, r.name, r.starts_at.isoformat()])}
    for name in ORDER:
        table = _T[name]
        restored = skipped = 0
        for old in tables.get(name, []):
            row = {k: _decode(v) for k, v in old.items() if k in table.c}
            for column in table.c:
                if isinstance(column.type, DateTime) and isinstance(row.get(column.name), str):
                    row[column.name] = dt.datetime.fromisoformat(row[column.name])
            keep = True
            for column, target in REFS[name].items():
                value = row.get(column)
                if value is None:
                    continue
                if target in _KEEP_IF:
                    if target not in exists:
                        exists[target] = set(session.scalars(select(_KEEP_IF[target].id)))
                    if value not in exists[target]:
                        if (name, column) in _REQUIRED:
                            keep = False
                        row[column] = None
                else:
                    row[column] = new_ids[target].get(value)
            if not keep:
                skipped += 1
                continue
            old_id = row.pop("id") if name != "sites" else None
            result = session.execute(insert(table).values(**row))
            if old_id is not None:
                new_ids[name][old_id] = result.inserted_primary_key[0]
            restored += 1
        report.restored[name] = restored
        if skipped:
            report.skipped[name] = skipped
    placed = 0
    users = _matching(session, User, payload.get("users") or {},
                      lambda r: f"lti:{r.platform_id}:{r.lti_sub}" if r.lti_sub else f"local:{r.username}")
    for p in payload.get("placements", []):
        room = new_ids["rooms"].get(p.get("room_id"))
        if p.get("session_id") not in exists["=sessions"] or p.get("user_id") not in users:
            room = None
        done = session.execute(update(SessionCandidate).where(
            SessionCandidate.session_id == p.get("session_id"), SessionCandidate.user_id == p.get("user_id"))
            .values(room_id=room, sequence=p.get("sequence"), seat_number=p.get("seat_number"),
                    admission_number=p.get("admission_number"))).rowcount if room else 0
        placed += done or 0
    report.restored["placements"] = placed
    restored_sessions = {row.get("session_id") for row in tables.get("sittings", [])} & exists["=sessions"]
    if restored_sessions:  # run by a site: the teacher's open gate stays closed (authorization.items_open)
        session.execute(update(ExamSession).where(ExamSession.id.in_(restored_sessions)).values(authorized=False))
    if len(payload.get("placements", [])) > placed:
        report.skipped["placements"] = len(payload.get("placements", [])) - placed
    session.flush()
    audit.record(session, "site.restore", actor=actor, target=f"site:{site['id']}",
                 detail={"restored": report.restored, "skipped": report.skipped, "backup_of": payload.get("created_at")})
    return report


def init_blockers(session: Session, site_id: str, *, actor: str = "") -> list[dict[str, Any]]:
    """Why the site may not be initialized now: a formal site's sessions that have started
    and whose results are not uploaded."""
    access.check_site(actor, site_id)
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(N_("That site does not exist."))
    if site.mode != "formal":
        return []
    now = clock.utcnow_naive()
    rows = session.execute(select(ExamSession.name, Room.code).join(Sitting, Sitting.session_id == ExamSession.id)
                           .join(Room, Room.id == Sitting.room_id)
                           .where(Sitting.site_id == site.id, Sitting.uploaded_at.is_(None),
                                  ExamSession.starts_at <= now).order_by(ExamSession.starts_at, Room.code))
    return [{"session": name, "room": code} for name, code in rows]


def init(session: Session, site_id: str, *, confirm_code: str, actor: str = "") -> dict[str, int]:
    """Clear everything the site holds and the site itself (its code is free again).
    Accounts and their passwords stay."""
    access.check_site(actor, site_id)
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(N_("That site does not exist."))
    if (confirm_code or "").strip() != site.code:
        raise Invalid(N_("Type the site code exactly to confirm the init."))
    blockers = init_blockers(session, site.id)
    if blockers:
        raise Forbidden(N_("This is a formal exam site and %(count)s sitting(s) have started without their results "
                           "uploaded; init is refused until they are uploaded."), params={"count": len(blockers)})
    rooms = select(Room.id).where(Room.site_id == site.id)
    counts = {name: len(rows) for name, rows in _site_rows(session, site.id).items()}
    session.execute(update(SessionCandidate).where(SessionCandidate.room_id.in_(rooms))
                    .values(room_id=None, sequence=None, seat_number=None, admission_number=None))
    runs = select(EnvCheckRun.id).where(EnvCheckRun.room_id.in_(rooms))
    session.execute(delete(EnvCheckResult).where(EnvCheckResult.run_id.in_(runs)))
    for model in (EnvCheckRun, Sitting, StationRegistration, Seat):
        session.execute(delete(model).where(model.room_id.in_(rooms)))
    session.execute(delete(SealingCheck).where(SealingCheck.site_id == site.id))
    session.execute(delete(Kiosk).where(Kiosk.room_id.in_(rooms)))
    session.execute(delete(Room).where(Room.site_id == site.id))  # the sittings' authorizations went with them
    code = site.code
    session.delete(site)
    session.flush()
    audit.record(session, "site.init", actor=actor, target=f"site:{site_id}", detail={"code": code, "rows": counts})
    return counts
