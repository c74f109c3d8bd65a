"""Who is signed in, and what they may do in a course. Views call these; services never do."""
from __future__ import annotations

from flask import abort, current_app, request, session

from bridge import clock
from sqlalchemy import select

from bridge.extensions import db
from bridge.i18n import N_
from bridge.models.users import Course, CourseMember, User


_UNSET = object()
STATION_COOKIE = "exambridge_station"  # the proctor station's token (bridge.web.station)


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


def current_actor():
    """The signed-in person as a scoped actor (``bridge.services.people.access.Actor``), once per
    request; None when nobody is signed in. A browser holding a room's registered proctor
    station cookie acts from that room's station."""
    cached = getattr(request, "_exambridge_actor", _UNSET)  # per request (an app context may span several)
    if cached is not _UNSET:
        return cached
    from bridge.services.people import access
    from bridge.services.venue import stations

    user = current_user()
    actor = None
    if user is not None:
        station = stations.station(db.session, request.cookies.get(STATION_COOKIE), touch=False)
        actor = access.actor_for(db.session, user, station_room=station.room_id if station else None)
    request._exambridge_actor = actor
    return actor


def require_staff(*roles: str):
    """The signed-in staff member's actor: the global admin, or an account holding a grant
    (of one of ``roles`` when given). 401 when nobody is signed in, 403 for anyone else."""
    require_user()
    actor = current_actor()
    if not actor.admin and not (actor.roles() & set(roles or ("site_admin", "proctor", "authority"))):
        abort(403)
    return actor


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


# (endpoint, label, roles that see it): the staff menu, in the order people use it
STAFF_LINKS = (
    ("site.list_sites", N_("Exam sites"), {"admin", "site_admin"}),
    ("console.home", N_("Proctor console"), {"admin", "site_admin", "proctor"}),
    ("admin.authcodes_page", N_("Authorization codes"), {"admin", "authority"}),
    ("admin.accounts", N_("Staff accounts"), {"admin"}),
    ("admin.registration_periods", N_("Registration periods"), {"admin"}),
    ("admin.platforms", N_("LMS platforms"), {"admin"}),
    ("admin.audit_log", N_("Audit log"), {"admin"}),
    ("site.password", N_("Change password"), {"admin", "site_admin", "proctor", "authority"}),
)


def staff_links() -> list[tuple[str, str]]:
    """The staff menu of the signed-in person: (endpoint, label) for each page they may open."""
    actor = current_actor()
    if actor is None or not actor.is_staff:
        return []
    roles = actor.roles()
    return [(endpoint, label) for endpoint, label, who in STAFF_LINKS if roles & who]


def home_for(actor) -> str:
    """Where a staff member lands after signing in: their first page."""
    if actor is not None and actor.admin:
        return "admin.platforms"
    links = staff_links() if actor is not None else []
    return links[0][0] if links else "main.index"
