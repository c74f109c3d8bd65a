"""Roster sync through NRPS (L4), against a Moodle-shaped LMS over real sockets."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bridge import clock
from bridge.models.audit import AuditEntry
from bridge.models.users import CourseMember, User
from lms_plugin.errors import ServiceError
from lms_plugin.services import nrps
from lms_plugin.services.service_token import SCOPE_NRPS
from tests.lti.factories import (MEMBERSHIPS_PATH, add_member, copy_members, fresh_tokens,  # noqa: F401
                                 make_course, make_platform, make_user, moodle)

pytestmark = pytest.mark.req("L4")

NRPS_MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


@pytest.fixture
def course(db_session, moodle):
    platform = make_platform(db_session, moodle.origin)
    course = make_course(db_session, platform)
    db_session.commit()
    return course


def _members(db_session, course) -> dict[str, CourseMember]:
    rows = db_session.scalars(select(CourseMember).where(CourseMember.course_id == course.id))
    return {m.user.lti_sub: m for m in rows}


# --- pure parsing -------------------------------------------------------------------------
def test_parse_membership_page_defaults_and_skips():
    members = nrps.parse_membership_page({"members": [
        {"user_id": "9", "roles": ["Learner"]},                       # no status: Active
        {"user_id": 10, "roles": ["Instructor"], "status": "Inactive"},  # numeric id
        {"roles": ["Learner"]},                                        # no user id: skipped
        "garbage",
        {"user_id": "11", "roles": "Learner", "status": "Deleted"},    # roles not a list
    ]})
    assert [(m.user_id, m.active, m.tool_role) for m in members] == [
        ("9", True, "candidate"), ("10", False, "teacher"), ("11", False, None)]


def test_parse_membership_page_rejects_non_containers():
    with pytest.raises(ServiceError) as err:
        nrps.parse_membership_page(["not", "a", "container"])
    assert err.value.reason == "bad_roster" and not err.value.retryable
    assert nrps.parse_membership_page({"id": "x"}) == []


@pytest.mark.parametrize("headers, expected", [
    ({}, None),
    (None, None),
    ({"Link": '<https://lms.example/m?p=2>; rel="next"'}, "https://lms.example/m?p=2"),
    ({"link": "<https://lms.example/m?p=2>; rel=next"}, "https://lms.example/m?p=2"),
    ({"Link": '<https://lms.example/m?p=1>; rel="prev", <https://lms.example/m?p=3>; rel="next"'},
     "https://lms.example/m?p=3"),
    ({"Link": '<https://lms.example/d>; rel="differences"'}, None),
    ({"Link": '</m?page=2>; rel="next last"'}, "/m?page=2"),
])
def test_next_link(headers, expected):
    assert nrps.next_link(headers) == expected


# --- sync ---------------------------------------------------------------------------------
def test_first_sync_adds_everyone_with_mapped_roles(db_session, course, moodle):
    result = nrps.sync_roster(db_session, course, actor="user:1")
    db_session.commit()

    assert (result.added, result.updated, result.deactivated, result.total) == (5, 0, 0, 5)
    members = _members(db_session, course)
    assert {sub: m.role for sub, m in members.items()} == {
        "3": "teacher", "4": "candidate", "5": "candidate", "6": "candidate", "7": "candidate"}
    assert all(m.source == "nrps" and m.active for m in members.values())
    assert members["3"].lms_roles == ["Instructor"]
    sam = members["5"].user
    assert (sam.platform_id, sam.name, sam.email, sam.sourcedid) == (
        course.deployment.platform.id, "Sam Student", "student1@example.invalid", "STUDENT1")
    assert course.roster_synced_at is not None
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "roster.sync")).one()
    assert entry.detail == {"added": 5, "updated": 0, "deactivated": 0, "total": 5}
    assert entry.actor == "user:1" and entry.target == f"course:{course.id}"


def test_sync_requests_the_roster_properly(db_session, course, moodle):
    nrps.sync_roster(db_session, course, actor="user:1")
    (get,) = moodle.calls("GET", MEMBERSHIPS_PATH)
    assert get.headers["Accept"] == NRPS_MEDIA
    assert get.headers["Authorization"].startswith("Bearer tok-")
    (token,) = moodle.calls("POST", "/token.php")
    assert token.form()["scope"] == SCOPE_NRPS  # only the scope this call needs
    assert moodle.assertion_errors == []


def test_resync_never_duplicates_people(db_session, course, moodle):
    nrps.sync_roster(db_session, course, actor="t")
    db_session.commit()
    again = nrps.sync_roster(db_session, course, actor="t")
    db_session.commit()

    assert (again.added, again.updated, again.deactivated, again.total) == (0, 0, 0, 5)
    assert db_session.scalar(select(func.count()).select_from(User)) == 5
    assert db_session.scalar(select(func.count()).select_from(CourseMember)) == 5
    assert len(moodle.calls("POST", "/token.php")) == 1  # the token was cached


def test_launch_people_are_matched_not_duplicated(db_session, course, moodle):
    platform = course.deployment.platform
    sam = make_user(db_session, platform, "5", name="Sam S.")
    add_member(db_session, course, sam, role="candidate", source="launch")
    db_session.commit()

    result = nrps.sync_roster(db_session, course, actor="t")
    assert (result.added, result.updated) == (4, 1)  # Sam: new name, source nrps
    assert db_session.scalar(select(func.count()).select_from(User).where(User.lti_sub == "5")) == 1
    assert _members(db_session, course)["5"].user.name == "Sam Student"


def test_noneditting_teacher_from_launch_is_never_downgraded(db_session, course, moodle):
    """Moodle: Nora is Instructor at launch (mod/lti:manage) but "Learner" in the roster."""
    platform = course.deployment.platform
    nora = make_user(db_session, platform, "4", name="Nora NonEditing")
    add_member(db_session, course, nora, role="teacher", source="launch",
               lms_roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"])
    db_session.commit()

    nrps.sync_roster(db_session, course, actor="t")
    nrps.sync_roster(db_session, course, actor="t")  # and not on the next sync either
    member = _members(db_session, course)["4"]
    assert (member.role, member.source, member.active) == ("teacher", "launch", True)
    assert member.lms_roles == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]


def test_roster_can_raise_a_launch_role(db_session, course, moodle):
    platform = course.deployment.platform
    tess = make_user(db_session, platform, "3")
    add_member(db_session, course, tess, role="candidate", source="launch")
    db_session.commit()

    nrps.sync_roster(db_session, course, actor="t")
    member = _members(db_session, course)["3"]
    assert (member.role, member.source) == ("teacher", "nrps")


def test_designated_proctor_is_left_alone(db_session, course, moodle):
    nrps.sync_roster(db_session, course, actor="t")
    _members(db_session, course)["6"].designated_proctor = True
    db_session.commit()

    result = nrps.sync_roster(db_session, course, actor="t")
    member = _members(db_session, course)["6"]
    assert member.designated_proctor is True and member.role == "candidate"
    assert result.updated == 0


def test_people_who_leave_become_inactive_not_deleted(db_session, course, moodle):
    nrps.sync_roster(db_session, course, actor="t")
    db_session.commit()
    members = copy_members()
    moodle.roster_pages = [[m for m in members if m["user_id"] != "7"]]
    for m in members:
        if m["user_id"] == "6":
            m["status"] = "Inactive"

    result = nrps.sync_roster(db_session, course, actor="t")
    db_session.commit()
    by_sub = _members(db_session, course)
    assert (result.added, result.deactivated, result.total) == (0, 2, 4)
    assert by_sub["7"].active is False and by_sub["6"].active is False
    assert by_sub["5"].active is True
    assert db_session.scalar(select(func.count()).select_from(CourseMember)) == 5

    moodle.roster_pages = None  # they are back
    back = nrps.sync_roster(db_session, course, actor="t")
    assert (back.added, back.updated, back.deactivated) == (0, 2, 0)
    assert all(m.active for m in _members(db_session, course).values())


def test_site_admin_from_launch_survives_absence_from_roster(db_session, course, moodle):
    """Moodle site admins open any course without being enrolled: they are never listed."""
    admin = make_user(db_session, course.deployment.platform, "2", name="Admin User")
    add_member(db_session, course, admin, role="admin", source="launch")
    db_session.commit()

    result = nrps.sync_roster(db_session, course, actor="t")
    assert result.deactivated == 0
    assert _members(db_session, course)["2"].active is True


def test_roles_without_access_are_not_added(db_session, course, moodle):
    moodle.roster_pages = [[{"user_id": "40", "roles": ["Mentor"], "name": "A Parent"},
                            {"user_id": "41", "roles": ["Learner"], "name": "A Student"}]]
    result = nrps.sync_roster(db_session, course, actor="t")
    assert (result.added, result.total) == (1, 2)
    assert set(_members(db_session, course)) == {"41"}


def test_follows_next_links_across_pages(db_session, course, moodle):
    members = copy_members()
    moodle.roster_pages = [members[:2], members[2:4], members[4:]]
    result = nrps.sync_roster(db_session, course, actor="t")

    assert (result.added, result.total) == (5, 5)
    gets = moodle.calls("GET", MEMBERSHIPS_PATH)
    assert [g.query for g in gets] == ["", "page=2", "page=3"]
    assert all(g.headers["Accept"] == NRPS_MEDIA for g in gets)


def test_a_failed_fetch_changes_nothing(db_session, course, moodle):
    moodle.outage = 503
    with pytest.raises(ServiceError) as err:
        nrps.sync_roster(db_session, course, actor="t")
    assert err.value.retryable
    assert db_session.scalar(select(func.count()).select_from(CourseMember)) == 0
    assert course.roster_synced_at is None


def test_course_without_roster_service(db_session, moodle):
    platform = make_platform(db_session, moodle.origin)
    course = make_course(db_session, platform, nrps=False)
    with pytest.raises(ServiceError) as err:
        nrps.sync_roster(db_session, course, actor="t")
    assert err.value.reason == "no_nrps" and "Names and Role Provisioning" in err.value.message
    assert moodle.requests == []


def test_roster_url_on_another_host_gets_no_token(db_session, course, moodle):
    # the same server, but reached under a name that is not the issuer's host
    course.nrps_url = moodle.origin.replace("127.0.0.1", "localhost") + MEMBERSHIPS_PATH
    with pytest.raises(ServiceError) as err:
        nrps.sync_roster(db_session, course, actor="t")
    assert err.value.reason == "foreign_service_host" and not err.value.retryable
    assert "platform's own host" in err.value.message
    assert moodle.requests == []


def test_sync_time_comes_from_the_clock(db_session, course, moodle):
    clock.set_offset(86400)
    try:
        nrps.sync_roster(db_session, course, actor="t")
        expected = clock.utcnow_naive()
    finally:
        clock.set_offset(0)
    assert abs((expected - course.roster_synced_at).total_seconds()) < 5


def test_a_launch_that_creates_the_same_person_meanwhile_is_absorbed(db_session, course, moodle,
                                                                     monkeypatch):
    """PostgreSQL: a student's first launch commits their user while the sync runs; the sync's
    insert hits the unique constraint and takes the launch's row instead of failing."""
    from sqlalchemy.orm import Session

    from bridge.extensions import db

    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises writers")
    platform_id = course.deployment.platform.id
    real = nrps._insert_or_get

    def racing(session, obj, stmt):
        if isinstance(obj, User) and obj.lti_sub == "5":
            with Session(db.engine) as other, other.begin():  # the launch, in another worker
                other.add(User(platform_id=platform_id, lti_sub="5", name="Sam (launch)"))
        return real(session, obj, stmt)

    monkeypatch.setattr(nrps, "_insert_or_get", racing)
    result = nrps.sync_roster(db_session, course, actor="t")
    db_session.commit()
    assert (result.added, result.total) == (5, 5)
    assert db_session.scalar(select(func.count()).select_from(User).where(User.lti_sub == "5")) == 1
    assert _members(db_session, course)["5"].user.name == "Sam (launch)"
