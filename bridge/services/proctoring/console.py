"""The proctor console of a sitting (P1–P3, P5, P9, P10; seed 001 §二): entering the
session, the room's flow (allow login, allow start), the seat board with its counts,
violations, extra time, absence and the end of the exam.

A sitting's state (DESIGN "States") is derived on read: scheduled → login allowed (by hand,
or by itself ``LOGIN_LEAD`` before the start) → start allowed (the countdown to the start
time) → in progress (from the room's start) → ended → uploaded. ``room_start`` is the
session's start time, or a later one when the proctor allowed the start late with a delay
authorization code: the candidates' deadline runs from it.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Forbidden, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.attempts import AnswerEvent as AnswerEventSeq, Attempt, AttemptLog
from bridge.models.devices import Kiosk, Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, Paper, SessionCandidate
from bridge.models.sittings import Sitting, Violation, ViolationCode
from bridge.models.users import User
from bridge.models.venues import Seat
from bridge.exports import csv_export
from bridge.services import audit
from bridge.services.people import access
from bridge.services.exams.sitting_state import login_open, room_start, state
from bridge.services.proctoring import authcodes

START_OPENS = dt.timedelta(minutes=15)      # "allow start" from a quarter of an hour before the start
START_GRACE = dt.timedelta(minutes=5)       # ... and without a delay code until five minutes after it
FREE_EXTRA_SECONDS = 600                    # extra time per candidate without a code (seed 001 §2.8)
OFFLINE_AFTER = dt.timedelta(seconds=150)
#: the national rules' list (《国家教育考试违规处理办法》第五条), editable in the catalogue
DEFAULT_VIOLATIONS = (
    ("A101", "携带通讯工具、规定以外的电子用品或与考试内容相关的资料进入座位，经提醒仍不改正的"),
    ("A102", "未在规定的座位参加考试的"),
    ("A103", "考试开始信号发出前答题或者考试结束信号发出后继续答题的"),
    ("A104", "在考试过程中旁窥、交头接耳、互打暗号或者手势的"),
    ("A105", "在考场或者教育考试机构禁止的范围内，喧哗、吸烟或者实施其他影响考场秩序的行为的"),
    ("A106", "未经考试工作人员同意在考试过程中擅自离开考场的"),
    ("A107", "将试卷、答卷、草稿纸等考试用纸带出考场的"),
    ("A108", "用规定以外的笔或者纸答题或者在试卷规定以外的地方书写姓名、考号或者以其他方式在答卷上标记信息的"),
    ("A109", "其他违反考场规则但尚未构成作弊的行为"),
)
LOGGED_IN = ("logged_in", "rules_read", "in_exam", "locked", "submitted")
DONE = ("submitted", "absent")


# --- the sitting and its state ------------------------------------------------------------
def sitting_of(session: Session, sitting_id: int, actor: str = "") -> Sitting:
    """The sitting, once ``actor`` is seen to cover it (``bridge.services.people.access``)."""
    row = session.get(Sitting, sitting_id) if type(sitting_id) is int else None
    if row is None:
        raise NotFound(N_("That sitting does not exist."))
    access.check_sitting(session, actor, row)
    return row


def _session_exam(session: Session, sitting: Sitting) -> tuple[ExamSession, Exam, Paper]:
    sess = session.get(ExamSession, sitting.session_id)
    exam = session.get(Exam, sess.exam_id)
    paper = session.scalar(select(Paper).where(Paper.exam_id == exam.id))
    return sess, exam, paper


def _clean(value: Any, limit: int) -> str:
    return str(value or "").strip()[:limit]


def enter(session: Session, sitting_id: int, *, admin_name: str, admin_phone: str, proctors: list[dict],
          actor: str = "") -> Sitting:
    """P1: who runs the room. The room's system admin and at least one proctor, each with a phone."""
    sitting = sitting_of(session, sitting_id, actor)
    admin = {"name": _clean(admin_name, 100), "phone": _clean(admin_phone, 30)}
    people = [{"name": _clean(p.get("name"), 100), "phone": _clean(p.get("phone"), 30)} for p in proctors
              if _clean(p.get("name"), 100)]
    if not admin["name"] or not admin["phone"]:
        raise Invalid(N_("Give the room's system admin's name and phone."))
    if not people or any(not p["phone"] for p in people):
        raise Invalid(N_("Give at least one proctor, each with a phone."))
    before = dict(sitting.staff or {})
    sitting.staff = {"admin": admin, "proctors": people}
    sitting.console_entered_at = sitting.console_entered_at or clock.utcnow_naive()
    session.flush()
    audit.record(session, "console.enter", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"before": before, "after": sitting.staff})
    return sitting


def allow_login(session: Session, sitting_id: int, *, actor: str = "") -> Sitting:
    sitting = sitting_of(session, sitting_id, actor)
    if sitting.ended_at:
        raise InvalidState(N_("This sitting has ended."))
    if sitting.authorized_at is None:
        raise InvalidState(N_("The session is not authorized at this site yet."))
    if sitting.login_allowed_at is None:
        sitting.login_allowed_at = clock.utcnow_naive()
        session.flush()
        audit.record(session, "console.allow_login", actor=actor, target=f"sitting:{sitting.id}")
    return sitting


