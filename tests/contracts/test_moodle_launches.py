"""Contract: the launches a real Moodle 4.5.6 sent (../shared/fixtures/moodle-4.5.6) go
through the tool's launch parser and role mapping as Moodle meant them.

The captured tokens' signatures cannot be replayed (Moodle's key is not ours), so each
payload is re-signed with a test key and its time claims moved to now; every other claim
is exactly what Moodle sent."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from lms_plugin.core import claims as C
from lms_plugin.core.launch import PlatformInfo, validate_id_token
from lms_plugin.core.roles import map_roles
from tests.lti.launch_kit import new_key

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "moodle-4.5.6"
# Under CI the captures must be there (shared/ beside the clone): a missing folder fails.
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir() and os.environ.get("CI") != "true", reason=f"Moodle fixtures not found at {FIXTURES}")


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())["payload"]


def resign(payload: dict, key: RSAKey) -> tuple[str, PlatformInfo]:
    from joserfc import jwt

    now = int(time.time())
    p = dict(payload, iat=now, exp=now + 60)  # Moodle: exp = iat + 60
    token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, p, key, algorithms=["RS256"])
    info = PlatformInfo(issuer=p["iss"], client_id=p["aud"], deployment_ids=frozenset({p[C.DEPLOYMENT_ID]}))
    return token, info


def parse(name: str):
    payload = load(name)
    key = new_key()
    token, info = resign(payload, key)
    return validate_id_token(token, platform=info, key_for_kid=lambda kid: key, expected_nonce=payload["nonce"],
                             expected_target_link_uri=payload.get(C.TARGET_LINK_URI), now=time.time())


@pytest.mark.req("L1", "L4")
@pytest.mark.parametrize("name, role", [
    ("launch-teacher.json", "teacher"),
    ("launch-noneditingteacher.json", "teacher"),   # Moodle sends Instructor: indistinguishable
    ("launch-student.json", "candidate"),
    ("launch-student-dlitem.json", "candidate"),
    ("launch-admin.json", "admin"),
])
def test_moodle_resource_link_launches_parse(name, role):
    ctx = parse(name)
    assert ctx.message_type == C.RESOURCE_LINK_REQUEST
    assert ctx.sub and ctx.sub.isdigit()                      # Moodle's user id, as a string
    assert ctx.context["id"] == "2" and ctx.context["type"] == ["CourseSection"]
    assert ctx.resource_link["id"]
    assert map_roles(ctx.roles) == role
    assert ctx.nrps["context_memberships_url"].endswith("/memberships")
    assert "type_id=" in ctx.ags["lineitems"]
    assert ctx.locale


@pytest.mark.req("L3")
def test_moodle_deep_linking_request_parses():
    ctx = parse("launch-deeplink-teacher.json")
    assert ctx.is_deep_linking
    assert ctx.deep_linking["accept_types"] == ["ltiResourceLink"]
    assert ctx.deep_linking["auto_create"] is False
    assert "data" not in ctx.deep_linking                    # Moodle sends no data
    assert ctx.deep_linking["deep_link_return_url"].startswith(ctx.issuer)


@pytest.mark.req("L1")
def test_moodle_launch_with_its_60_second_lifetime_passes_with_clock_skew():
    """exp = iat + 60 and a tool clock 50 s behind or ahead still launches (60 s leeway)."""
    payload = load("launch-student.json")
    key = new_key()
    token, info = resign(payload, key)
    for skew in (-50, +50, +110):
        ctx = validate_id_token(token, platform=info, key_for_kid=lambda kid: key, expected_nonce=payload["nonce"],
                                expected_target_link_uri=None, now=time.time() + skew)
        assert ctx.sub == payload["sub"]


@pytest.mark.req("L1")
def test_return_url_session_key_is_not_kept_in_the_context_log():
    """launch_presentation.return_url holds Moodle's sesskey: the parsed context does not
    carry the return URL at all, so nothing downstream can log it."""
    ctx = parse("launch-teacher.json")
    assert "sesskey" not in json.dumps(ctx.__dict__, default=str)
