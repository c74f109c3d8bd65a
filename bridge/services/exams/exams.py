"""Exams in a course: create and list. Papers and sessions arrive with the content issue."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import Invalid, NotFound
from bridge.i18n import N_
from bridge.models.exams import Exam
from bridge.models.users import Course
from bridge.services import audit

MAX_DURATION_MINUTES = 24 * 60  # the message below states this number


def create_exam(session: Session, course: Course, *, title: str, duration_minutes,
                actor_id: int | None, score_maximum: float = 100.0) -> Exam:
    title = (title or "").strip()
    errors = {}
    if not title:
        errors["title"] = N_("Give the exam a name.")
    elif len(title) > 300:
        errors["title"] = N_("The name may have at most 300 characters.")
    try:
        minutes = int(str(duration_minutes).strip())
        if not 1 <= minutes <= MAX_DURATION_MINUTES:
            raise ValueError
    except (TypeError, ValueError):
        errors["duration_minutes"] = N_("The duration is a whole number of minutes from 1 to 1440.")
    if errors:
        message = " ".join(errors.values())
        exc = Invalid(message)
        exc.fields = errors  # type: ignore[attr-defined]
        raise exc
    exam = Exam(course_id=course.id, title=title, duration_minutes=minutes,
                score_maximum=score_maximum, created_by_id=actor_id)
    session.add(exam)
    session.flush()
    audit.record(session, "exam.create", actor=f"user:{actor_id}", target=f"exam:{exam.id}",
                 detail={"title": title, "duration_minutes": minutes, "course": course.id})
    return exam


def list_exams(session: Session, course_id: int) -> list[Exam]:
    return list(session.scalars(select(Exam).where(Exam.course_id == course_id).order_by(Exam.created_at, Exam.id)))


def get_exam(session: Session, exam_id: int) -> Exam:
    exam = session.get(Exam, exam_id)
    if exam is None:
        raise NotFound("That exam does not exist (it may have been removed).")
    return exam