def allow_start(session: Session, sitting_id: int, *, secret_key: str, request_id: int | None = None,
                code: str | None = None, actor: str = "") -> Sitting:
    """P2: the countdown to the start. From ``START_OPENS`` before the start; later than
    ``START_GRACE`` after it, only with a delay authorization code (the room then starts now)."""
    sitting = sitting_of(session, sitting_id, actor)
    sess, exam, _paper = _session_exam(session, sitting)
    now = clock.utcnow_naive()
    if sitting.start_allowed_at is not None:
        return sitting
    if sitting.ended_at:
        raise InvalidState(N_("This sitting has ended."))
    if sitting.authorized_at is None:
        raise InvalidState(N_("The session is not authorized at this site yet."))
    if not login_open(sitting, sess, now):
        raise InvalidState(N_("Allow the login first."))
    if now < sess.starts_at - START_OPENS:
        raise InvalidState(N_("The start can be allowed from %(at)s."),
                           params={"at": f"{sess.starts_at - START_OPENS:%H:%M}"})
    delayed = now > sess.starts_at + START_GRACE
    if delayed:
        if request_id is None:
            raise Forbidden(N_("The start time has passed: a delay authorization code is needed."))
        authcodes.use(session, request_id, code, action="delay_start", room_id=sitting.room_id, session_id=sess.id,
                      candidates=[], parameter=0, secret_key=secret_key, actor=actor)
    sitting.login_allowed_at = sitting.login_allowed_at or now
    sitting.start_allowed_at = now
    session.flush()
    audit.record(session, "console.allow_start", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"delayed": delayed, "room_start": room_start(sitting, sess).isoformat()})
    return sitting


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


def _attempt_here(session: Session, sitting: Sitting, attempt_id: int, *, lock: bool = False) -> Attempt:
    """The attempt, if it is of a candidate of this room (``lock``: the row locked for the
    act that changes it; PostgreSQL: two proctors never add on a stale value)."""
    attempt = (session.get(Attempt, attempt_id, with_for_update=lock, populate_existing=lock)
               if type(attempt_id) is int else None)
    if attempt is None or attempt.session_id != sitting.session_id or session.scalar(
            select(SessionCandidate.room_id).where(SessionCandidate.session_id == sitting.session_id,
                                                   SessionCandidate.user_id == attempt.user_id)) != sitting.room_id:
        raise NotFound(N_("That candidate is not in this room."))
    return attempt


# --- violations (P3) ----------------------------------------------------------------------
def catalogue(session: Session) -> list[ViolationCode]:
    rows = list(session.scalars(select(ViolationCode).order_by(ViolationCode.code)))
    if not rows:  # first use: the default list, editable afterwards
        rows = [ViolationCode(code=c, text=t, active=True) for c, t in DEFAULT_VIOLATIONS]
        session.add_all(rows)
        session.flush()
    return rows


def register_violation(session: Session, sitting_id: int, attempt_id: int, *, code: str, description: str,
                       actor: str = "") -> Violation:
    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    entry = next((c for c in catalogue(session) if c.code == (code or "").strip() and c.active), None)
    if entry is None:
        raise Invalid(N_("Choose a violation code from the catalogue."))
    text = _clean(description, 500)
    if not text:
        raise Invalid(N_("Describe what happened."))
    row = Violation(site_id=sitting.site_id, sitting_id=sitting.id, attempt_id=attempt.id, code=entry.code,
                    code_text=entry.text, description=text, registered_by=actor[:255],
                    registered_at=clock.utcnow_naive())
    session.add(row)
    session.flush()
    audit.record(session, "console.violation", actor=actor, target=f"attempt:{attempt.id}",
                 detail={"violation": row.id, "code": entry.code, "description": text})
    return row


def cancel_violation(session: Session, sitting_id: int, violation_id: int, *, reason: str, actor: str = "") -> None:
    sitting = sitting_of(session, sitting_id, actor)
    row = session.get(Violation, violation_id) if type(violation_id) is int else None
    if row is None or row.sitting_id != sitting.id:
        raise NotFound(N_("That violation is not registered in this room."))
    if row.cancelled_at is not None:
        raise InvalidState(N_("This violation was cancelled already."))
    reason = _clean(reason, 300)
    if not reason:
        raise Invalid(N_("Say why the violation is cancelled."))
    row.cancelled_at, row.cancelled_by, row.cancel_reason = clock.utcnow_naive(), actor[:255], reason
    session.flush()
    audit.record(session, "console.violation_cancel", actor=actor, target=f"attempt:{row.attempt_id}",
                 detail={"violation": row.id, "reason": reason})


def violations(session: Session, sitting_id: int, *, include_cancelled: bool = False, actor: str = "") -> list[dict[str, Any]]:
    query = (select(Violation, SessionCandidate.admission_number, User.name)
             .join(Attempt, Attempt.id == Violation.attempt_id).join(User, User.id == Attempt.user_id)
             .join(SessionCandidate, (SessionCandidate.session_id == Attempt.session_id)
                   & (SessionCandidate.user_id == Attempt.user_id))
             .where(Violation.sitting_id == sitting_id).order_by(Violation.registered_at, Violation.id))
    sitting_of(session, sitting_id, actor)
    if not include_cancelled:
        query = query.where(Violation.cancelled_at.is_(None))
    return [{"id": v.id, "admission_number": number or "", "name": name, "code": v.code, "code_text": v.code_text,
             "description": v.description, "at": v.registered_at, "by": v.registered_by,
             "cancelled_at": v.cancelled_at, "cancel_reason": v.cancel_reason}
            for v, number, name in session.execute(query)]


def violations_csv(session: Session, sitting_id: int, *, actor: str = "") -> str:
    header = ["admission_number", "name", "code", "code_text", "description", "registered_at", "registered_by"]
    return csv_export.text([header] + [[v["admission_number"], v["name"], v["code"], v["code_text"], v["description"],
                                        v["at"], v["by"]] for v in violations(session, sitting_id, actor=actor)])


