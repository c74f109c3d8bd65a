"""Role mapping (L4): full URIs, Moodle's short roster names and LTI 1.1 URNs."""
from __future__ import annotations

import pytest

from lms_plugin.core.roles import (CONTEXT_ADMIN, INSTITUTION_ADMIN, INSTRUCTOR, LEARNER, LIS,
                                   MEMBERSHIP, SYSTEM_ADMIN, TEACHING_ASSISTANT, map_roles,
                                   normalize_role, outranks)

pytestmark = pytest.mark.req("L4")


@pytest.mark.parametrize("role, full", [
    ("Instructor", INSTRUCTOR),
    ("Learner", LEARNER),
    ("  Learner ", LEARNER),
    ("TeachingAssistant", TEACHING_ASSISTANT),
    ("Administrator", CONTEXT_ADMIN),
    ("Mentor", MEMBERSHIP + "Mentor"),
    (INSTRUCTOR, INSTRUCTOR),
    (SYSTEM_ADMIN, SYSTEM_ADMIN),
    ("urn:lti:role:ims/lis/Learner", LEARNER),
    ("urn:lti:role:ims/lis/TeachingAssistant", TEACHING_ASSISTANT),
    ("urn:lti:role:ims/lis/Instructor/TeachingAssistant", TEACHING_ASSISTANT),
    ("urn:lti:instrole:ims/lis/Administrator", INSTITUTION_ADMIN),
    ("urn:lti:sysrole:ims/lis/Administrator", SYSTEM_ADMIN),
    ("", ""),
])
def test_normalize_role_gives_full_uris(role, full):
    assert normalize_role(role) == full


@pytest.mark.parametrize("roles, expected", [
    # what Moodle 4.5.6 sent (launch-*.json, service-04)
    ([INSTRUCTOR], "teacher"),
    ([LEARNER], "candidate"),
    ([INSTRUCTOR, INSTITUTION_ADMIN, SYSTEM_ADMIN], "admin"),
    (["Instructor"], "teacher"),
    (["Learner"], "candidate"),
    # administrators: system, institution or course level
    ([SYSTEM_ADMIN], "admin"),
    ([INSTITUTION_ADMIN, LEARNER], "admin"),
    (["Administrator"], "admin"),
    # a TA is a proctor even when the principal Instructor role is sent with the sub-role
    ([TEACHING_ASSISTANT], "proctor"),
    ([INSTRUCTOR, TEACHING_ASSISTANT], "proctor"),
    (["TeachingAssistant", "Instructor"], "proctor"),
    ([LIS + "membership/Instructor#TeachingAssistantSection"], "proctor"),
    ([LEARNER, TEACHING_ASSISTANT], "proctor"),
    ([SYSTEM_ADMIN, TEACHING_ASSISTANT], "admin"),
    # precedence among principal roles
    ([LEARNER, INSTRUCTOR], "teacher"),
    ([MEMBERSHIP + "Mentor", LEARNER], "candidate"),
    # roles that grant nothing here: no access
    ([MEMBERSHIP + "ContentDeveloper"], None),
    ([MEMBERSHIP + "Mentor"], None),
    (["Mentor", "Member"], None),
    ([LIS + "institution/person#Faculty"], None),
    ([LIS + "membership/Instructor#Grader"], None),
    (["http://example.com/roles#Wizard"], None),
    ([], None),
])
def test_map_roles(roles, expected):
    assert map_roles(roles) == expected


def test_map_roles_ignores_non_strings():
    assert map_roles([None, 3, "Learner"]) == "candidate"


def test_a_role_uri_is_compared_whole_not_by_suffix():
    # "…#Instructor" inside another vocabulary is not the LIS Instructor
    assert map_roles(["http://example.com/vocab#Instructor"]) is None


def test_outranks_follows_admin_teacher_proctor_candidate():
    assert outranks("admin", "teacher") and outranks("teacher", "proctor")
    assert outranks("proctor", "candidate") and outranks("candidate", None)
    assert not outranks("candidate", "teacher") and not outranks("teacher", "teacher")
