"""Launches: the login initiation, the OIDC authorization endpoint's checks, and id_tokens
shaped like Moodle 4.5.6's (compared with the captured launch-*.json payloads)."""
from __future__ import annotations

import pytest

from .flows import (
    auth_request,
    launch,
    login_initiation,
    moodle_fixture,
    parse_html,
    query_of,
    verify_id_token,
)

PROBE_TYPE_CUSTOM = {"probe_type_param": "type-level-value", "probe_userid": "$User.id",
                     "probe_course_label": "$Context.label"}
PROBE_INSTANCE_CUSTOM = {"probe_instance_param": "instance-level-value", "probe_ctx": "$Context.id",
                         "probe_resource_title": "$ResourceLink.title"}
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
ROLES = "https://purl.imsglobal.org/spec/lti/claim/roles"


@pytest.fixture
def probe(sandbox_lms, sim_tool):
    """A tool and an activity configured like the probe the fixtures were captured with."""
    sim_tool.register(sandbox_lms.state, custom=PROBE_TYPE_CUSTOM)
    activity = sandbox_lms.state.add_activity(sim_tool.client_id, "Probe activity", PROBE_INSTANCE_CUSTOM,
                                              description="LTI 1.3 acceptance activity")
    return sim_tool, activity


def _shape(value):
    """Key sets, recursively: what must match between the sandbox and Moodle."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.req("L1")
@pytest.mark.parametrize("user_id, fixture", [
    (3, "launch-teacher.json"), (4, "launch-noneditingteacher.json"),
    (5, "launch-student.json"), (2, "launch-admin.json"),
])
def test_id_token_has_moodles_shape_and_roles(sandbox_lms, probe, browser, user_id, fixture):
    tool, activity = probe
    moodle = moodle_fixture(fixture)["payload"]
    claims, _ = launch(browser, sandbox_lms, tool, sandbox_lms.state.launch_url(user_id, activity.id))

    custom = dict(claims[CUSTOM])
    assert custom.pop("context_memberships_url") == claims[NRPS]["context_memberships_url"]
    expected_custom = dict(moodle[CUSTOM])
    expected_custom.pop("context_memberships_url")
    assert custom == expected_custom  # same parameters, same substitutions, same user

    for claim in (CUSTOM, "nonce", "iat", "exp", "aud"):
        claims.pop(claim), moodle.pop(claim)
    assert _shape(claims) == _shape(moodle)
    assert claims[ROLES] == moodle[ROLES]
    for same in ("sub", "given_name", "family_name", "name", "email",
                 "https://purl.imsglobal.org/spec/lti/claim/lis", "https://purl.imsglobal.org/spec/lti/claim/ext",
                 "https://purl.imsglobal.org/spec/lti/claim/message_type",
                 "https://purl.imsglobal.org/spec/lti/claim/version"):
        assert claims[same] == moodle[same], same
    assert claims[AGS]["scope"] == moodle[AGS]["scope"]
    assert claims[NRPS]["service_versions"] == ["1.0", "2.0"]
    assert claims["https://purl.imsglobal.org/spec/lti/claim/context"]["type"] == ["CourseSection"]
    assert claims["https://purl.imsglobal.org/spec/lti/claim/context"]["id"] == "2"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/resource_link"]["id"] == str(activity.id)
    assert claims["https://purl.imsglobal.org/spec/lti/claim/tool_platform"]["product_family_code"] == "moodle"


@pytest.mark.req("L1")
def test_id_token_lives_60_seconds_and_is_signed_with_a_published_kid(sandbox_lms, probe, browser):
    tool, activity = probe
    claims, form = launch(browser, sandbox_lms, tool, sandbox_lms.state.launch_url(5, activity.id))
    assert claims["exp"] - claims["iat"] == 60
    assert claims["iss"] == sandbox_lms.url and claims["aud"] == tool.client_id
    assert "azp" not in claims
    assert claims["nonce"] == "nonce-123"
    assert form["action"] == tool.launch_url and form["method"] == "post"
    assert form["fields"]["state"] == "state-456"


@pytest.mark.req("L1", "L5")
def test_graded_activity_launch_carries_lineitem_and_ags_urls_like_moodle(sandbox_lms, tool, browser):
    moodle = moodle_fixture("launch-student-dlitem.json")["payload"]
    activity = sandbox_lms.state.add_activity(tool.client_id, "Graded", line_item={"scoreMaximum": 10})
    claims, _ = launch(browser, sandbox_lms, tool, sandbox_lms.state.launch_url(5, activity.id))
    item = sandbox_lms.state.activity_line_items(activity.id)[0]
    type_id = tool.registration.type_id
    assert set(claims[AGS]) == set(moodle[AGS])
    assert claims[AGS]["lineitems"] == f"{sandbox_lms.url}/mod/lti/services.php/2/lineitems?type_id={type_id}"
    assert claims[AGS]["lineitem"] == \
        f"{sandbox_lms.url}/mod/lti/services.php/2/lineitems/{item.id}/lineitem?type_id={type_id}"
    assert claims[NRPS]["context_memberships_url"] == \
        f"{sandbox_lms.url}/mod/lti/services.php/CourseSection/2/bindings/{type_id}/memberships"


@pytest.mark.req("L1")
def test_login_initiation_carries_the_launch_parameters(sandbox_lms, probe, browser):
    tool, activity = probe
    login = login_initiation(browser, sandbox_lms.state.launch_url(5, activity.id))
    assert login["iss"] == sandbox_lms.url
    assert login["login_hint"] == "5"
    assert login["target_link_uri"] == tool.launch_url
    assert login["client_id"] == tool.client_id
    assert login["lti_deployment_id"] == tool.registration.deployment_id
    assert '"launchid"' in login["lti_message_hint"]  # Moodle's JSON hint, echoed verbatim by tools


@pytest.mark.req("L1")
def test_activity_url_is_the_target_link_uri(sandbox_lms, tool, browser):
    activity = sandbox_lms.state.add_activity(tool.client_id, "Deep item", url=f"{tool.base_url}/lti/launch?item=7")
    login = login_initiation(browser, sandbox_lms.state.launch_url(5, activity.id))
    assert login["target_link_uri"] == f"{tool.base_url}/lti/launch?item=7"
    claims, _ = launch(browser, sandbox_lms, tool, sandbox_lms.state.launch_url(5, activity.id))
    assert claims["https://purl.imsglobal.org/spec/lti/claim/target_link_uri"] == f"{tool.base_url}/lti/launch?item=7"


@pytest.mark.req("L1")
def test_login_url_with_its_own_query_keeps_it(sandbox_lms, sim_tool, browser):
    sim_tool.register(sandbox_lms.state, login_url=f"{sim_tool.base_url}/lti/login?platform=moodle")
    activity = sandbox_lms.state.add_activity(sim_tool.client_id, "Exam")
    resp = browser.get(sandbox_lms.state.launch_url(5, activity.id), allow_redirects=False)
    location = resp.headers["Location"]
    assert location.startswith(f"{sim_tool.base_url}/lti/login?platform=moodle&")
    assert location.count("?") == 1


# --- refusals: an HTML 400 page, and no form posting anywhere -----------------------------
def _refused(resp) -> None:
    assert resp.status_code == 400
    assert "text/html" in resp.headers["Content-Type"]
    assert 'name="id_token"' not in resp.text
    assert not [f for f in parse_html(resp.text).forms if f["method"] == "post"]


@pytest.mark.req("L1")
@pytest.mark.parametrize("override, reason", [
    ({"redirect_uri": "https://attacker.example/steal"}, "redirect_uri"),
    ({"scope": "openid profile"}, "scope"),
    ({"response_type": "code"}, "response_type"),
    ({"response_mode": "query"}, "response_mode"),
    ({"prompt": "login"}, "prompt"),
    ({"nonce": None}, "nonce"),
    ({"state": None}, "state"),
    ({"login_hint": "3"}, "login_hint"),
    ({"lti_message_hint": "not json"}, "lti_message_hint"),
])
def test_auth_request_refusals(sandbox_lms, probe, browser, override, reason):
    tool, activity = probe
    login = login_initiation(browser, sandbox_lms.state.launch_url(5, activity.id))
    resp = browser.get(f"{sandbox_lms.url}/mod/lti/auth.php", params=auth_request(login, tool.launch_url, **override))
    _refused(resp)
    assert reason in resp.text
    # The refusal did not use up the launch: the correct request still works.
    ok = browser.get(f"{sandbox_lms.url}/mod/lti/auth.php", params=auth_request(login, tool.launch_url))
    assert ok.status_code == 200


@pytest.mark.req("L1")
def test_unknown_client_is_refused(sandbox_lms, probe, browser):
    tool, activity = probe
    login = login_initiation(browser, sandbox_lms.state.launch_url(5, activity.id))
    resp = browser.get(f"{sandbox_lms.url}/mod/lti/auth.php",
                       params=auth_request(login, tool.launch_url, client_id="nobody"))
    _refused(resp)
    assert "unauthorized_client" in resp.text


@pytest.mark.req("L1")
def test_lti_message_hint_works_once(sandbox_lms, probe, browser):
    tool, activity = probe
    login = login_initiation(browser, sandbox_lms.state.launch_url(5, activity.id))
    params = auth_request(login, tool.launch_url)
    assert browser.get(f"{sandbox_lms.url}/mod/lti/auth.php", params=params).status_code == 200
    again = browser.get(f"{sandbox_lms.url}/mod/lti/auth.php", params=params)
    _refused(again)
    assert "already used" in again.text


@pytest.mark.req("L1")
def test_hint_of_another_tool_is_refused(sandbox_lms, probe, browser):
    tool, activity = probe
    other = sandbox_lms.state.register_tool(name="Other", login_url=tool.login_url, launch_url=tool.launch_url,
                                            jwks_url=tool.jwks_url)
    login = login_initiation(browser, sandbox_lms.state.launch_url(5, activity.id))
    resp = browser.get(f"{sandbox_lms.url}/mod/lti/auth.php",
                       params=auth_request(login, tool.launch_url, client_id=other.client_id))
    _refused(resp)


@pytest.mark.req("L1")
def test_auth_request_by_post_form_is_accepted(sandbox_lms, probe, browser):
    tool, activity = probe
    login = login_initiation(browser, sandbox_lms.state.launch_url(5, activity.id))
    resp = browser.post(f"{sandbox_lms.url}/mod/lti/auth.php", data=auth_request(login, tool.launch_url))
    assert resp.status_code == 200
    token = parse_html(resp.text).forms[0]["fields"]["id_token"]
    assert verify_id_token(browser, sandbox_lms, token, tool.client_id)["sub"] == "5"


@pytest.mark.req("L1")
def test_registered_redirect_uri_is_escaped_in_the_form(sandbox_lms, sim_tool, browser):
    """lti1p3platform's own template prints the redirect_uri raw (bug 2); ours escapes it."""
    nasty = f'{sim_tool.base_url}/lti/launch?x="><script>alert(1)</script>'
    sim_tool.register(sandbox_lms.state, redirect_uris=[nasty])
    activity = sandbox_lms.state.add_activity(sim_tool.client_id, "Exam")
    login = login_initiation(browser, sandbox_lms.state.launch_url(5, activity.id))
    resp = browser.get(f"{sandbox_lms.url}/mod/lti/auth.php", params=auth_request(login, nasty))
    assert resp.status_code == 200
    assert "<script>alert(1)</script>" not in resp.text
    assert parse_html(resp.text).forms[0]["action"] == nasty