# --- extra time (P5) ----------------------------------------------------------------------
def extra_time(session: Session, sitting_id: int, attempt_id: int, *, seconds: int, reason: str, secret_key: str,
               request_id: int | None = None, code: str | None = None, actor: str = "",
               free_seconds: int = FREE_EXTRA_SECONDS) -> int:
    """Add ``seconds`` to a candidate in the exam. Up to ``free_seconds`` cumulative (the
    ``FREE_EXTRA_SECONDS`` setting) without a code, beyond with an extra-time code; never
    more, in all, than the exam's duration. Returns the seconds actually added."""
    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id, lock=True)
    sess, exam, _paper = _session_exam(session, sitting)
    if type(seconds) is not int or seconds <= 0:
        raise Invalid(N_("Give the extra time as a whole number of seconds."))
    reason = _clean(reason, 200)
    if not reason:
        raise Invalid(N_("Give the reason for the extra time."))
    if attempt.status != "in_exam":
        raise InvalidState(N_("Extra time is for a candidate who is online and in the exam."))
    cap = exam.duration_minutes * 60
    if attempt.extra_seconds >= cap:
        raise InvalidState(N_("This candidate has had extra time up to the exam's duration already."))
    added = min(seconds, cap - attempt.extra_seconds)
    if attempt.extra_seconds + added > free_seconds:
        if request_id is None:
            raise Forbidden(N_("More than %(free)s s of extra time in all needs an extra-time authorization code."),
                            params={"free": free_seconds})
        number = session.scalar(select(SessionCandidate.admission_number).where(
            SessionCandidate.session_id == sess.id, SessionCandidate.user_id == attempt.user_id)) or ""
        authcodes.use(session, request_id, code, action="extra_time", room_id=sitting.room_id, session_id=sess.id,
                      candidates=[number], parameter=seconds, secret_key=secret_key, actor=actor)
    attempt.extra_seconds += added
    if attempt.deadline_at is not None:
        attempt.deadline_at += dt.timedelta(seconds=added)
    session.add(AttemptLog(attempt_id=attempt.id, action="extra_time", actor=actor[:100],
                           detail={"asked": seconds, "added": added, "total": attempt.extra_seconds, "reason": reason}))
    session.flush()
    audit.record(session, "console.extra_time", actor=actor, target=f"attempt:{attempt.id}",
                 detail={"asked": seconds, "added": added, "total": attempt.extra_seconds, "reason": reason})
    return added


# --- absence (P9) and the end (P10) -------------------------------------------------------
def register_absent(session: Session, sitting_id: int, user_ids: Iterable[int], *, actor: str = "") -> int:
    """Candidates who never logged in, once the late cutoff has passed."""
    sitting = sitting_of(session, sitting_id, actor)
    current = board(session, sitting.id)
    if clock.utcnow_naive() < current.late_cutoff:
        raise InvalidState(N_("Absence can be registered from %(at)s, when the late login closes."),
                           params={"at": f"{current.late_cutoff:%H:%M}"})
    by_user = {s.user_id: s for s in current.seats}
    chosen = [by_user.get(u) for u in user_ids]
    if not chosen or any(s is None for s in chosen):
        raise NotFound(N_("That candidate is not in this room."))
    if any(s.status != "not_logged_in" for s in chosen):
        raise InvalidState(N_("Only candidates who never logged in can be registered absent."))
    sess, exam, _paper = _session_exam(session, sitting)
    for s in chosen:
        attempt = session.get(Attempt, s.attempt_id) if s.attempt_id else None
        if attempt is None:  # never logged in: an attempt that says so
            number = (session.scalar(select(func.max(Attempt.number)).where(
                Attempt.exam_id == exam.id, Attempt.user_id == s.user_id)) or 0) + 1
            attempt = Attempt(exam_id=exam.id, session_id=sess.id, user_id=s.user_id, number=number, status="absent")
            session.add(attempt)
            session.flush()
        else:  # opened by a resume or a re-exam, and not used
            attempt.status = "absent"
        session.add(AttemptLog(attempt_id=attempt.id, action="absent", actor=actor[:100]))
    session.flush()
    audit.record(session, "console.absent", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"users": [s.user_id for s in chosen], "admission_numbers": [s.admission_number for s in chosen]})
    return len(chosen)


def end_blockers(session: Session, sitting_id: int, *, actor: str = "") -> list[SeatState]:
    return [s for s in board(session, sitting_id, actor=actor).seats if s.status not in DONE]


def end_exam(session: Session, sitting_id: int, *, actor: str = "") -> Sitting:
    """P10 (the caller has re-authenticated the room's system admin): only when every
    candidate is submitted or registered absent."""
    sitting = sitting_of(session, sitting_id, actor)
    if sitting.ended_at is not None:
        return sitting
    blockers = end_blockers(session, sitting.id)
    if blockers:
        raise InvalidState(N_("%(count)s candidate(s) are neither submitted nor registered absent."),
                           params={"count": len(blockers)})
    sitting.ended_at, sitting.ended_by = clock.utcnow_naive(), actor[:255]
    session.flush()
    audit.record(session, "console.end", actor=actor, target=f"sitting:{sitting.id}")
    return sitting


# --- breakpoint resume (P4), screen lock and the candidate log (P7) -------------------------
RESUME_REASONS = ("pc_failure", "power_cut", "network", "client_crash", "late_arrival", "other")
RESUMABLE = ("not_logged_in", "logged_in", "rules_read", "in_exam", "locked")


