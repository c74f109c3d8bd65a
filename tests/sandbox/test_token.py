"""The token endpoint checks the client assertion strictly (lti1p3platform does not, bug 3)
and grants only the tool's registered scopes (bug 4); tokens are opaque, 3600 s."""
from __future__ import annotations

import base64
import json
import time

import pytest

from .flows import moodle_fixture
from .toolsim import new_key

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALL_SCOPES = ("https://purl.imsglobal.org/spec/lti-ags/scope/lineitem "
              "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly "
              "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly "
              "https://purl.imsglobal.org/spec/lti-ags/scope/score "
              "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly")


def _post(http, lms, assertion, scope=ALL_SCOPES, **form):
    data = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion, "scope": scope}
    data.update(form)
    return http.post(f"{lms.url}/mod/lti/token.php", data={k: v for k, v in data.items() if v is not None})


def _token_url(lms) -> str:
    return f"{lms.url}/mod/lti/token.php"


@pytest.mark.req("L1", "L4", "L5")
def test_all_scopes_granted_like_moodle(sandbox_lms, tool, browser):
    moodle = moodle_fixture("service-03-token-all-scopes.json")["response"]["body"]
    resp = _post(browser, sandbox_lms, tool.client_assertion(_token_url(sandbox_lms)))
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == set(moodle)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == moodle["scope"]
    assert body["access_token"].count(".") != 2  # opaque, not a JWT
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.req("L1")
def test_unknown_client_is_invalid_client(sandbox_lms, tool, browser):
    moodle = moodle_fixture("service-01-token-unknown-client.json")["response"]
    resp = _post(browser, sandbox_lms, tool.client_assertion(_token_url(sandbox_lms), iss="nobody", sub="nobody"))
    assert resp.status_code == moodle["status"] == 400
    assert resp.json()["error"] == moodle["body"]["error"] == "invalid_client"


@pytest.mark.req("L1")
def test_unpermitted_scope_is_invalid_scope(sandbox_lms, tool, browser):
    moodle = moodle_fixture("service-02-token-unpermitted-scope.json")["response"]
    resp = _post(browser, sandbox_lms, tool.client_assertion(_token_url(sandbox_lms)),
                 scope="https://example.invalid/scope/none")
    assert resp.status_code == moodle["status"] == 400
    assert resp.json()["error"] == moodle["body"]["error"] == "invalid_scope"


@pytest.mark.req("L1")
def test_scopes_are_limited_to_the_registration(sandbox_lms, sim_tool, browser):
    sim_tool.register(sandbox_lms.state, scopes=["https://purl.imsglobal.org/spec/lti-ags/scope/score"])
    resp = _post(browser, sandbox_lms, sim_tool.client_assertion(_token_url(sandbox_lms)))
    assert resp.status_code == 200
    assert resp.json()["scope"] == "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    nrps_only = _post(browser, sandbox_lms, sim_tool.client_assertion(_token_url(sandbox_lms)),
                      scope="https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly")
    assert nrps_only.status_code == 400 and nrps_only.json()["error"] == "invalid_scope"


@pytest.mark.req("L1")
@pytest.mark.parametrize("claims, why", [
    ({"aud": "http://localhost/elsewhere/token.php"}, "aud"),
    ({"aud": None}, "aud"),
    ({"iss": "someone-else"}, "iss"),
    ({"sub": "someone-else"}, "client"),  # the client is looked up by sub
    ({"exp": None}, "exp"),
    ({"exp": int(time.time()) - 600}, "expired"),
    ({"exp": int(time.time()) + 3600}, "5 minutes"),
    ({"jti": None}, "jti"),
    ({"iat": None}, "iat"),
])
def test_bad_client_assertions_are_invalid_client(sandbox_lms, tool, browser, claims, why):
    resp = _post(browser, sandbox_lms, tool.client_assertion(_token_url(sandbox_lms), **claims))
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_client"
    assert why in resp.json()["error_description"]


@pytest.mark.req("L1")
def test_reused_jti_is_refused(sandbox_lms, tool, browser):
    assertion = tool.client_assertion(_token_url(sandbox_lms), jti="once")
    assert _post(browser, sandbox_lms, assertion).status_code == 200
    again = _post(browser, sandbox_lms, tool.client_assertion(_token_url(sandbox_lms), jti="once"))
    assert again.status_code == 400 and "already used" in again.json()["error_description"]


@pytest.mark.req("L1")
def test_signature_by_an_unpublished_key_is_refused(sandbox_lms, tool, browser):
    stranger = new_key(kid=tool.key.kid)  # same kid, other key
    claims = {"iss": tool.client_id, "sub": tool.client_id, "aud": _token_url(sandbox_lms),
              "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": "x1"}
    resp = _post(browser, sandbox_lms, tool.sign(claims, key=stranger))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_client"


@pytest.mark.req("L1")
def test_unknown_kid_triggers_one_jwks_refetch(sandbox_lms, tool, browser):
    assert _post(browser, sandbox_lms, tool.client_assertion(_token_url(sandbox_lms))).status_code == 200
    fetched = tool.jwks_fetches
    tool.rotate()
    resp = _post(browser, sandbox_lms, tool.client_assertion(_token_url(sandbox_lms)))
    assert resp.status_code == 200, resp.text
    assert tool.jwks_fetches == fetched + 1


@pytest.mark.req("L1")
@pytest.mark.parametrize("form, error", [
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"client_assertion_type": "urn:other"}, "invalid_request"),
    ({"scope": None}, "invalid_request"),
    ({"client_assertion": "not-a-jwt"}, "invalid_client"),
])
def test_malformed_requests(sandbox_lms, tool, browser, form, error):
    data = {"client_assertion": tool.client_assertion(_token_url(sandbox_lms))}
    data.update(form)
    resp = _post(browser, sandbox_lms, data.pop("client_assertion"), **data)
    assert resp.status_code == 400 and resp.json()["error"] == error


@pytest.mark.req("L1")
def test_disabled_tool_gets_no_token(sandbox_lms, tool, browser):
    sandbox_lms.state.set_tool_active(tool.client_id, False)
    resp = _post(browser, sandbox_lms, tool.client_assertion(_token_url(sandbox_lms)))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_client"


@pytest.mark.req("L1")
@pytest.mark.parametrize("header", [{"alg": "RS256"}, {"alg": "RS256", "kid": ["a"]}, {"alg": "HS256", "kid": "k"},
                                    {"alg": "none", "kid": "k"}])
def test_assertion_headers_are_checked(sandbox_lms, tool, browser, header):
    """No kid, a kid that is not a string, or another algorithm: 400, never a 500."""
    def b64(data) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"iss": tool.client_id, "sub": tool.client_id, "aud": _token_url(sandbox_lms),
              "iat": int(time.time()), "exp": int(time.time()) + 60, "jti": "h1"}
    signature = tool.client_assertion(_token_url(sandbox_lms)).rsplit(".", 1)[1]
    resp = _post(browser, sandbox_lms, f"{b64(header)}.{b64(claims)}.{signature}")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_client"
