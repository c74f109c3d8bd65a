"""Sealing check (封场检测) of a session at a site, and the site's monitoring table (V7, V8;
seed 002 §3.4, §4.3).

A room is ready for a session when every condition in ``CONDITIONS`` holds; the site is
ready when every room of the session is. ``check`` records what it found (each condition
with its state and figures), so the site sees when it was sealed and by whom, and which
condition stopped it. The monitoring table is derived on read.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt
from bridge.models.devices import Kiosk, Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, SessionCandidate
from bridge.models.sittings import SealingCheck, Sitting
from bridge.models.venues import Seat
from bridge.services import audit
from bridge.services.people import access
from bridge.services.venue import envchecks, stations

#: each condition and what it means, in checklist order
CONDITIONS = (
    ("seats", N_("Every seat has its exam PC and every candidate a seat")),
    ("env_check", N_("Every seat passed the environment check")),
    ("data", N_("The room's exam data is loaded and its hash verified")),
    ("station", N_("The room's proctor station is registered")),
    ("authorization", N_("The session is authorized")),
    ("kiosks_online", N_("Every seated exam PC is online")),
)
#: a kiosk is online while it was seen this recently (heartbeats persist every minute)
ONLINE_WITHIN = dt.timedelta(seconds=150)


@dataclass(frozen=True)
class Condition:
    key: str
    ok: bool
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "ok": self.ok, "detail": self.detail}


def _online(seen: Optional[dt.datetime], now: dt.datetime) -> bool:
    return seen is not None and now - seen <= ONLINE_WITHIN


def room_conditions(session: Session, sitting: Sitting, *, secret_key: str) -> list[Condition]:
    now = clock.utcnow_naive()
    sess = session.get(ExamSession, sitting.session_id)
    seats = session.execute(select(Seat.number, Seat.kiosk_id, Kiosk.status, Kiosk.last_seen_at).outerjoin(
        Kiosk, Kiosk.id == Seat.kiosk_id).where(Seat.room_id == sitting.room_id)).all()
    empty = [n for n, _kiosk, status, _seen in seats if status != "seated"]
    placed = session.scalar(select(func.count()).select_from(SessionCandidate).where(
        SessionCandidate.session_id == sess.id, SessionCandidate.room_id == sitting.room_id,
        SessionCandidate.seat_number.is_not(None))) or 0
    unplaced = session.scalar(select(func.count()).select_from(SessionCandidate).where(
        SessionCandidate.session_id == sess.id, SessionCandidate.room_id.is_(None))) or 0
    report = envchecks.report(session, sitting.room_id)
    # every seat passed with the PC that sits there now, under this exam's requirements if it has its own
    passed = {(r.seat, r.kiosk_id) for r in report.seats if r.state == "passed"}
    checked = {(r.seat, r.kiosk_id) for r in report.seats}
    not_passed = [n for n, kiosk, _status, _seen in seats if (n, kiosk) not in passed]
    unchecked = [n for n, kiosk, _status, _seen in seats if (n, kiosk) not in checked]
    exam = session.get(Exam, sess.exam_id)
    other_exam = bool(exam.env_requirements) and bool(report.runs) and report.runs[0]["exam_id"] != exam.id
    reg = stations.current(session, sitting.room_id, secret_key=secret_key)
    offline = [n for n, _kiosk, status, seen in seats if status == "seated" and not _online(seen, now)]
    return [
        Condition("seats", bool(seats) and not empty and placed > 0,
                  {"seats": len(seats), "without_pc": empty[:50], "candidates": placed, "unplaced": unplaced}),
        Condition("env_check", bool(seats) and not not_passed and not other_exam,
                  {"passed": report.passed, "failed": [s.seat for s in report.seats if s.state not in
                                                       ("passed", "waiting")][:50],
                   "waiting": report.waiting, "unchecked": len(unchecked), "other_exam": other_exam}),
        Condition("data", sitting.data_loaded_at is not None and sitting.data_loaded_hash == sitting.data_hash,
                  {"built": sitting.data_hash is not None, "loaded": sitting.data_loaded_at is not None,
                   "hash": sitting.data_hash}),
        Condition("station", reg is not None and reg.registered, {"address": reg.address if reg else None}),
        Condition("authorization", sitting.authorized_at is not None,
                  {"method": sitting.authorization_method, "verified": sitting.verified_at is not None}),
        Condition("kiosks_online", bool(seats) and not offline and not empty, {"offline": offline[:50]}),
    ]


def check(session: Session, site_id: str, exam_session_id: int, *, secret_key: str, actor: str = "") -> SealingCheck:
    """Check every room of the session at the site; records one row per room and one for
    the site (``room_id`` null), and returns the site's."""
    access.check_exam_session_at_site(session, actor, site_id, exam_session_id)
    sittings = list(session.scalars(select(Sitting).join(Room, Room.id == Sitting.room_id).where(
        Sitting.site_id == site_id, Sitting.session_id == exam_session_id).order_by(Room.code)))
    if not sittings:
        raise NotFound(N_("This session is not placed in any room of this site."))
    now = clock.utcnow_naive()
    rooms = []
    for sitting in sittings:
        conditions = room_conditions(session, sitting, secret_key=secret_key)
        passed = all(c.ok for c in conditions)
        room_code = session.get(Room, sitting.room_id).code
        seats = conditions[0].detail["seats"]
        session.add(SealingCheck(site_id=site_id, session_id=exam_session_id, room_id=sitting.room_id, passed=passed,
                                 items=[c.as_dict() for c in conditions], checked_by=actor[:255], checked_at=now,
                                 seats=seats))
        rooms.append({"room_id": sitting.room_id, "room": room_code, "passed": passed,
                      "failed": [c.key for c in conditions if not c.ok]})
    site_row = SealingCheck(site_id=site_id, session_id=exam_session_id, room_id=None,
                            passed=all(r["passed"] for r in rooms), items=rooms, checked_by=actor[:255],
                            checked_at=now, seats=0)
    session.add(site_row)
    session.flush()
    audit.record(session, "site.sealing_check", actor=actor, target=f"site:{site_id}",
                 detail={"session": exam_session_id, "passed": site_row.passed, "rooms": rooms})
    return site_row