@dataclass(frozen=True)
class Resumed:
    attempt_ids: list[int]
    lost_seconds: dict[int, int]
    close_on: list[int]  # kiosks whose candidate client is forced out (commands, once committed)


def _kiosks_of(session: Session, attempt_ids: list[int]) -> dict[int, int]:
    return {attempt: kiosk for kiosk, attempt in session.execute(
        select(Kiosk.id, Kiosk.attempt_id).where(Kiosk.attempt_id.in_(attempt_ids), Kiosk.status != "retired"))}


def resume(session: Session, sitting_id: int, user_ids: Iterable[int], *, reason: str, description: str,
           secret_key: str, request_id: int | None = None, code: str | None = None, actor: str = "") -> Resumed:
    """Breakpoint resume (断点续考), one candidate or many: the candidate continues on any
    seat with every answer the bridge holds. The attempt's epoch goes up, so the old seat's
    client is fenced (its writes are refused) and told to close; the time lost is recorded
    (the deadline stays: extra time is a separate act). A candidate arriving after the late
    login cutoff of a formal site needs a late-resume authorization code."""
    from bridge.models.venues import Site
    from bridge.services.kiosks import kiosk_commands

    sitting = sitting_of(session, sitting_id, actor)
    sess, exam, _paper = _session_exam(session, sitting)
    if reason not in RESUME_REASONS:
        raise Invalid(N_("Choose the reason of the resume from the list."))
    text = _clean(description, 200)
    if len(str(description or "").strip()) > 200:
        raise Invalid(N_("Describe the resume in at most 200 characters."))
    now = clock.utcnow_naive()
    current = board(session, sitting.id)
    if sitting.ended_at or not login_open(sitting, sess, now):
        raise InvalidState(N_("Resume is possible once the login is allowed and until the exam ends."))
    by_user = {s.user_id: s for s in current.seats}
    chosen = [by_user.get(u) for u in user_ids]
    if not chosen or any(s is None for s in chosen):
        raise NotFound(N_("That candidate is not in this room."))
    if any(s.status not in RESUMABLE for s in chosen):
        raise InvalidState(N_("Only candidates who have not submitted can resume."))
    late = [s for s in chosen if s.status == "not_logged_in" and now > current.late_cutoff]
    site = session.get(Site, sitting.site_id) if sitting.site_id else None
    if late and site is not None and site.mode == "formal":
        if request_id is None:
            raise Forbidden(N_("A candidate arriving after the late login cutoff needs a late-resume authorization "
                               "code (formal exam)."))
        authcodes.use(session, request_id, code, action="late_resume", room_id=sitting.room_id, session_id=sess.id,
                      candidates=[s.admission_number for s in late], parameter=0, secret_key=secret_key, actor=actor)
    early = [s for s in chosen if s.status == "not_logged_in" and s.attempt_id is None and now <= current.late_cutoff]
    if early:
        raise InvalidState(N_("A candidate who has not logged in yet can still log in as usual until %(at)s."),
                           params={"at": f"{current.late_cutoff:%H:%M}"})
    from bridge.models.attempts import AnswerEvent

    lost: dict[int, int] = {}
    ids: list[int] = []
    for s in chosen:
        attempt = session.get(Attempt, s.attempt_id) if s.attempt_id else None
        if attempt is None:  # arrived after the cutoff: the login is opened for this candidate
            number = (session.scalar(select(func.max(Attempt.number)).where(
                Attempt.exam_id == exam.id, Attempt.user_id == s.user_id)) or 0) + 1
            attempt = Attempt(exam_id=exam.id, session_id=sess.id, user_id=s.user_id, number=number,
                              status="not_logged_in")
            session.add(attempt)
            session.flush()
            lost[attempt.id] = max(0, int((now - current.room_start).total_seconds()))
        else:
            # the time lost runs from the last sign of the candidate at work: an answer or the PC's heartbeat
            signs = [session.scalar(select(func.max(AnswerEvent.server_time)).where(AnswerEvent.attempt_id == attempt.id)),
                     session.scalar(select(func.max(Kiosk.last_seen_at)).where(Kiosk.attempt_id == attempt.id)),
                     attempt.started_at]
            last = max((t for t in signs if t is not None), default=now)
            lost[attempt.id] = max(0, int((now - last).total_seconds())) if attempt.status in ("in_exam", "locked") else 0
            attempt.epoch += 1
        session.add(AttemptLog(attempt_id=attempt.id, action="breakpoint_resume", actor=actor[:100],
                               detail={"reason": reason, "description": text, "lost_seconds": lost[attempt.id],
                                       "epoch": attempt.epoch}))
        ids.append(attempt.id)
    session.flush()
    kiosks = _kiosks_of(session, ids)
    commands = kiosk_commands.issue(session, list(kiosks.values()), "close_client", issued_by=actor) if kiosks else []
    audit.record(session, "console.resume", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"attempts": ids, "reason": reason, "description": text, "lost_seconds": lost,
                         "late": [s.admission_number for s in late]})
    return Resumed(ids, lost, commands)


def lock_screen(session: Session, sitting_id: int, attempt_id: int, *, message: str, actor: str = "") -> list[int]:
    """Lock a candidate's screen with a message (the kiosk shows it until the proctor unlocks);
    returns the command ids for the hub."""
    from bridge.services.kiosks import kiosk_commands

    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    text = _clean(message, 200)
    if not text:
        raise Invalid(N_("Write the message the candidate will see."))
    kiosks = _kiosks_of(session, [attempt.id])
    if not kiosks:
        raise InvalidState(N_("This candidate is on no exam PC right now."))
    ids = kiosk_commands.issue(session, list(kiosks.values()), "lock", {"message": text}, issued_by=actor)
    session.add(AttemptLog(attempt_id=attempt.id, action="screen_lock", actor=actor[:100], detail={"message": text}))
    session.flush()
    audit.record(session, "console.lock_screen", actor=actor, target=f"attempt:{attempt.id}", detail={"message": text})
    return ids


