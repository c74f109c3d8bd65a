"""Names and Role Provisioning Services: the course roster from the LMS (L4).

``sync_roster`` reads every page of the course's membership container, then upserts users and
course members in the caller's transaction (it only flushes). The roster is fetched completely
before the first write, so a failed fetch changes nothing.

Rules that come from what Moodle really sends (LTI-NOTES, "What a real Moodle 4.5.6 sent"):

* Roster roles are short names ("Learner", "Instructor"); ``core.roles`` accepts both forms.
* Moodle's non-editing teacher is Instructor at launch but "Learner" in the roster. A role
  that came from a launch is therefore never lowered by the roster: the stronger one stays.
* Site administrators open courses without being enrolled, so they are missing from the
  roster; an administrator membership that came from a launch is not deactivated for that.
* ``designated_proctor`` is the teacher's decision inside the tool; the roster never touches it.
"""
from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.users import Course, CourseMember, User
from bridge.services import audit
from lms_plugin.core import roles as role_map
from lms_plugin.errors import ServiceError
from lms_plugin.services import service_token

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
INACTIVE_STATUSES = {"inactive", "deleted"}


@dataclasses.dataclass(frozen=True)
class Member:
    """One person in a membership page, as the LMS described them."""

    user_id: str
    roles: tuple[str, ...]
    status: str = "Active"
    name: str = ""
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    sourcedid: str = ""

    @property
    def active(self) -> bool:
        return self.status.strip().lower() not in INACTIVE_STATUSES

    @property
    def tool_role(self) -> str | None:
        return role_map.map_roles(self.roles)


@dataclasses.dataclass(frozen=True)
class SyncResult:
    added: int
    updated: int
    deactivated: int
    total: int  # people the LMS listed (whatever their status or role)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_membership_page(body: Any) -> list[Member]:
    """The members of one membership-container page. Entries without a ``user_id`` are
    skipped; a missing ``status`` means Active (NRPS 2.0)."""
    if not isinstance(body, dict):
        raise ServiceError("The LMS roster is not a membership container (expected a JSON "
                           "object with 'members').", reason="bad_roster", retryable=False)
    entries = body.get("members") or []
    if not isinstance(entries, list):
        raise ServiceError("The LMS roster's 'members' is not a list.", reason="bad_roster",
                           retryable=False)
    members = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        user_id = entry.get("user_id")
        if isinstance(user_id, int):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not user_id.strip():
            continue
        raw_roles = entry.get("roles") or []
        members.append(Member(
            user_id=user_id.strip(),
            roles=tuple(r for r in raw_roles if isinstance(r, str)) if isinstance(raw_roles, list) else (),
            status=_text(entry.get("status")) or "Active",
            name=_text(entry.get("name")),
            given_name=_text(entry.get("given_name")),
            family_name=_text(entry.get("family_name")),
            email=_text(entry.get("email")),
            sourcedid=_text(entry.get("lis_person_sourcedid")),
        ))
    return members


next_link = service_token.next_link  # re-exported: the contract tests read it from here


def fetch_members(creds: service_token.PlatformCredentials, url: str) -> list[Member]:
    """Every member on every page, following rel="next" links."""
    members: list[Member] = []
    for body in service_token.get_pages(creds, url, scopes={service_token.SCOPE_NRPS},
                                        accept=MEDIA_TYPE, what="send the course roster"):
        members.extend(parse_membership_page(body))
    return members


def _merge(members: Iterable[Member]) -> dict[str, Member]:
    """One entry per user id: an LMS that lists someone twice (two pages, two roles) gets
    their roles combined, and they are active if any entry says so."""
    merged: dict[str, Member] = {}
    for m in members:
        prev = merged.get(m.user_id)
        if prev is None:
            merged[m.user_id] = m
            continue
        roles = prev.roles + tuple(r for r in m.roles if r not in prev.roles)
        status = "Active" if (prev.active or m.active) else m.status
        merged[m.user_id] = dataclasses.replace(m, roles=roles, status=status)
    return merged


def _insert_or_get(session: Session, obj, stmt) -> tuple[Any, bool]:
    """Insert ``obj`` inside a savepoint and return (obj, True); if a concurrent launch
    inserted the same row first (unique constraint), return (that row, False)."""
    try:
        with session.begin_nested():
            session.add(obj)
        return obj, True
    except IntegrityError:
        existing = session.scalars(stmt).first()
        if existing is None:
            raise
        return existing, False


