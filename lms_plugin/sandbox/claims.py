"""The Moodle 4.5-shaped parts of a launch message that lti1p3platform does not build (or
builds differently): custom parameters with substitution, lis/ext/tool_platform, the
launch presentation with locale, the service claims and the deep-linking settings.

Shapes follow the captured payloads in ``shared/fixtures/moodle-4.5.6/launch-*.json``.
"""
from __future__ import annotations

import re
from typing import Any

from .course import COURSE_ID, COURSE_LABEL, COURSE_SOURCEDID, COURSE_TITLE, User
from .records import Activity, LaunchHint, LineItem, ToolRegistration
from .urls import MoodleUrls
from .vocab import (
    AGS_ENDPOINT,
    AGS_SCOPES,
    BASIC_OUTCOME,
    DEEP_LINKING_REQUEST,
    DL_SETTINGS,
    EXT,
    LAUNCH_PRESENTATION,
    LIS,
    MOODLE_VERSION,
    NRPS,
    SCOPE_NRPS,
    TOOL_PLATFORM,
)

# Moodle's launch container codes (mod/lti/locallib.php).
CONTAINER_CODES = {"iframe": 3, "window": 4}  # 3 = embed without blocks, 4 = new window


def moodle_key(key: str) -> str:
    """Moodle's ``lti_map_keyname``: lower case, every character outside [a-z0-9] → ``_``."""
    return re.sub(r"[^a-z0-9]", "_", key.strip().lower())


def substitution_variables(*, user: User, tool: ToolRegistration, activity: Activity | None,
                           urls: MoodleUrls) -> dict[str, str]:
    """The substitution variables the sandbox fills in (a subset of Moodle's capabilities)."""
    values = {
        "User.id": str(user.id),
        "User.username": user.username,
        "Person.sourcedId": user.sourcedid,
        "Person.name.full": user.name,
        "Person.name.given": user.given_name,
        "Person.name.family": user.family_name,
        "Person.email.primary": user.email,
        "Membership.role": ",".join(user.launch_roles),
        "Context.id": str(COURSE_ID),
        "Context.label": COURSE_LABEL,
        "Context.title": COURSE_TITLE,
        "CourseSection.sourcedId": COURSE_SOURCEDID,
        "CourseSection.label": COURSE_LABEL,
        "CourseSection.title": COURSE_TITLE,
        "ResourceLink.id": str(activity.id) if activity else "",
        "ResourceLink.title": activity.title if activity else "",
        "ResourceLink.description": activity.description if activity else "",
        "ToolProxyBinding.memberships.url": urls.memberships(tool.type_id),
        "LineItems.url": urls.lineitems(tool.type_id),
    }
    return values


# Advertised in the OpenID configuration's ``variables``; a test keeps it in step with
# substitution_variables().
SUPPORTED_VARIABLES = (
    "User.id", "User.username", "Person.sourcedId", "Person.name.full", "Person.name.given",
    "Person.name.family", "Person.email.primary", "Membership.role", "Context.id", "Context.label",
    "Context.title", "CourseSection.sourcedId", "CourseSection.label", "CourseSection.title",
    "ResourceLink.id", "ResourceLink.title", "ResourceLink.description",
    "ToolProxyBinding.memberships.url", "LineItems.url",
)


def substitute(value: str, variables: dict[str, str]) -> str:
    """Moodle's ``lti_parse_custom_parameter``: a whole value ``$Name`` that names a known
    variable is replaced; ``\\$Name`` escapes it; anything else is sent unchanged."""
    if value.startswith("\\"):
        return value[1:]
    if value.startswith("$") and value[1:] in variables:
        return variables[value[1:]]
    return value


def _split(params: dict[str, str], variables: dict[str, str]) -> dict[str, str]:
    """Normalise keys like Moodle; LTI 1.3 also gets the original key when it differs."""
    out: dict[str, str] = {}
    for key, value in params.items():
        value = substitute(str(value), variables)
        mapped = moodle_key(key)
        out[mapped] = value
        if mapped != key:
            out[key] = value
    return out


