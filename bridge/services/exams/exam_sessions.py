"""Sessions (场次) of an exam and the candidates assigned to them from the LMS roster (L4)."""
from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Invalid, NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, SessionCandidate
from bridge.models.users import CourseMember
from bridge.services import audit


def new_exam_code(session: Session) -> str:
    """A 6-digit code nobody else holds. Guessing is throttled (attempts.enter_by_code)."""
    for _ in range(50):
        code = f"{secrets.randbelow(10 ** 6):06d}"
        if session.scalars(select(ExamSession.id).where(ExamSession.exam_code == code)).first() is None:
            return code
    raise Conflict("Could not find a free exam code; try again.")


def create_session(session: Session, exam: Exam, *, name: str, starts_at: dt.datetime, remote: bool,
                   actor_id: int) -> ExamSession:
    name = (name or "").strip()
    if not name:
        raise Invalid("Give the session a name (e.g. the date and time).")
    if not isinstance(starts_at, dt.datetime):
        raise Invalid("Give the session's start as a date and time.")
    exam_session = ExamSession(exam_id=exam.id, name=name[:200], starts_at=starts_at.replace(tzinfo=None),
                          exam_code=new_exam_code(session) if remote else None)
    session.add(exam_session)
    session.flush()
    audit.record(session, "session.create", actor=f"user:{actor_id}", target=f"session:{exam_session.id}",
                 detail={"exam": exam.id, "starts_at": exam_session.starts_at.isoformat(), "remote": remote})
    return exam_session


def ends_at(exam_session: ExamSession, exam: Exam) -> dt.datetime:
    """When the session's time is up: its start plus the exam's duration."""
    return exam_session.starts_at + dt.timedelta(minutes=exam.duration_minutes)


def change_refusal(session: Session, exam_session: ExamSession) -> str | None:
    """Why the session can no longer be edited or deleted (None: it still can): once it has
    started, or once a candidate has an attempt in it, it is history."""
    if session.scalar(select(Attempt.id).where(Attempt.session_id == exam_session.id).limit(1)) is not None:
        return N_("A candidate has already entered this session, so it can no longer be changed or deleted.")
    if exam_session.starts_at <= clock.utcnow_naive():
        return N_("This session has already started, so it can no longer be changed or deleted.")
    return None


def _check_changeable(session: Session, exam_session: ExamSession) -> None:
    why = change_refusal(session, exam_session)
    if why:
        raise Conflict(why)


def update_session(session: Session, exam_session: ExamSession, *, name: str, starts_at: dt.datetime, remote: bool,
                   actor_id: int) -> ExamSession:
    """Rename, move or make remote (or not) a session that has not started."""
    _check_changeable(session, exam_session)
    name = (name or "").strip()
    if not name:
        raise Invalid("Give the session a name (e.g. the date and time).")
    if not isinstance(starts_at, dt.datetime):
        raise Invalid("Give the session's start as a date and time.")
    before = {"name": exam_session.name, "starts_at": exam_session.starts_at.isoformat(), "remote": bool(exam_session.exam_code)}
    exam_session.name = name[:200]
    exam_session.starts_at = starts_at.replace(tzinfo=None)
    if remote and not exam_session.exam_code:
        exam_session.exam_code = new_exam_code(session)
    elif not remote:
        exam_session.exam_code = None
    session.flush()
    audit.record(session, "session.update", actor=f"user:{actor_id}", target=f"session:{exam_session.id}",
                 detail={"before": before, "after": {"name": exam_session.name, "starts_at": exam_session.starts_at.isoformat(),
                                                     "remote": remote}})
    return exam_session


def delete_session(session: Session, exam_session: ExamSession, *, actor_id: int) -> str:
    """Remove a session that has not started; its candidates become unassigned and its room
    placements go with it. Returns its name."""
    _check_changeable(session, exam_session)
    name, detail = exam_session.name, {"exam": exam_session.exam_id, "name": exam_session.name,
                                  "starts_at": exam_session.starts_at.isoformat(),
                                  "candidates": len(exam_session.candidates)}
    session.delete(exam_session)
    session.flush()
    audit.record(session, "session.delete", actor=f"user:{actor_id}", target=f"session:{exam_session.id}", detail=detail)
    return name


def assign(session: Session, exam_session: ExamSession, user_ids: list[int], *, actor_id: int) -> int:
    """Put active candidates of the exam's course into this session (each in one session of
    the exam: assigning moves them). Returns how many were assigned."""
    exam = session.get(Exam, exam_session.exam_id)
    members = {m.user_id for m in session.scalars(select(CourseMember).where(
        CourseMember.course_id == exam.course_id, CourseMember.active.is_(True), CourseMember.role == "candidate"))
        if not m.is_proctor}  # a proctor watches the exam, never sits it
    unknown = [u for u in user_ids if u not in members]
    if unknown:
        raise NotFound("Some of them are not candidates of this course; sync the roster and choose again.")
    existing = {c.user_id: c for c in session.scalars(select(SessionCandidate).where(
        SessionCandidate.exam_id == exam.id, SessionCandidate.user_id.in_(user_ids)))}
    for uid in user_ids:
        row = existing.get(uid)
        if row is None:
            session.add(SessionCandidate(session_id=exam_session.id, user_id=uid, exam_id=exam.id))
        elif row.session_id != exam_session.id:  # moved: the old session's seat and admission number go
            row.session_id = exam_session.id
            row.room_id = row.sequence = row.seat_number = row.admission_number = None
    session.flush()
    audit.record(session, "session.assign", actor=f"user:{actor_id}", target=f"session:{exam_session.id}",
                 detail={"users": user_ids})
    return len(user_ids)


def session_of(session: Session, exam_id: int, user_id: int) -> ExamSession | None:
    row = session.scalars(select(SessionCandidate).where(SessionCandidate.exam_id == exam_id,
                                                         SessionCandidate.user_id == user_id)).first()
    return session.get(ExamSession, row.session_id) if row else None