def unlock_screen(session: Session, sitting_id: int, attempt_id: int, *, actor: str = "") -> list[int]:
    from bridge.services.kiosks import kiosk_commands

    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    kiosks = _kiosks_of(session, [attempt.id])
    if not kiosks:
        raise InvalidState(N_("This candidate is on no exam PC right now."))
    ids = kiosk_commands.issue(session, list(kiosks.values()), "unlock", issued_by=actor)
    session.add(AttemptLog(attempt_id=attempt.id, action="screen_unlock", actor=actor[:100]))
    session.flush()
    audit.record(session, "console.unlock_screen", actor=actor, target=f"attempt:{attempt.id}")
    return ids


def candidate_log(session: Session, sitting_id: int, attempt_id: int, *, actor: str = "") -> list[dict[str, Any]]:
    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    return [{"at": row.at, "address": row.address, "action": row.action, "actor": row.actor, "detail": row.detail}
            for row in session.scalars(select(AttemptLog).where(AttemptLog.attempt_id == attempt.id)
                                       .order_by(AttemptLog.at, AttemptLog.id))]


def candidate_log_csv(session: Session, sitting_id: int, attempt_id: int, *, actor: str = "") -> str:
    return csv_export.text([["time", "address", "action", "actor", "detail"]] + [
        [row["at"], row["address"], row["action"], row["actor"], json_text(row["detail"])]
        for row in candidate_log(session, sitting_id, attempt_id, actor=actor)])


def json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- the room record (P11) and after the exam (P12) ---------------------------------------
def _extra_times(session: Session, attempt_ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    if attempt_ids:
        for row in session.scalars(select(AttemptLog).where(AttemptLog.attempt_id.in_(attempt_ids),
                                                            AttemptLog.action == "extra_time").order_by(AttemptLog.at)):
            out.setdefault(row.attempt_id, []).append({"at": row.at, **(row.detail or {})})
    return out


def record(session: Session, sitting_id: int, *, actor: str = "") -> dict[str, Any]:
    """The room record (考场情况记录单): the sitting, who ran it, the totals, and the lists of
    absences, violations and extra time."""
    from bridge.models.venues import Site

    sitting = sitting_of(session, sitting_id, actor)
    sess, exam, _paper = _session_exam(session, sitting)
    current = board(session, sitting.id)
    site = session.get(Site, sitting.site_id) if sitting.site_id else None
    extra = _extra_times(session, [s.attempt_id for s in current.seats if s.attempt_id])
    return {"board": current, "exam": exam, "site": site, "session": sess,
            "ends_at": current.room_start + dt.timedelta(minutes=exam.duration_minutes),
            "present": sum(s.status in LOGGED_IN for s in current.seats),
            "absent": [s for s in current.seats if s.status == "absent"],
            "violations": violations(session, sitting.id),
            "extra": [(s, extra.get(s.attempt_id, [])) for s in current.seats if s.extra_seconds]}


@dataclass(frozen=True)
class CheckRow:
    seat: int
    admission_number: str
    name: str
    status: str
    progress: Optional[int]  # % of the items answered
    pack: str                # valid | none
    collected: bool
    violation: bool
    score: Optional[float]


def verification(session: Session, sitting_id: int, *, actor: str = "") -> dict[str, Any]:
    """P12's verification table (校验结果列表) and its totals."""
    from bridge.models.attempts import AnswerEvent
    from bridge.models.packs import PackImport

    current = board(session, sitting_id, actor=actor)
    ids = [s.attempt_id for s in current.seats if s.attempt_id]
    answered = dict(session.execute(select(AnswerEvent.attempt_id, func.count(func.distinct(AnswerEvent.question_id)))
                                    .where(AnswerEvent.attempt_id.in_(ids), AnswerEvent.status == "applied")
                                    .group_by(AnswerEvent.attempt_id)).all()) if ids else {}
    packed = set(session.scalars(select(PackImport.attempt_id).where(PackImport.attempt_id.in_(ids)))) if ids else set()
    attempts_ = {a.id: a for a in session.scalars(select(Attempt).where(Attempt.id.in_(ids)))} if ids else {}
    rows = []
    for s in current.seats:
        a = attempts_.get(s.attempt_id)
        items = len(a.items or []) if a else 0
        progress = None if not a or s.status == "absent" or not items else round(100 * answered.get(a.id, 0) / items)
        rows.append(CheckRow(s.seat, s.admission_number, s.name, s.status, progress,
                             "valid" if s.attempt_id in packed else "none", s.status in DONE, "violation" in s.flags,
                             a.score if a else None))
    totals = {"total": len(rows), "sat": sum(r.status == "submitted" for r in rows),
              "absent": sum(r.status == "absent" for r in rows), "collected": sum(r.collected for r in rows),
              "not_collected": sum(not r.collected for r in rows), "extra_time": current.counts["extra_time"],
              "violation": sum(r.violation for r in rows)}
    return {"board": current, "rows": rows, "totals": totals}


def results_table(session: Session, sitting_id: int, *, actor: str = "") -> list[list[Any]]:
    table = verification(session, sitting_id, actor=actor)
    head = ["seat", "admission_number", "name", "status", "progress_percent", "pack", "collected", "violation", "score"]
    return [head] + [[r.seat, r.admission_number, r.name, r.status, r.progress, r.pack, r.collected, r.violation,
                      r.score] for r in table["rows"]]


def results_backup(session: Session, sitting_id: int, *, secret_key: str, actor: str = "") -> bytes:
    """The room's results as a signed file, to keep on external storage before the upload
    (seed 001 §三: backup first, then report): every candidate's status, score, extra time
    and the heads of their answer chains (what the bridge holds)."""
    from bridge.models.attempts import AnswerHead
    from bridge.services import signing

    sitting = sitting_of(session, sitting_id, actor)
    if sitting.ended_at is None:
        raise InvalidState(N_("End the exam first."))
    table = verification(session, sitting.id)
    ids = [s.attempt_id for s in table["board"].seats if s.attempt_id]
    heads: dict[int, dict[str, list]] = {}
    for h in session.scalars(select(AnswerHead).where(AnswerHead.attempt_id.in_(ids))) if ids else []:
        heads.setdefault(h.attempt_id, {})[h.writer] = [h.max_seq, h.head]
    by_number = {s.admission_number: s for s in table["board"].seats}
    payload = {"sitting_id": sitting.id, "room": table["board"].room_code, "session_id": sitting.session_id,
               "made_at": clock.utcnow_naive().replace(microsecond=0).isoformat(), "totals": table["totals"],
               "candidates": [{"seat": r.seat, "admission_number": r.admission_number, "status": r.status,
                               "score": r.score, "progress": r.progress, "violation": r.violation,
                               "extra_seconds": by_number[r.admission_number].extra_seconds,
                               "heads": heads.get(by_number[r.admission_number].attempt_id, {})}
                              for r in table["rows"]]}
    sitting.backed_up_at = clock.utcnow_naive()
    session.flush()
    audit.record(session, "console.backup", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"candidates": len(payload["candidates"])})
    return signing.dumps(signing.sign(secret_key, sitting.site_id or "", "room-results", payload))