@pytest.mark.req("L1")
def test_disabled_tool_cannot_launch(sandbox_lms, probe, browser):
    tool, activity = probe
    sandbox_lms.state.set_tool_active(tool.client_id, False)
    assert browser.get(sandbox_lms.state.launch_url(5, activity.id), allow_redirects=False).status_code == 409


@pytest.mark.req("L1")
def test_unknown_user_or_activity_is_404(sandbox_lms, probe, browser):
    _, activity = probe
    assert browser.get(f"{sandbox_lms.url}/course/2/launch?user=99&link={activity.id}").status_code == 404
    assert browser.get(f"{sandbox_lms.url}/course/2/launch?user=5&link=abc").status_code == 404


# --- containers (L6) -----------------------------------------------------------------------
@pytest.mark.req("L6")
def test_iframe_container_embeds_the_login_initiation(sandbox_lms, probe, browser):
    tool, activity = probe
    resp = browser.get(sandbox_lms.state.launch_url(5, activity.id, container="iframe"))
    assert resp.status_code == 200
    frame = parse_html(resp.text).iframes[0]
    assert frame["src"].startswith(tool.login_url + "?")
    login = query_of(frame["src"])
    token_page = browser.get(f"{sandbox_lms.url}/mod/lti/auth.php", params=auth_request(login, tool.launch_url))
    claims = verify_id_token(browser, sandbox_lms, parse_html(token_page.text).forms[0]["fields"]["id_token"],
                             tool.client_id)
    presentation = claims["https://purl.imsglobal.org/spec/lti/claim/launch_presentation"]
    assert presentation["document_target"] == "iframe"
    assert "launch_container=3" in presentation["return_url"]