def _update_user(user: User, m: Member) -> bool:
    """Copy the roster's details onto the user; empty values (privacy settings) keep ours."""
    changed = False
    for attr, value in (("name", m.name), ("given_name", m.given_name),
                        ("family_name", m.family_name), ("email", m.email),
                        ("sourcedid", m.sourcedid)):
        if value and getattr(user, attr) != value:
            setattr(user, attr, value)
            changed = True
    return changed


def _apply(member: CourseMember, m: Member, role: str, now) -> bool:
    """Bring an existing membership in line with the roster; True if anything changed."""
    before = (member.role, list(member.lms_roles or []), member.active, member.source)
    if member.source == "launch" and role_map.outranks(member.role, role):
        pass  # never downgrade a launch role (Moodle's non-editing teacher is "Learner" here)
    else:
        member.role, member.lms_roles, member.source = role, list(m.roles), "nrps"
    member.active = m.active
    after = (member.role, list(member.lms_roles or []), member.active, member.source)
    if after != before:
        member.updated_at = now
        return True
    return False


def _sync_person(session: Session, course: Course, platform_id: int, m: Member,
                 user: User | None, members: dict[int, CourseMember], now
                 ) -> tuple[User, str | None]:
    """Upsert one listed person; returns their user and 'added', 'updated', 'deactivated'
    or None (nothing changed)."""
    role = m.tool_role
    user_changed = False
    if user is None:
        user, _created = _insert_or_get(
            session, User(platform_id=platform_id, lti_sub=m.user_id, name=m.name,
                          given_name=m.given_name, family_name=m.family_name, email=m.email,
                          sourcedid=m.sourcedid),
            select(User).where(User.platform_id == platform_id, User.lti_sub == m.user_id))
    else:
        user_changed = _update_user(user, m)
    member = members.get(user.id)
    if member is None:
        member, created = _insert_or_get(
            session, CourseMember(course_id=course.id, user_id=user.id, role=role,
                                  lms_roles=list(m.roles), active=m.active, source="nrps",
                                  updated_at=now),
            select(CourseMember).where(CourseMember.course_id == course.id,
                                       CourseMember.user_id == user.id))
        if created:
            return user, "added"
    was_active = member.active
    if not (_apply(member, m, role, now) or user_changed):
        return user, None
    return user, "deactivated" if was_active and not member.active else "updated"


def _deactivate_absent(members: Iterable[CourseMember], present: set[int], now) -> int:
    """Members the roster no longer lists become inactive; returns how many."""
    count = 0
    for member in members:
        if member.user_id in present or not member.active:
            continue
        if member.source == "launch" and member.role == "admin":
            continue  # site admins are not enrolled, so never in the roster
        member.active = False
        member.updated_at = now
        count += 1
    return count


def sync_roster(session: Session, course: Course, *, actor: str) -> SyncResult:
    """Fetch the course roster from the LMS and bring users and memberships in line with it.

    New people are added; known people get the roster's role, details and status; members the
    roster no longer lists become inactive (never deleted); a re-sync adds nobody twice.
    """
    if not course.nrps_url:
        raise ServiceError("The LMS has not offered its roster service for this course. Enable "
                           "'IMS LTI Names and Role Provisioning' in the tool's settings in the "
                           "LMS, then launch the tool from the course again.",
                           reason="no_nrps", retryable=False)
    platform = course.deployment.platform
    creds = service_token.credentials(session, platform)
    listed = fetch_members(creds, course.nrps_url)
    roster = _merge(listed)
    now = clock.utcnow_naive()

    users: dict[str, User] = {}
    subs = list(roster)
    for i in range(0, len(subs), 500):
        users.update({u.lti_sub: u for u in session.scalars(select(User).where(
            User.platform_id == platform.id, User.lti_sub.in_(subs[i:i + 500])))})
    members = {m.user_id: m for m in session.scalars(
        select(CourseMember).where(CourseMember.course_id == course.id))}

    counts: Counter[str] = Counter()
    present: set[int] = set()
    for sub, listed_member in roster.items():
        if listed_member.tool_role is None:
            continue  # roles that grant no access here (Mentor, …): treated as not listed
        user, change = _sync_person(session, course, platform.id, listed_member,
                                    users.get(sub), members, now)
        present.add(user.id)
        if change:
            counts[change] += 1
    counts["deactivated"] += _deactivate_absent(members.values(), present, now)

    course.roster_synced_at = now
    session.flush()
    result = SyncResult(added=counts["added"], updated=counts["updated"],
                        deactivated=counts["deactivated"], total=len(roster))
    audit.record(session, "roster.sync", actor=actor, target=f"course:{course.id}",
                 detail=dataclasses.asdict(result))
    return result
