"""Who is signed in, and what they may do in a course. Views call these; services never do."""
from __future__ import annotations

from flask import abort, session
from sqlalchemy import select

from bridge.extensions import db
from bridge.models.users import Course, CourseMember, User


def current_user() -> User | None:
    uid = session.get("user_id")
    return db.session.get(User, uid) if uid else None


def require_user() -> User:
    user = current_user()
    if user is None:
        abort(401)
    return user


def sign_in(user: User, *, locale: str | None = None, **extra) -> None:
    """Start a fresh session (anti-fixation) for ``user``."""
    session.clear()
    session["user_id"] = user.id
    if locale:
        session["locale"] = locale
    session.update(extra)
    session.permanent = False


def membership(user: User, course_id: int) -> CourseMember | None:
    return db.session.scalars(select(CourseMember).where(
        CourseMember.course_id == course_id, CourseMember.user_id == user.id)).first()


def require_course(course_id: int, *roles: str) -> tuple[User, Course, CourseMember | None]:
    """The user, the course and their membership; 403 unless their role is in ``roles``
    (a tool admin passes every check; a designated proctor counts as 'proctor')."""
    user = require_user()
    course = db.session.get(Course, course_id)
    if course is None:
        abort(404)
    member = membership(user, course_id)
    if user.is_admin:
        return user, course, member
    if member is None or not member.active:
        abort(403)
    effective = {member.role} | ({"proctor"} if member.designated_proctor else set())
    if roles and not effective & set(roles) and "admin" not in effective:
        abort(403)
    return user, course, member
