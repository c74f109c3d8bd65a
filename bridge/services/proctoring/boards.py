"""The seat board of a room's sitting, or of a whole session (P1): each seat's candidate,
status, flags, progress and contact, and the counts (expected, logged in, in exam, submitted,
absent, violations, resumed, extra time, offline)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import NotFound
from bridge.i18n import N_
from bridge.models.attempts import AnswerEvent as AnswerEventSeq, Attempt, AttemptLog
from bridge.models.devices import Kiosk, Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, Paper, SessionCandidate
from bridge.models.sittings import Violation
from bridge.models.users import User
from bridge.models.venues import Seat
from bridge.services.exams.sitting_state import room_start, state
from bridge.services.proctoring.basics import LOGGED_IN, OFFLINE_AFTER, _session_exam, sitting_of


# --- the board ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SeatState:
    seat: int
    admission_number: str
    name: str
    user_id: int
    attempt_id: Optional[int]
    status: str
    flags: tuple[str, ...]
    extra_seconds: int
    kiosk_online: Optional[bool]
    remaining_s: Optional[int]
    lock_reason: str = ""                   # why the last lock happened (the page's "why": blur, tab switch…)
    locks: int = 0
    answered: int = 0                       # items with a current, non-empty answer
    total: Optional[int] = None             # items of the attempt (known once it started)
    last_contact_s: Optional[int] = None    # seconds since the last answer, heartbeat or step of the candidate
    room_code: str = ""


@dataclass(frozen=True)
class Board:
    sitting_id: Optional[int]               # None: the board of a whole session (``session_board``)
    room_code: str
    session_name: str
    exam_title: str
    state: str
    starts_at: dt.datetime
    room_start: dt.datetime
    late_cutoff: dt.datetime
    seats: list[SeatState]
    counts: dict[str, int] = field(default_factory=dict)
    staff: dict = field(default_factory=dict)
    session_id: Optional[int] = None
    exam_code: Optional[str] = None         # a remote session's 6-digit code

    def as_dict(self) -> dict[str, Any]:
        return {"sitting_id": self.sitting_id, "session_id": self.session_id, "state": self.state,
                "counts": self.counts, "room_start": self.room_start.isoformat(), "seats": [
                    {"seat": s.seat, "admission_number": s.admission_number, "name": s.name, "user_id": s.user_id,
                     "attempt_id": s.attempt_id, "status": s.status, "flags": list(s.flags),
                     "extra_seconds": s.extra_seconds, "online": s.kiosk_online, "remaining_s": s.remaining_s,
                     "lock_reason": s.lock_reason, "locks": s.locks, "answered": s.answered, "total": s.total,
                     "last_contact_s": s.last_contact_s, "room": s.room_code}
                    for s in self.seats]}


def _attempts(session: Session, sess: ExamSession, user_ids: list[int]) -> dict[int, Attempt]:
    rows = session.scalars(select(Attempt).where(Attempt.session_id == sess.id, Attempt.user_id.in_(user_ids),
                                                 Attempt.status != "voided").order_by(Attempt.number))
    return {a.user_id: a for a in rows}  # the newest number wins


def _answered(response: Any) -> bool:
    """Whether a response says something, as the exam page counts an item answered."""
    if not isinstance(response, dict):
        return False
    for key in ("choice", "value", "sha256"):
        if key in response:
            return response[key] is not None
    if "choices" in response:
        return bool(response["choices"])
    if "blanks" in response:
        return any(str(b or "").strip() for b in response["blanks"] or ())
    if "text" in response:
        return bool(re.sub(r"<[^>]*>|&nbsp;", "", str(response["text"] or "")).strip())
    return bool(response)


def _progress(session: Session, attempt_ids: list[int]) -> tuple[dict[int, int], dict[int, dt.datetime]]:
    """Per attempt: how many items have a current, non-empty answer, and when its last answer
    arrived. Only each writer's newest event per item is read (never the whole stream): of
    those, the newest by arrival is the current answer, as ``answers.current_answers`` says."""
    if not attempt_ids:
        return {}, {}
    applied = (AnswerEventSeq.attempt_id.in_(attempt_ids), AnswerEventSeq.status == "applied")
    heads = (select(AnswerEventSeq.attempt_id, AnswerEventSeq.question_id, AnswerEventSeq.writer,
                    func.max(AnswerEventSeq.seq).label("seq")).where(*applied)
             .group_by(AnswerEventSeq.attempt_id, AnswerEventSeq.question_id, AnswerEventSeq.writer).subquery())
    rows = session.execute(select(AnswerEventSeq.attempt_id, AnswerEventSeq.question_id, AnswerEventSeq.response)
                           .join(heads, and_(AnswerEventSeq.attempt_id == heads.c.attempt_id,
                                             AnswerEventSeq.question_id == heads.c.question_id,
                                             AnswerEventSeq.writer == heads.c.writer,
                                             AnswerEventSeq.seq == heads.c.seq))
                           .order_by(AnswerEventSeq.id))
    current: dict[tuple[int, int], Any] = {}
    for attempt_id, question_id, response in rows:
        current[(attempt_id, question_id)] = response
    answered: dict[int, int] = {}
    for (attempt_id, _q), response in current.items():
        answered[attempt_id] = answered.get(attempt_id, 0) + _answered(response)
    last = dict(session.execute(select(AnswerEventSeq.attempt_id, func.max(AnswerEventSeq.server_time))
                                .where(AnswerEventSeq.attempt_id.in_(attempt_ids))
                                .group_by(AnswerEventSeq.attempt_id)).all())
    return answered, last


def _seat_states(session: Session, placed: list, attempts: dict[int, Attempt], now: dt.datetime,
                 seat_seen: dict[int, Optional[dt.datetime]] | None) -> list[SeatState]:
    """The board's rows. ``placed``: (SessionCandidate, name, room code) rows; ``seat_seen``:
    the room's PCs' last heartbeat by seat number (a room's board), or None (a session's
    board: a PC counts when it reports the candidate's attempt)."""
    attempt_ids = [a.id for a in attempts.values()]
    violated = set(session.scalars(select(Violation.attempt_id).where(
        Violation.attempt_id.in_(attempt_ids), Violation.cancelled_at.is_(None)))) if attempt_ids else set()
    resumed = set(session.scalars(select(AttemptLog.attempt_id).where(
        AttemptLog.attempt_id.in_(attempt_ids), AttemptLog.action == "breakpoint_resume"))) if attempt_ids else set()
    why: dict[int, str] = {}
    steps: dict[int, dt.datetime] = {}
    pc_seen: dict[int, Optional[dt.datetime]] = {}
    if attempt_ids:
        for attempt_id, detail in session.execute(select(AttemptLog.attempt_id, AttemptLog.detail).where(
                AttemptLog.attempt_id.in_(attempt_ids), AttemptLog.action == "lock").order_by(AttemptLog.id)):
            why[attempt_id] = str((detail or {}).get("why", ""))
        # the candidate's own steps (log in, rules, start, lock, unlock by code) are contacts too
        steps = dict(session.execute(select(AttemptLog.attempt_id, func.max(AttemptLog.at)).where(
            AttemptLog.attempt_id.in_(attempt_ids), AttemptLog.actor.in_(("", "candidate")))
            .group_by(AttemptLog.attempt_id)).all())
        pc_seen = dict(session.execute(select(Kiosk.attempt_id, func.max(Kiosk.last_seen_at)).where(
            Kiosk.attempt_id.in_(attempt_ids)).group_by(Kiosk.attempt_id)).all())
    answered, answer_at = _progress(session, attempt_ids)
    seats = []
    for candidate, name, room_code in placed:
        a = attempts.get(candidate.user_id)
        status = a.status if a else "not_logged_in"
        if seat_seen is not None:
            last = seat_seen.get(candidate.seat_number)
            online = None if candidate.seat_number not in seat_seen else (last is not None and now - last <= OFFLINE_AFTER)
        else:
            last = pc_seen.get(a.id) if a else None
            online = None if a is None or a.id not in pc_seen else (last is not None and now - last <= OFFLINE_AFTER)
        flags = tuple(f for f, on in (("violation", a is not None and a.id in violated),
                                      ("resumed", a is not None and a.id in resumed),
                                      ("extra_time", bool(a and a.extra_seconds)),
                                      ("offline", status in ("in_exam", "locked") and online is False)) if on)
        remaining = None
        if a and a.deadline_at and status in ("in_exam", "locked"):
            remaining = max(0, int((a.deadline_at - now).total_seconds()))
        contact = None
        if a is not None:
            signs = [answer_at.get(a.id), steps.get(a.id), pc_seen.get(a.id),
                     seat_seen.get(candidate.seat_number) if seat_seen is not None and status in LOGGED_IN else None]
            moment = max((t for t in signs if t is not None), default=None)
            contact = max(0, int((now - moment).total_seconds())) if moment is not None else None
        seats.append(SeatState(candidate.seat_number or 0, candidate.admission_number or "", name, candidate.user_id,
                               a.id if a else None, status, flags, a.extra_seconds if a else 0, online, remaining,
                               lock_reason=why.get(a.id, "") if a else "", locks=a.lock_count if a else 0,
                               answered=answered.get(a.id, 0) if a else 0,
                               total=len(a.items) if a and a.items else None, last_contact_s=contact,
                               room_code=room_code or ""))
    return seats


def _counts(seats: list[SeatState]) -> dict[str, int]:
    return {"expected": len(seats), "not_logged_in": sum(s.status == "not_logged_in" for s in seats),
            "logged_in": sum(s.status in LOGGED_IN for s in seats),
            "in_exam": sum(s.status in ("in_exam", "locked") for s in seats),
            "locked": sum(s.status == "locked" for s in seats),
            "submitted": sum(s.status == "submitted" for s in seats),
            "absent": sum(s.status == "absent" for s in seats),
            "violation": sum("violation" in s.flags for s in seats),
            "resumed": sum("resumed" in s.flags for s in seats),
            "extra_time": sum("extra_time" in s.flags for s in seats),
            "offline": sum("offline" in s.flags for s in seats)}


def board(session: Session, sitting_id: int, *, actor: str = "") -> Board:
    """The board of one room in one session (a sitting): the candidates placed in the room."""
    sitting = sitting_of(session, sitting_id, actor)
    sess, exam, paper = _session_exam(session, sitting)
    room = session.get(Room, sitting.room_id)
    now = clock.utcnow_naive()
    placed = session.execute(select(SessionCandidate, User.name, Room.code).join(User, User.id == SessionCandidate.user_id)
                             .join(Room, Room.id == SessionCandidate.room_id).where(
        SessionCandidate.session_id == sess.id, SessionCandidate.room_id == room.id)
        .order_by(SessionCandidate.seat_number)).all()
    attempts = _attempts(session, sess, [c.user_id for c, _n, _r in placed])
    seen = dict(session.execute(select(Seat.number, Kiosk.last_seen_at).join(Kiosk, Kiosk.id == Seat.kiosk_id)
                                .where(Seat.room_id == room.id)).all())
    seats = _seat_states(session, placed, attempts, now, seen)
    late = room_start(sitting, sess) + dt.timedelta(minutes=paper.late_login_minutes if paper else 30)
    return Board(sitting.id, room.code, sess.name, exam.title, state(sitting, sess, now), sess.starts_at,
                 room_start(sitting, sess), late, seats, _counts(seats), dict(sitting.staff or {}),
                 session_id=sess.id, exam_code=sess.exam_code)


def session_state(sess: ExamSession, exam: Exam, seats: list[SeatState], now: dt.datetime) -> str:
    """A whole session's state on its board: scheduled until its start, in progress until its
    time is over and nobody is still in the exam, then ended."""
    if now < sess.starts_at:
        return "scheduled"
    if now < sess.starts_at + dt.timedelta(minutes=exam.duration_minutes) \
            or any(s.status in ("in_exam", "locked") for s in seats):
        return "in_progress"
    return "ended"


def session_board(session: Session, session_id: int) -> Board:
    """The board of a whole session: every candidate assigned to it, whether placed in a
    room of a site or not (remote sessions by exam code, phones and own PCs, sessions never
    placed). A candidate who never logged in is "not logged in"; one registered absent,
    "absent". The same rows as a room's board (``board``), so one page script paints both."""
    sess = session.get(ExamSession, session_id) if type(session_id) is int else None
    if sess is None:
        raise NotFound(N_("That session does not exist."))
    exam = session.get(Exam, sess.exam_id)
    paper = session.scalar(select(Paper).where(Paper.exam_id == exam.id))
    now = clock.utcnow_naive()
    placed = session.execute(select(SessionCandidate, User.name, Room.code)
                             .join(User, User.id == SessionCandidate.user_id)
                             .outerjoin(Room, Room.id == SessionCandidate.room_id)
                             .where(SessionCandidate.session_id == sess.id)
                             .order_by(SessionCandidate.room_id.is_(None), Room.code, SessionCandidate.seat_number,
                                       User.name, User.id)).all()
    attempts = _attempts(session, sess, [c.user_id for c, _n, _r in placed])
    seats = _seat_states(session, placed, attempts, now, None)
    late = sess.starts_at + dt.timedelta(minutes=paper.late_login_minutes if paper else 30)
    return Board(None, "", sess.name, exam.title, session_state(sess, exam, seats, now), sess.starts_at,
                 sess.starts_at, late, seats, _counts(seats), session_id=sess.id, exam_code=sess.exam_code)