def custom_claim(*, user: User, tool: ToolRegistration, activity: Activity | None,
                 urls: MoodleUrls) -> dict[str, str]:
    """Activity-level parameters first, then type-level ones (which win on a clash, like
    Moodle's ``array_merge``), then ``context_memberships_url`` when NRPS is enabled."""
    variables = substitution_variables(user=user, tool=tool, activity=activity, urls=urls)
    custom = _split(activity.custom if activity else {}, variables)
    custom.update(_split(tool.custom, variables))
    if SCOPE_NRPS in tool.scopes:
        custom["context_memberships_url"] = urls.memberships(tool.type_id)
    return custom


def identity_claims(user: User, tool: ToolRegistration) -> dict[str, Any]:
    """given_name/family_name (lti1p3platform only sets ``name`` and ``email``), lis, ext."""
    claims: dict[str, Any] = {
        LIS: {"person_sourcedid": user.sourcedid, "course_section_sourcedid": COURSE_SOURCEDID},
        EXT: {"user_username": user.username, "lms": "moodle-2"},
    }
    if tool.send_name:
        claims.update(given_name=user.given_name, family_name=user.family_name)
    return claims


def tool_platform_claim(guid: str) -> dict[str, Any]:
    return {TOOL_PLATFORM: {"product_family_code": "moodle", "version": MOODLE_VERSION, "guid": guid,
                            "name": "sandbox", "description": "ExamBridge sandbox LMS (Moodle 4.5 stand-in)"}}


def launch_presentation_claim(hint: LaunchHint, urls: MoodleUrls) -> dict[str, Any]:
    """Resource links get document_target and a return_url; deep linking only the locale."""
    presentation: dict[str, Any] = {"locale": "en"}
    if hint.message_type != DEEP_LINKING_REQUEST and hint.activity_id is not None:
        presentation["document_target"] = hint.container
        presentation["return_url"] = urls.return_url(hint.activity_id, CONTAINER_CODES[hint.container],
                                                     hint.sesskey)
    return {LAUNCH_PRESENTATION: presentation}


def service_claims(tool: ToolRegistration, urls: MoodleUrls, line_items: list[LineItem]) -> dict[str, Any]:
    """The AGS endpoint claim (scopes sorted like Moodle's output; ``lineitem`` only when
    the link has exactly one line item) and the NRPS claim (versions 1.0 and 2.0)."""
    claims: dict[str, Any] = {}
    ags_scopes = sorted(s for s in tool.scopes if s in AGS_SCOPES)
    if ags_scopes:
        endpoint: dict[str, Any] = {"scope": ags_scopes, "lineitems": urls.lineitems(tool.type_id)}
        if len(line_items) == 1:
            endpoint["lineitem"] = urls.lineitem(line_items[0].id, tool.type_id)
        claims[AGS_ENDPOINT] = endpoint
    if SCOPE_NRPS in tool.scopes:
        claims[NRPS] = {"context_memberships_url": urls.memberships(tool.type_id),
                        "service_versions": ["1.0", "2.0"]}
    return claims


def basic_outcome_claim(sourcedid: str, urls: MoodleUrls) -> dict[str, Any]:
    return {BASIC_OUTCOME: {"lis_result_sourcedid": sourcedid,
                            "lis_outcome_service_url": urls.basic_outcome_service}}


def deep_linking_settings(tool: ToolRegistration, return_url: str) -> dict[str, Any]:
    """Moodle 4.5.6's settings as captured (launch-deeplink-teacher.json): ltiResourceLink
    only, no ``data``, ``auto_create`` false, ``accept_multiple`` true."""
    return {DL_SETTINGS: {
        "accept_types": ["ltiResourceLink"],
        "accept_presentation_document_targets": ["frame", "iframe", "window"],
        "accept_copy_advice": False,
        "accept_multiple": True,
        "accept_unsigned": False,
        "auto_create": False,
        "can_confirm": False,
        "deep_link_return_url": return_url,
        "title": tool.name,
        "text": tool.description,
    }}
