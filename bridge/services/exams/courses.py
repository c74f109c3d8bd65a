"""Course membership: who is teacher, proctor or candidate, as the LMS and teachers say."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from bridge import clock
from bridge.errors import Invalid, NotFound
from bridge.models.users import CourseMember
from bridge.services import audit


def members(session: Session, course_id: int, *, role: str | None = None) -> list[CourseMember]:
    stmt = (select(CourseMember).options(joinedload(CourseMember.user))
            .where(CourseMember.course_id == course_id).order_by(CourseMember.id))
    if role:
        stmt = stmt.where(CourseMember.role == role)
    return list(session.scalars(stmt))


def designate_proctor(session: Session, course_id: int, user_id: int, *, on: bool,
                      actor_id: int) -> CourseMember:
    """A teacher marks a course member as proctor (or not). Moodle sends no TA role, and its
    non-editing teacher looks like a teacher at launch and a learner in the roster."""
    member = session.scalars(select(CourseMember).where(
        CourseMember.course_id == course_id, CourseMember.user_id == user_id)).first()
    if member is None:
        raise NotFound("That person is not in this course. Sync the roster first.")
    if member.role == "admin":
        raise Invalid("Administrators already hold every right; they need no designation.")
    before = member.designated_proctor
    member.designated_proctor = on
    member.updated_at = clock.utcnow_naive()
    audit.record(session, "course.designate_proctor", actor=f"user:{actor_id}",
                 target=f"course:{course_id}/user:{user_id}",
                 detail={"before": before, "after": on})
    return member