UPLOAD_BATCH = 20


def upload_step(session: Session, sitting_id: int, *, batch: int = UPLOAD_BATCH, actor: str = "") -> dict[str, int]:
    """One step of the upload (上报): the next ``batch`` submitted attempts of the room are
    scored and counted in; when none is left the sitting is uploaded. Every step is its own
    unit of work, so an upload cut off resumes where it stopped. Only after the backup."""
    from bridge.services.delivery import scoring

    sitting = sitting_of(session, sitting_id, actor)
    if sitting.ended_at is None:
        raise InvalidState(N_("End the exam first."))
    if sitting.backed_up_at is None:
        raise InvalidState(N_("Back the results up to external storage first, then upload."))
    current = board(session, sitting.id)
    ids = [s.attempt_id for s in current.seats if s.status == "submitted"]
    pending = list(session.scalars(select(Attempt).where(Attempt.id.in_(ids), Attempt.score.is_(None))
                                   .order_by(Attempt.id).limit(batch))) if ids else []
    for attempt in pending:
        scoring.score_attempt(session, attempt)
    left = session.scalar(select(func.count()).select_from(Attempt).where(Attempt.id.in_(ids),
                                                                         Attempt.score.is_(None))) if ids else 0
    total = len(current.seats)
    if not left and sitting.uploaded_at is None:
        sitting.uploaded_at = clock.utcnow_naive()
        audit.record(session, "console.upload", actor=actor, target=f"sitting:{sitting.id}",
                     detail={"candidates": total, "submitted": len(ids)})
    session.flush()
    return {"total": total, "done": total - (left or 0), "left": left or 0, "uploaded": sitting.uploaded_at is not None}


# --- remote control (P13) and the sitting's audit trail (P16) ------------------------------
REMOTE_ACTIONS = ("start_client", "close_client", "restart", "shutdown")


def remote(session: Session, sitting_id: int, seat_numbers: Iterable[int] | None, action: str, *,
           actor: str = "") -> list[int]:
    """Start or close the candidate client (the agent opens the bridge it is enrolled with),
    restart or shut down the room's exam PCs: the chosen seats, or every seated PC
    (``seat_numbers`` None). Returns the command ids for the hub."""
    from bridge.services.kiosks import kiosk_commands

    sitting = sitting_of(session, sitting_id, actor)
    if action not in REMOTE_ACTIONS:
        raise Invalid(N_("Unknown remote action."))
    query = select(Seat.kiosk_id).join(Kiosk, Kiosk.id == Seat.kiosk_id).where(
        Seat.room_id == sitting.room_id, Kiosk.status == "seated")
    if seat_numbers is not None:
        numbers = [n for n in seat_numbers if type(n) is int]
        if not numbers:
            raise Invalid(N_("Choose the seats first."))
        query = query.where(Seat.number.in_(numbers))
    kiosks = list(session.scalars(query))
    if not kiosks:
        raise InvalidState(N_("No exam PC is seated at the chosen seats."))
    ids = kiosk_commands.issue(session, kiosks, action, issued_by=actor)
    audit.record(session, "console.remote", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"action": action, "kiosks": kiosks})
    return ids


