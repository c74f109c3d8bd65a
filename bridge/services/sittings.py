"""Sessions (场次) of an exam and the candidates assigned to them from the LMS roster (C3 §4)."""
from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import Conflict, Invalid, NotFound
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
    sitting = ExamSession(exam_id=exam.id, name=name[:200], starts_at=starts_at.replace(tzinfo=None),
                          exam_code=new_exam_code(session) if remote else None)
    session.add(sitting)
    session.flush()
    audit.record(session, "session.create", actor=f"user:{actor_id}", target=f"session:{sitting.id}",
                 detail={"exam": exam.id, "starts_at": sitting.starts_at.isoformat(), "remote": remote})
    return sitting


def assign(session: Session, sitting: ExamSession, user_ids: list[int], *, actor_id: int) -> int:
    """Put active candidates of the exam's course into this session (each in one session of
    the exam: assigning moves them). Returns how many were assigned."""
    exam = session.get(Exam, sitting.exam_id)
    members = {m.user_id for m in session.scalars(select(CourseMember).where(
        CourseMember.course_id == exam.course_id, CourseMember.active.is_(True), CourseMember.role == "candidate"))}
    unknown = [u for u in user_ids if u not in members]
    if unknown:
        raise NotFound("Some of them are not candidates of this course; sync the roster and choose again.")
    existing = {c.user_id: c for c in session.scalars(select(SessionCandidate).where(
        SessionCandidate.exam_id == exam.id, SessionCandidate.user_id.in_(user_ids)))}
    for uid in user_ids:
        row = existing.get(uid)
        if row is None:
            session.add(SessionCandidate(session_id=sitting.id, user_id=uid, exam_id=exam.id))
        elif row.session_id != sitting.id:  # moved: the old session's seat and admission number go
            row.session_id = sitting.id
            row.room_id = row.sequence = row.seat_number = row.admission_number = None
    session.flush()
    audit.record(session, "session.assign", actor=f"user:{actor_id}", target=f"session:{sitting.id}",
                 detail={"users": user_ids})
    return len(user_ids)


def session_of(session: Session, exam_id: int, user_id: int) -> ExamSession | None:
    row = session.scalars(select(SessionCandidate).where(SessionCandidate.exam_id == exam_id,
                                                         SessionCandidate.user_id == user_id)).first()
    return session.get(ExamSession, row.session_id) if row else None
