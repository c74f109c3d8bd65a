"""LTI Dynamic Registration as Moodle 4.5 does it: discovery, a one-time registration
token from the admin page, the validated registration request, and a tool usable at once."""
from __future__ import annotations

import copy

import pytest

from .flows import launch, parse_html, query_of

TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIG = "https://purl.imsglobal.org/spec/lti-platform-configuration"


def _payload(tool) -> dict:
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool.login_url,
        "redirect_uris": [tool.launch_url, tool.deeplink_url],
        "client_name": "ExamBridge",
        "jwks_uri": tool.jwks_url,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": ("https://purl.imsglobal.org/spec/lti-ags/scope/lineitem "
                  "https://purl.imsglobal.org/spec/lti-ags/scope/score "
                  "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly "
                  "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting"),
        TOOL_CONFIG: {
            "domain": tool.base_url.split("://", 1)[1],
            "target_link_uri": tool.launch_url,
            "description": "Proctored exams",
            "claims": ["iss", "sub", "name", "email"],
            "messages": [{"type": "LtiDeepLinkingRequest", "target_link_uri": tool.deeplink_url}],
            "custom_parameters": {"exam_platform": "$Context.id"},
        },
    }


def _register(http, lms, token, payload):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post(f"{lms.url}/mod/lti/openid-registration.php", json=payload, headers=headers)