def audit_trail(session: Session, sitting_id: int, *, actor: str = "") -> list[Any]:
    """Every audit entry about this sitting or its candidates' attempts, oldest first."""
    from bridge.models.audit import AuditEntry

    from bridge.models.authcodes import AuthRequest

    sitting = sitting_of(session, sitting_id, actor)
    users = select(SessionCandidate.user_id).where(SessionCandidate.session_id == sitting.session_id,
                                                   SessionCandidate.room_id == sitting.room_id)
    ids = list(session.scalars(select(Attempt.id).where(Attempt.session_id == sitting.session_id,
                                                        Attempt.user_id.in_(users))))  # voided ones too
    requests_ = list(session.scalars(select(AuthRequest.id).where(AuthRequest.room_id == sitting.room_id,
                                                                  AuthRequest.session_id == sitting.session_id)))
    targets = ([f"sitting:{sitting.id}"] + [f"attempt:{i}" for i in ids] + [f"request:{i}" for i in requests_])
    return list(session.scalars(select(AuditEntry).where(AuditEntry.target.in_(targets)).order_by(AuditEntry.id)))


def audit_csv(session: Session, sitting_id: int, *, actor: str = "") -> str:
    return csv_export.text([["id", "at", "actor", "address", "action", "target", "outcome", "detail", "hash"]] + [
        [e.id, e.at, e.actor, e.remote_addr, e.action, e.target, e.outcome, json_text(e.detail), e.hash]
        for e in audit_trail(session, sitting_id, actor=actor)])


# --- re-exam init (P8) ----------------------------------------------------------------------
def re_exam(session: Session, sitting_id: int, attempt_id: int, *, understood: bool, confirmed: bool,
            request_id: int | None, code: str | None, secret_key: str, actor: str = "") -> Attempt:
    """Re-exam (重考初始化): destructive. The proctor ticks "I understand", gives a re-exam
    authorization code (valid an hour) and confirms again. The candidate's attempt is voided
    (its answers stay in the answer log and the audit trail, never in the new attempt) and a
    fresh attempt opens: the candidate logs in again and starts from an empty paper."""
    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    sess, exam, _paper = _session_exam(session, sitting)
    if not understood:
        raise Invalid(N_("Tick \"I understand\": a re-exam clears this candidate's answers in this subject."))
    if not confirmed:
        raise Invalid(N_("Confirm the re-exam a second time."))
    if attempt.status in ("not_logged_in", "absent", "voided"):
        raise InvalidState(N_("This candidate has nothing to re-examine."))
    if sitting.ended_at is not None:
        raise InvalidState(N_("This sitting has ended."))
    number = session.scalar(select(SessionCandidate.admission_number).where(
        SessionCandidate.session_id == sess.id, SessionCandidate.user_id == attempt.user_id)) or ""
    if request_id is None:
        raise Forbidden(N_("A re-exam needs a re-exam authorization code."))
    authcodes.use(session, request_id, code, action="re_exam", room_id=sitting.room_id, session_id=sess.id,
                  candidates=[number], parameter=0, secret_key=secret_key, actor=actor)
    from bridge.models.attempts import AnswerEvent

    answered = session.scalar(select(func.count()).select_from(AnswerEvent).where(AnswerEvent.attempt_id == attempt.id))
    before = {"attempt": attempt.id, "number": attempt.number, "status": attempt.status, "score": attempt.score,
              "answer_events": answered or 0}
    attempt.status = "voided"
    session.add(AttemptLog(attempt_id=attempt.id, action="re_exam", actor=actor[:100], detail=before))
    fresh = Attempt(exam_id=exam.id, session_id=sess.id, user_id=attempt.user_id, number=attempt.number + 1,
                    status="not_logged_in")
    session.add(fresh)
    session.flush()
    audit.record(session, "console.re_exam", actor=actor, target=f"attempt:{attempt.id}",
                 detail={**before, "new_attempt": fresh.id, "admission_number": number})
    return fresh


# --- single-machine collection (P6) -------------------------------------------------------
def collect(session: Session, sitting_id: int, attempt_id: int, *, actor: str = "") -> Attempt:
    """单机收卷: submit a candidate's attempt from the answer pack imported for it (the PC could
    not hand it in). At a formal site only once early submission is allowed (the paper's
    ``early_submit_minutes`` after the room's start)."""
    from bridge.models.packs import PackImport
    from bridge.models.venues import Site
    from bridge.services.delivery import attempts as attempts_

    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    sess, _exam, paper = _session_exam(session, sitting)
    if attempt.status not in ("in_exam", "locked"):
        raise InvalidState(N_("Only a candidate in the exam can be collected."))
    if session.scalar(select(PackImport.id).where(PackImport.attempt_id == attempt.id).limit(1)) is None:
        raise InvalidState(N_("Import the candidate's answer pack first."))
    site = session.get(Site, sitting.site_id) if sitting.site_id else None
    opens = room_start(sitting, sess) + dt.timedelta(minutes=paper.early_submit_minutes if paper else 0)
    if site is not None and site.mode == "formal" and clock.utcnow_naive() < opens:
        raise InvalidState(N_("At a formal exam a candidate can be collected from %(at)s, when early submission "
                              "is allowed."), params={"at": f"{opens:%H:%M}"})
    attempts_.submit(session, attempt, reason="proctor", actor=actor)
    session.add(AttemptLog(attempt_id=attempt.id, action="collected_from_pack", actor=actor[:100]))
    session.flush()
    audit.record(session, "console.collect", actor=actor, target=f"attempt:{attempt.id}")
    return attempt


# --- mock exam extras (P14) ---------------------------------------------------------------
def _mock_only(session: Session, sitting: Sitting) -> None:
    from bridge.models.venues import Site

    site = session.get(Site, sitting.site_id) if sitting.site_id else None
    if site is None or site.mode != "mock":
        raise Forbidden(N_("This is only for a mock exam site."))