def latest(session: Session, site_id: str, exam_session_id: int, *, actor: str = "") -> dict[str, Any]:
    """The last check of the session at the site: ``{"site": row, "rooms": {room_id: row}}``."""
    access.check_exam_session_at_site(session, actor, site_id, exam_session_id)
    site_row = session.scalar(select(SealingCheck).where(
        SealingCheck.site_id == site_id, SealingCheck.session_id == exam_session_id, SealingCheck.room_id.is_(None))
        .order_by(SealingCheck.id.desc()).limit(1))
    if site_row is None:
        return {"site": None, "rooms": {}}
    rooms = {r.room_id: r for r in session.scalars(select(SealingCheck).where(
        SealingCheck.site_id == site_id, SealingCheck.session_id == exam_session_id,
        SealingCheck.room_id.is_not(None), SealingCheck.checked_at == site_row.checked_at))}
    return {"site": site_row, "rooms": rooms}


# --- monitoring (V8) ----------------------------------------------------------------------
LOGGED_IN = ("logged_in", "rules_read", "in_exam", "locked", "submitted")
IN_EXAM = ("in_exam", "locked")


def monitor(session: Session, site_id: str, exam_session_id: int, *, secret_key: str,
            actor: str = "") -> dict[str, Any]:
    """Per room of the session: registered address, data loaded, authorized, verified, ended,
    uploaded, connected, candidates / logged in / in exam; and the totals."""
    access.check_exam_session_at_site(session, actor, site_id, exam_session_id)
    sess = session.get(ExamSession, exam_session_id)
    if sess is None:
        raise NotFound(N_("That exam session does not exist."))
    rows = []
    for sitting, room in session.execute(select(Sitting, Room).join(Room, Room.id == Sitting.room_id).where(
            Sitting.site_id == site_id, Sitting.session_id == sess.id).order_by(Room.code)):
        users = select(SessionCandidate.user_id).where(SessionCandidate.session_id == sess.id,
                                                       SessionCandidate.room_id == room.id)
        statuses = dict(session.execute(select(Attempt.status, func.count()).where(
            Attempt.session_id == sess.id, Attempt.user_id.in_(users)).group_by(Attempt.status)).all())
        reg = stations.current(session, room.id, secret_key=secret_key)
        rows.append({
            "room_id": room.id, "room": room.code, "address": reg.address if reg and reg.registered else None,
            "data_loaded": sitting.data_loaded_at is not None and sitting.data_loaded_hash == sitting.data_hash,
            "authorized": sitting.authorized_at is not None, "verified": sitting.verified_at is not None,
            "ended": sitting.ended_at is not None, "uploaded": sitting.uploaded_at is not None,
            "connected": bool(reg and reg.registered and reg.connected),
            "candidates": session.scalar(select(func.count()).select_from(users.subquery())) or 0,
            "logged_in": sum(statuses.get(s, 0) for s in LOGGED_IN),
            "in_exam": sum(statuses.get(s, 0) for s in IN_EXAM)})
    totals = {k: sum(r[k] for r in rows) for k in ("candidates", "logged_in", "in_exam")}
    totals.update(rooms=len(rows), registered=sum(1 for r in rows if r["address"]),
                  connected=sum(1 for r in rows if r["connected"]))
    return {"session": sess, "rows": rows, "totals": totals}
