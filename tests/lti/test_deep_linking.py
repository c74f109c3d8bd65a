"""L3: a teacher places an exam from the LMS's activity picker; the tool answers with a
signed LtiDeepLinkingResponse that the platform can verify."""
from __future__ import annotations

import re
from html import unescape

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from lms_plugin.core import claims as C
from tests.lti.launch_kit import start_login


@pytest.fixture
def env(lti_env):
    return lti_env


def _deep_link_launch(env, role="Instructor"):
    target = f"{env.bridge}/lti/deeplink"
    login = start_login(env.http, env.bridge, env.platform, target=target)
    assert login.redirect_uri == target
    claims = env.platform.claims(nonce=login.nonce, target=target, role=role,
                                 message_type=C.DEEP_LINKING_REQUEST)
    claims[C.DL_SETTINGS]["data"] = "opaque-123"
    return env.http.post(login.redirect_uri, data={"id_token": env.platform.sign(claims), "state": login.state},
                         allow_redirects=False)


def _posted_jwt(html: str) -> tuple[str, str]:
    action = unescape(re.search(r'<form id="autopost" method="post" action="([^"]+)"', html).group(1))
    token = re.search(r'name="JWT" value="([^"]+)"', html).group(1)
    return action, token


@pytest.mark.req("L3")
def test_deep_linking_round_trip_creates_and_places_an_exam(env):
    resp = _deep_link_launch(env)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/lti/deeplink")
    pick = env.http.get(env.bridge + "/lti/deeplink")
    assert pick.status_code == 200 and 'id="place-new"' in pick.text
    bad = env.post("/lti/deeplink/respond", data={"title": "", "duration_minutes": "x"})
    assert bad.status_code == 422 and "field-error" in bad.text
    done = env.post("/lti/deeplink/respond", data={"title": "期末考试 Final", "duration_minutes": "90"})
    assert done.status_code == 200
    action, token = _posted_jwt(done.text)
    assert action == f"{env.platform.issuer}/mod/lti/contentitem_return.php"

    jwks = env.http.get(env.bridge + "/lti/jwks").json()
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    c = decoded.claims
    assert decoded.header["kid"] and c["iss"] == env.platform.client_id and c["aud"] == env.platform.issuer
    assert c[C.MESSAGE_TYPE] == "LtiDeepLinkingResponse" and c[C.VERSION] == "1.3.0"
    assert c[C.DEPLOYMENT_ID] == env.platform.deployment_id and c[C.DL_DATA] == "opaque-123" and c["nonce"]
    (item,) = c[C.DL_CONTENT_ITEMS]
    assert item["type"] == "ltiResourceLink" and item["title"] == "期末考试 Final"
    assert item["url"] == f"{env.bridge}/lti/launch"
    assert item["lineItem"]["scoreMaximum"] == 100 and item["lineItem"]["resourceId"] == item["custom"][C.CUSTOM_EXAM]

    # The placement is single use: a second post has nothing to answer.
    again = env.post("/lti/deeplink/respond", data={"title": "x", "duration_minutes": "5"})
    assert again.status_code == 400 and 'data-error-code="no_deep_link"' in again.text

    # A launch of the placed link (custom claim carries the exam) lands on that exam.
    login = start_login(env.http, env.bridge, env.platform)
    claims = env.platform.claims(nonce=login.nonce, target=f"{env.bridge}/lti/launch",
                                 **{C.CUSTOM: item["custom"], C.RESOURCE_LINK: {"id": "77", "title": "Final"}})
    resp = env.http.post(f"{env.bridge}/lti/launch", data={"id_token": env.platform.sign(claims), "state": login.state},
                         allow_redirects=False)
    assert resp.status_code == 303 and "/exam/" in resp.headers["Location"]
    assert "期末考试 Final" in env.http.get(env.bridge + resp.headers["Location"]).text


@pytest.mark.req("L3")
def test_students_cannot_place_exams(env):
    resp = _deep_link_launch(env, role="Learner")
    assert resp.status_code == 303
    assert env.http.get(env.bridge + "/lti/deeplink").status_code == 403
    assert env.post("/lti/deeplink/respond", data={"title": "x", "duration_minutes": "5"}).status_code == 403


@pytest.mark.req("L3")
def test_deep_link_pick_without_a_request_is_a_clear_4xx(env, http):
    resp = http.get(env.bridge + "/lti/deeplink")
    assert resp.status_code == 400 and 'data-error-code="no_deep_link"' in resp.text


@pytest.mark.req("L3")
def test_accept_types_must_be_a_list_holding_resource_links(env):
    target = f"{env.bridge}/lti/deeplink"
    login = start_login(env.http, env.bridge, env.platform, target=target)
    claims = env.platform.claims(nonce=login.nonce, target=target, message_type=C.DEEP_LINKING_REQUEST)
    claims[C.DL_SETTINGS]["accept_types"] = "ltiResourceLink"   # a string, not a list
    resp = env.http.post(login.redirect_uri, data={"id_token": env.platform.sign(claims), "state": login.state},
                         allow_redirects=False)
    assert resp.status_code == 401 and 'data-error-code="unsupported_content"' in resp.text


@pytest.mark.req("L3", "P16")
def test_the_return_urls_session_key_stays_out_of_the_audit_log(env):
    from bridge.extensions import db
    from bridge.models.audit import AuditEntry

    target = f"{env.bridge}/lti/deeplink"
    login = start_login(env.http, env.bridge, env.platform, target=target)
    claims = env.platform.claims(nonce=login.nonce, target=target, message_type=C.DEEP_LINKING_REQUEST)
    claims[C.DL_SETTINGS]["deep_link_return_url"] += "?course=2&sesskey=SECRET123"
    env.http.post(login.redirect_uri, data={"id_token": env.platform.sign(claims), "state": login.state})
    done = env.post("/lti/deeplink/respond", data={"title": "T", "duration_minutes": "10"})
    assert "sesskey=SECRET123" in done.text                    # the LMS gets its URL back whole
    with env.app.app_context():
        details = [str(e.detail) for e in db.session.query(AuditEntry).all()]
    assert details and not any("SECRET123" in d for d in details)
