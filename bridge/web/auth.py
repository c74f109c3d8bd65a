"""Who is signed in, and what they may do in a course. Views call these; services never do."""
from __future__ import annotations

from flask import abort, current_app, session

from bridge import clock
from sqlalchemy import select

from bridge.extensions import db
from bridge.models.users import Course, CourseMember, User


def signed_in_user_id() -> int | None:
    """The signed-in user's id without loading the row (the autosave hot path); None when
    nobody is, or when the sign-in is older than ``EXAMBRIDGE_SESSION_HOURS`` (a signed
    cookie cannot be revoked, so it must expire; the session is then cleared)."""
    uid = session.get("user_id")
    if not uid:
        return None
    hours = current_app.config["EXAMBRIDGE_SESSION_HOURS"]
    if clock.timestamp() - float(session.get("signed_in_at", 0)) > hours * 3600:
        session.clear()
        return None
    return uid


def current_user() -> User | None:
    uid = signed_in_user_id()
    return db.session.get(User, uid) if uid else None


def require_user() -> User:
    user = current_user()
    if user is None:
        abort(401)
    return user


def require_admin() -> User:
    """The signed-in administrator (401 when nobody is signed in, 403 for anyone else)."""
    user = require_user()
    if not user.is_admin:
        abort(403)
    return user


def sign_in(user: User, *, locale: str | None = None, **extra) -> None:
    """Start a fresh session (anti-fixation) for ``user``."""
    session.clear()
    session["user_id"] = user.id
    session["signed_in_at"] = clock.timestamp()
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
