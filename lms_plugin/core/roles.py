"""LMS roles → the tool's role in a course (L4). Pure: no I/O, no Flask.

Role strings arrive in three spellings: full LIS v2 URIs (launches: ``…/membership#Instructor``),
short context-role names (Moodle's NRPS roster: ``"Instructor"``, ``"Learner"``) and LTI 1.1
URNs (``urn:lti:role:ims/lis/Learner``). ``normalize_role`` turns each into one full URI so the
mapping compares full URIs only (LTI-NOTES checklist 11).

Mapping, strongest first — the result is the strongest role any string grants:

======================================================  ===========
LMS role                                                tool role
======================================================  ===========
system/person#Administrator, institution/person#Admin…  ``admin``
membership#Administrator (course-level administrator)   ``admin``
membership#Instructor                                   ``teacher``
membership/Instructor#TeachingAssistant (and its kin)   ``proctor``
membership#Learner                                      ``candidate``
anything else only (Mentor, ContentDeveloper, …)        ``None``
======================================================  ===========

A TeachingAssistant sub-role makes the person a proctor even when ``membership#Instructor`` is
sent with it (the LIS vocabulary wants the principal role sent along with a sub-role, so
counting that Instructor would make every TA a teacher). Only an administrator outranks it.

Roles that grant nothing here (Mentor, ContentDeveloper, Manager, Member, Officer, institution
roles such as Faculty or Student, and anything unknown) give ``None``: no access to the course.
A teacher can still make such a person a proctor inside the tool once they are a member.
"""
from __future__ import annotations

from typing import Iterable

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
MEMBERSHIP = LIS + "membership#"
INSTITUTION = LIS + "institution/person#"
SYSTEM = LIS + "system/person#"

INSTRUCTOR = MEMBERSHIP + "Instructor"
LEARNER = MEMBERSHIP + "Learner"
CONTEXT_ADMIN = MEMBERSHIP + "Administrator"
TEACHING_ASSISTANT = LIS + "membership/Instructor#TeachingAssistant"
INSTITUTION_ADMIN = INSTITUTION + "Administrator"
SYSTEM_ADMIN = SYSTEM + "Administrator"

#: The tool's roles, strongest first.
PRECEDENCE = ("admin", "teacher", "proctor", "candidate")

# Short names outside the context-role vocabulary that LMSs still send bare.
_SHORT_ALIASES = {
    "TeachingAssistant": TEACHING_ASSISTANT,
}

# LTI 1.1 URN prefixes → LIS v2 prefixes (LTI 1.3 core, appendix A.2).
_URN_PREFIXES = (
    ("urn:lti:sysrole:ims/lis/", SYSTEM),
    ("urn:lti:instrole:ims/lis/", INSTITUTION),
    ("urn:lti:role:ims/lis/", MEMBERSHIP),
)

_ADMIN_ROLES = frozenset({SYSTEM_ADMIN, INSTITUTION_ADMIN, CONTEXT_ADMIN})
# The Instructor sub-role and its variants (TeachingAssistantSection, …); some LMSs also send
# the LTI 1.1 context role TeachingAssistant as if it were a principal role.
_TA_PREFIXES = (
    LIS + "membership/Instructor#TeachingAssistant",
    LIS + "membership#TeachingAssistant",
    LIS + "membership/TeachingAssistant#",
)


def normalize_role(role: str) -> str:
    """Return the full LIS v2 URI for ``role`` ("Learner" → ``…/membership#Learner``).

    A bare name is a context role (LTI 1.3 core allows short names only for those), except
    ``TeachingAssistant``, which is the Instructor sub-role. URIs pass through unchanged apart
    from surrounding whitespace; LTI 1.1 URNs are rewritten to their v2 URI.
    """
    value = (role or "").strip()
    if not value:
        return ""
    for urn, prefix in _URN_PREFIXES:
        if value.startswith(urn):
            rest = value[len(urn):]
            # urn:lti:role:ims/lis/Instructor/TeachingAssistant → membership/Instructor#TeachingAssistant
            if prefix == MEMBERSHIP and "/" in rest:
                principal, sub = rest.split("/", 1)
                return f"{LIS}membership/{principal}#{sub}"
            if prefix == MEMBERSHIP and rest in _SHORT_ALIASES:
                return _SHORT_ALIASES[rest]
            return prefix + rest
    if ":" in value:  # an absolute URI (http(s) or another scheme): already full
        return value
    return _SHORT_ALIASES.get(value, MEMBERSHIP + value)


def _is_teaching_assistant(uri: str) -> bool:
    return uri.startswith(_TA_PREFIXES)


def map_roles(roles: Iterable[str]) -> str | None:
    """The tool role for a person's LMS roles, or ``None`` when none of them grants access.

    >>> map_roles(["Instructor"])
    'teacher'
    >>> map_roles([INSTRUCTOR, TEACHING_ASSISTANT])
    'proctor'
    >>> map_roles([MEMBERSHIP + "Mentor"]) is None
    True
    """
    uris = {normalize_role(r) for r in roles or () if isinstance(r, str)}
    if uris & _ADMIN_ROLES:
        return "admin"
    if any(_is_teaching_assistant(u) for u in uris):
        return "proctor"
    if INSTRUCTOR in uris:
        return "teacher"
    if LEARNER in uris:
        return "candidate"
    return None


def outranks(role: str | None, other: str | None) -> bool:
    """True when ``role`` is strictly stronger than ``other`` (``None`` is weakest)."""
    def rank(r: str | None) -> int:
        return PRECEDENCE.index(r) if r in PRECEDENCE else len(PRECEDENCE)
    return rank(role) < rank(other)