@pytest.mark.req("L2")
def test_openid_configuration_like_moodle(sandbox_lms, browser):
    conf = browser.get(f"{sandbox_lms.url}/mod/lti/openid-configuration.php").json()
    base = f"{sandbox_lms.url}/mod/lti"
    assert conf["issuer"] == sandbox_lms.url
    assert conf["authorization_endpoint"] == f"{base}/auth.php"
    assert conf["token_endpoint"] == f"{base}/token.php"
    assert conf["jwks_uri"] == f"{base}/certs.php"
    assert conf["registration_endpoint"] == f"{base}/openid-registration.php"
    assert conf["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert conf["token_endpoint_auth_signing_alg_values_supported"] == ["RS256"]
    assert conf["response_types_supported"] == ["id_token"]
    assert "openid" in conf["scopes_supported"]
    platform = conf[PLATFORM_CONFIG]
    assert platform["product_family_code"] == "moodle"
    assert [m["type"] for m in platform["messages_supported"]] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert "Context.id" in platform["variables"]
    keys = browser.get(conf["jwks_uri"]).json()["keys"]
    assert keys[0]["kid"] and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig" and "d" not in keys[0]


@pytest.mark.req("L2")
def test_advertised_variables_are_the_substituted_ones():
    from lms_plugin.sandbox.claims import SUPPORTED_VARIABLES, substitution_variables
    from lms_plugin.sandbox.course import USERS
    from lms_plugin.sandbox.records import ToolRegistration
    from lms_plugin.sandbox.urls import MoodleUrls

    tool = ToolRegistration(client_id="c", deployment_id="1", type_id=1, name="t", login_url="", launch_url="",
                            deeplink_url=None, jwks_url="", redirect_uris=[], scopes=[])
    assert set(SUPPORTED_VARIABLES) == set(substitution_variables(user=USERS[0], tool=tool, activity=None,
                                                                  urls=MoodleUrls("http://x")))


@pytest.mark.req("L2")
def test_registration_returns_client_id_and_deployment_id(sandbox_lms, sim_tool, browser):
    token, _ = sandbox_lms.state.issue_registration_token()
    resp = _register(browser, sandbox_lms, token, _payload(sim_tool))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    tool = sandbox_lms.state.tool(body["client_id"])
    assert tool is not None and tool.registered_by == "dynamic" and tool.active
    assert body[TOOL_CONFIG]["deployment_id"] == tool.deployment_id == str(tool.type_id)
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["redirect_uris"] == [sim_tool.launch_url, sim_tool.deeplink_url]
    assert body[TOOL_CONFIG]["messages"] == [{"type": "LtiDeepLinkingRequest", "target_link_uri": sim_tool.deeplink_url}]
    assert body["scope"].split() == [  # the tool-settings scope is not offered
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"]
    assert tool.send_name and tool.send_email
    assert tool.default_container == "iframe"  # Moodle: embedded without blocks
    assert tool.custom == {"exam_platform": "$Context.id"}


@pytest.mark.req("L2", "L1")
def test_dynamically_registered_tool_launches_at_once(sandbox_lms, sim_tool, browser):
    token, _ = sandbox_lms.state.issue_registration_token()
    client_id = _register(browser, sandbox_lms, token, _payload(sim_tool)).json()["client_id"]
    sim_tool.registration = sandbox_lms.state.tool(client_id)
    activity = sandbox_lms.state.add_activity(client_id, "Exam")
    page = browser.get(sandbox_lms.state.launch_url(5, activity.id, container="iframe"))
    login = query_of(parse_html(page.text).iframes[0]["src"])
    assert login["client_id"] == client_id
    claims, _ = launch(browser, sandbox_lms, sim_tool, sandbox_lms.state.launch_url(5, activity.id))
    assert claims["https://purl.imsglobal.org/spec/lti/claim/custom"]["exam_platform"] == "2"


@pytest.mark.req("L2")
def test_registration_token_is_single_use(sandbox_lms, sim_tool, browser):
    token, _ = sandbox_lms.state.issue_registration_token()
    assert _register(browser, sandbox_lms, token, _payload(sim_tool)).status_code == 200
    again = _register(browser, sandbox_lms, token, _payload(sim_tool))
    assert again.status_code == 401 and again.json()["error"] == "invalid_token"
    assert len(sandbox_lms.state.tools) == 1


@pytest.mark.req("L2")
def test_rejected_body_leaves_the_token_usable(sandbox_lms, sim_tool, browser):
    token, _ = sandbox_lms.state.issue_registration_token()
    bad = _payload(sim_tool)
    del bad["jwks_uri"]
    assert _register(browser, sandbox_lms, token, bad).status_code == 400
    assert _register(browser, sandbox_lms, token, _payload(sim_tool)).status_code == 200


@pytest.mark.req("L2")
@pytest.mark.parametrize("token", [None, "opaque-guess", "a.b.c"])
def test_registration_needs_a_valid_token(sandbox_lms, sim_tool, browser, token):
    resp = _register(browser, sandbox_lms, token, _payload(sim_tool))
    assert resp.status_code == 401
    assert sandbox_lms.state.tools == []


def _without(path):
    def mutate(payload):
        target = payload
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def _with(path, value):
    def mutate(payload):
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


@pytest.mark.req("L2")
@pytest.mark.parametrize("mutate, why", [
    (_without(["response_types"]), "response_types"),
    (_with(["response_types"], ["code"]), "response_types"),
    (_without(["redirect_uris"]), "redirect_uris"),
    (_with(["redirect_uris"], "http://127.0.0.1/one"), "redirect_uris"),
    (_with(["redirect_uris"], ["javascript:alert(1)"]), "redirect_uri"),
    (_without(["initiate_login_uri"]), "initiate_login_uri"),
    (_without(["jwks_uri"]), "jwks_uri"),
    (_without(["client_name"]), "client_name"),
    (_with(["token_endpoint_auth_method"], "client_secret_basic"), "token_endpoint_auth_method"),
    (_with(["application_type"], "native"), "application_type"),
    (_without([TOOL_CONFIG]), TOOL_CONFIG),
    (_without([TOOL_CONFIG, "domain"]), "domain"),
    (_without([TOOL_CONFIG, "target_link_uri"]), "target_link_uri"),
    (_with([TOOL_CONFIG, "domain"], "elsewhere.example"), "domain_targetlinkuri_mismatch"),
    (_with([TOOL_CONFIG, "custom_parameters"], {"a": 1}), "custom_parameters"),
])
def test_registration_body_is_validated(sandbox_lms, sim_tool, browser, mutate, why):
    token, _ = sandbox_lms.state.issue_registration_token()
    payload = copy.deepcopy(_payload(sim_tool))
    mutate(payload)
    resp = _register(browser, sandbox_lms, token, payload)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_client_metadata"
    assert why in resp.json()["error_description"]
    assert sandbox_lms.state.tools == []


@pytest.mark.req("L2")
def test_non_json_body_is_400(sandbox_lms, browser):
    token, _ = sandbox_lms.state.issue_registration_token()
    resp = browser.post(f"{sandbox_lms.url}/mod/lti/openid-registration.php", data="{not json",
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert resp.status_code == 400


@pytest.mark.req("L2")
def test_admin_page_opens_the_tool_with_a_registration_token(sandbox_lms, sim_tool, browser):
    page = browser.post(f"{sandbox_lms.url}/admin/tools/register",
                        data={"tool_url": f"{sim_tool.base_url}/lti/register?lang=en"})
    assert page.status_code == 200
    frame = parse_html(page.text).iframes[0]
    assert frame["id"] == "registration"
    params = query_of(frame["src"])
    assert frame["src"].startswith(f"{sim_tool.base_url}/lti/register?lang=en&")
    assert params["openid_configuration"] == f"{sandbox_lms.url}/mod/lti/openid-configuration.php"
    assert "org.imsglobal.lti.close" in page.text and "Tool registered — activate it" in page.text

    jti = page.text.split("jti=", 1)[1].split('"', 1)[0]
    status_url = f"{sandbox_lms.url}/admin/tools/registration-status?jti={jti}"
    assert browser.get(status_url).json() == {"registered": False}
    client_id = _register(browser, sandbox_lms, params["registration_token"], _payload(sim_tool)).json()["client_id"]
    assert browser.get(status_url).json()["client_id"] == client_id
    assert client_id in browser.get(f"{sandbox_lms.url}/admin/tools").text


@pytest.mark.req("L2")
def test_manual_registration_form_and_toggle(sandbox_lms, sim_tool, browser):
    resp = browser.post(f"{sandbox_lms.url}/admin/tools/manual", data={
        "name": "Hand-made", "login_url": sim_tool.login_url, "launch_url": sim_tool.launch_url,
        "jwks_url": sim_tool.jwks_url, "scopes": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]})
    assert resp.status_code == 200 and "client_id" in resp.text
    [tool] = sandbox_lms.state.tools
    assert tool.registered_by == "manual" and tool.redirect_uris == [sim_tool.launch_url]
    assert tool.scopes == ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]
    browser.post(f"{sandbox_lms.url}/admin/tools/{tool.client_id}/active", data={"active": "0"})
    assert not sandbox_lms.state.tool(tool.client_id).active
    bad = browser.post(f"{sandbox_lms.url}/admin/tools/manual", data={"name": "x", "login_url": "ftp://x"})
    assert bad.status_code == 400


@pytest.mark.req("L2")
def test_cross_site_form_posts_are_refused(sandbox_lms, sim_tool, browser):
    resp = browser.post(f"{sandbox_lms.url}/admin/tools/register", data={"tool_url": sim_tool.base_url},
                        headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403