def mock_login(session: Session, sitting_id: int, *, actor: str = "") -> int:
    """Log every candidate of the room in and past the rules (a mock exam's rehearsal)."""
    from bridge.services.delivery import attempts as attempts_

    sitting = sitting_of(session, sitting_id, actor)
    _mock_only(session, sitting)
    sess, exam, _paper = _session_exam(session, sitting)
    if not login_open(sitting, sess):
        raise InvalidState(N_("Allow the login first."))
    done = 0
    for s in board(session, sitting.id).seats:
        if s.status == "not_logged_in":
            attempt = attempts_.log_in(session, exam, s.user_id, mode="kiosk")
            attempts_.read_rules(session, attempt)
            done += 1
    audit.record(session, "console.mock_login", actor=actor, target=f"sitting:{sitting.id}", detail={"count": done})
    return done


def mock_answer(session: Session, sitting_id: int, *, seed: int = 0, actor: str = "") -> int:
    """Answer every objective item of every candidate in the exam at random (single, multiple,
    true/false), as the writer ``mock``: a rehearsal of collection and upload. Returns the
    number of answers stored."""
    import random

    from bridge.models.bank import Question
    from bridge.services.delivery import answers

    sitting = sitting_of(session, sitting_id, actor)
    _mock_only(session, sitting)
    rng = random.Random(seed)
    stored = 0
    for s in board(session, sitting.id).seats:
        if s.status != "in_exam":
            continue
        attempt = session.get(Attempt, s.attempt_id)
        seq = (session.scalar(select(func.max(AnswerEventSeq.seq)).where(AnswerEventSeq.attempt_id == attempt.id,
                                                                         AnswerEventSeq.writer == "mock")) or 0)
        for item in attempt.items:
            q = session.get(Question, item["question_id"])
            ids = [c["id"] for c in (q.choices or [])]
            if q.qtype == "single" and ids:
                response = {"choice": rng.choice(ids)}
            elif q.qtype == "multiple" and ids:
                response = {"choices": sorted(rng.sample(ids, rng.randint(1, len(ids))))}
            elif q.qtype == "truefalse":
                response = {"value": rng.random() < 0.5}
            else:
                continue
            seq += 1
            answers.append(session, attempt.id, writer="mock", seq=seq, question_id=q.id, response=response,
                           client_time=None, epoch=attempt.epoch)
            stored += 1
    audit.record(session, "console.mock_answer", actor=actor, target=f"sitting:{sitting.id}", detail={"answers": stored})
    return stored


def mock_collect(session: Session, sitting_id: int, *, actor: str = "") -> int:
    """统一收卷: submit every candidate still in the exam at once (mock exams only)."""
    from bridge.services.delivery import attempts as attempts_

    sitting = sitting_of(session, sitting_id, actor)
    _mock_only(session, sitting)
    done = 0
    for s in board(session, sitting.id).seats:
        if s.status in ("in_exam", "locked"):
            attempts_.submit(session, session.get(Attempt, s.attempt_id), reason="proctor", actor=actor)
            done += 1
    audit.record(session, "console.mock_collect", actor=actor, target=f"sitting:{sitting.id}", detail={"count": done})
    return done


# --- the violation catalogue (P3) and the resume log (P4) --------------------------------
def save_violation_code(session: Session, code: str, text: str, *, active: bool, actor: str = "") -> ViolationCode:
    """Add a code to the catalogue or change one (a code is never deleted: registered
    violations name it; an unused one is made inactive)."""
    access.check_admin(actor)
    import re

    code = (code or "").strip().upper()
    if not re.match(r"^[A-Z0-9]{2,16}$", code):
        raise Invalid(N_("A violation code is 2 to 16 letters or digits, e.g. A101."))
    text = _clean(text, 300)
    if not text:
        raise Invalid(N_("Describe the violation the code stands for."))
    catalogue(session)
    row = session.get(ViolationCode, code)
    before = None if row is None else {"text": row.text, "active": row.active}
    if row is None:
        row = ViolationCode(code=code, text=text, active=bool(active))
        session.add(row)
    else:
        row.text, row.active = text, bool(active)
    session.flush()
    audit.record(session, "console.violation_code", actor=actor, target=f"violation_code:{code}",
                 detail={"before": before, "after": {"text": text, "active": bool(active)}})
    return row


def resume_log(session: Session, sitting_id: int, *, actor: str = "") -> list[dict[str, Any]]:
    current = board(session, sitting_id, actor=actor)
    by_attempt = {s.attempt_id: s for s in current.seats if s.attempt_id}
    rows = session.scalars(select(AttemptLog).where(AttemptLog.attempt_id.in_(list(by_attempt)),
                                                    AttemptLog.action == "breakpoint_resume")
                           .order_by(AttemptLog.at, AttemptLog.id)) if by_attempt else []
    return [{"at": r.at, "admission_number": by_attempt[r.attempt_id].admission_number,
             "name": by_attempt[r.attempt_id].name, "reason": (r.detail or {}).get("reason", ""),
             "description": (r.detail or {}).get("description", ""),
             "lost_seconds": (r.detail or {}).get("lost_seconds", 0), "by": r.actor} for r in rows]


def resume_log_csv(session: Session, sitting_id: int, *, actor: str = "") -> str:
    return csv_export.text([["time", "admission_number", "name", "reason", "description", "lost_seconds", "by"]] + [
        [r["at"], r["admission_number"], r["name"], r["reason"], r["description"], r["lost_seconds"], r["by"]]
        for r in resume_log(session, sitting_id, actor=actor)])