@pytest.mark.req("L6")
def test_window_container_says_window(sandbox_lms, probe, browser):
    tool, activity = probe
    claims, _ = launch(browser, sandbox_lms, tool, sandbox_lms.state.launch_url(5, activity.id, container="window"))
    presentation = claims["https://purl.imsglobal.org/spec/lti/claim/launch_presentation"]
    assert presentation["document_target"] == "window"
    assert presentation["locale"] == "en"
    assert presentation["return_url"].startswith(f"{sandbox_lms.url}/mod/lti/return.php?course=2&launch_container=4")


@pytest.mark.req("L6")
@pytest.mark.parametrize("container", ["window", "iframe"])
def test_post_login_initiation_like_moodle(sandbox_lms, probe, browser, container):
    tool, activity = probe
    sandbox_lms.state.set_login_method("post")
    resp = browser.get(sandbox_lms.state.launch_url(5, activity.id, container=container))
    assert resp.status_code == 200
    form = parse_html(resp.text).forms[-1]
    assert form["method"] == "post" and form["action"] == tool.login_url
    assert form["target"] == ("contentframe" if container == "iframe" else None)
    assert form["fields"]["login_hint"] == "5" and form["fields"]["client_id"] == tool.client_id
    ok = browser.post(f"{sandbox_lms.url}/mod/lti/auth.php", data=auth_request(form["fields"], tool.launch_url))
    assert ok.status_code == 200


@pytest.mark.req("L6")
def test_return_url_brings_the_user_back_with_the_tools_message(sandbox_lms, probe, browser):
    resp = browser.get(f"{sandbox_lms.url}/mod/lti/return.php?course=2&lti_msg=<b>done</b>")
    assert resp.status_code == 200
    assert "&lt;b&gt;done&lt;/b&gt;" in resp.text
