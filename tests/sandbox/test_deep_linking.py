"""Deep linking: the request has Moodle's settings; the response is verified strictly
(lti1p3platform checks neither aud, nonce nor deployment_id: bug 10) and creates the
activity, its custom parameters and its line item."""
from __future__ import annotations

import time

import jwt
import pytest

from .flows import launch, login_initiation, moodle_fixture, parse_html, query_of
from .toolsim import new_key

DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"


def _item(tool, **fields):
    item = {"type": "ltiResourceLink", "title": "Midterm exam", "url": f"{tool.base_url}/lti/launch?exam=42",
            "custom": {"dl_item": "dl1", "dl_context": "$Context.id"},
            "lineItem": {"scoreMaximum": 20, "label": "Midterm", "resourceId": "exam-42", "tag": "exam"}}
    item.update(fields)
    return {k: v for k, v in item.items() if v is not None}


def _return(http, lms, tool, token, type_id=None):
    type_id = tool.registration.type_id if type_id is None else type_id
    return http.post(f"{lms.url}/mod/lti/contentitem_return.php?course=2&id={type_id}&sesskey=x", data={"JWT": token})


@pytest.mark.req("L3")
def test_deep_linking_request_has_moodles_settings(sandbox_lms, tool, browser):
    moodle = moodle_fixture("launch-deeplink-teacher.json")["payload"]
    claims, form = launch(browser, sandbox_lms, tool, sandbox_lms.state.deep_link_url(3, tool.client_id),
                          redirect_uri=tool.deeplink_url)
    assert form["action"] == tool.deeplink_url
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingRequest"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/target_link_uri"] == tool.deeplink_url
    assert set(claims) - {"azp"} == set(moodle)
    ours, theirs = claims[DL_SETTINGS], moodle[DL_SETTINGS]
    assert set(ours) == set(theirs)
    for same in ("accept_types", "accept_presentation_document_targets", "accept_copy_advice", "accept_multiple",
                 "accept_unsigned", "auto_create", "can_confirm"):
        assert ours[same] == theirs[same], same
    assert "data" not in ours
    assert ours["deep_link_return_url"].startswith(
        f"{sandbox_lms.url}/mod/lti/contentitem_return.php?course=2&id={tool.registration.type_id}&sesskey=")
    assert claims["https://purl.imsglobal.org/spec/lti/claim/launch_presentation"] == {"locale": "en"}


@pytest.mark.req("L3")
@pytest.mark.parametrize("user_id", [4, 5])
def test_only_editing_teachers_and_admins_can_deep_link(sandbox_lms, tool, browser, user_id):
    resp = browser.get(sandbox_lms.state.deep_link_url(user_id, tool.client_id), allow_redirects=False)
    assert resp.status_code == 403


@pytest.mark.req("L3")
def test_tool_without_deep_linking_cannot_start_one(sandbox_lms, sim_tool, browser):
    sim_tool.register(sandbox_lms.state, deeplink_url=None)
    resp = browser.get(sandbox_lms.state.deep_link_url(3, sim_tool.client_id), allow_redirects=False)
    assert resp.status_code == 409


@pytest.mark.req("L3", "L5")
def test_good_response_creates_the_activity_and_its_line_item(sandbox_lms, tool, browser):
    moodle = moodle_fixture("launch-student-dlitem.json")["payload"]
    resp = _return(browser, sandbox_lms, tool, tool.deep_link_response(sandbox_lms.url, [_item(tool)]))
    assert resp.status_code == 200, resp.text
    assert "Midterm exam" in resp.text

    [activity] = sandbox_lms.state.activities
    assert activity.title == "Midterm exam" and activity.url == f"{tool.base_url}/lti/launch?exam=42"
    assert activity.custom == {"dl_item": "dl1", "dl_context": "$Context.id"}
    assert activity.created_by == "deep linking"
    [item] = sandbox_lms.state.activity_line_items(activity.id)
    assert (item.score_maximum, item.label, item.resource_id, item.tag) == (20.0, "Midterm", "exam-42", "exam")

    claims, _ = launch(browser, sandbox_lms, tool, sandbox_lms.state.launch_url(5, activity.id))
    custom = dict(claims[CUSTOM])
    expected = dict(moodle[CUSTOM])
    custom.pop("context_memberships_url"), expected.pop("context_memberships_url")
    for type_level in ("probe_type_param", "probe_userid", "probe_course_label"):
        expected.pop(type_level)
    assert custom == expected  # {"dl_item": "dl1", "dl_context": "2"}
    assert set(claims[AGS]) == set(moodle[AGS]) and claims[AGS]["lineitem"].endswith(
        f"/lineitems/{item.id}/lineitem?type_id={tool.registration.type_id}")


@pytest.mark.req("L3")
def test_several_items_and_an_ungraded_one(sandbox_lms, tool, browser):
    items = [_item(tool), _item(tool, title="Practice", lineItem=None, custom=None, url=None, iframe={})]
    assert _return(browser, sandbox_lms, tool, tool.deep_link_response(sandbox_lms.url, items)).status_code == 200
    first, second = sandbox_lms.state.activities
    assert second.title == "Practice" and second.url is None and second.container == "iframe"
    assert sandbox_lms.state.activity_line_items(second.id) == []


@pytest.mark.req("L3")
def test_empty_response_adds_nothing_and_shows_the_message(sandbox_lms, tool, browser):
    token = tool.deep_link_response(sandbox_lms.url, [], **{
        "https://purl.imsglobal.org/spec/lti-dl/claim/msg": "Nothing chosen <b>today</b>"})
    resp = _return(browser, sandbox_lms, tool, token)
    assert resp.status_code == 200
    assert "Nothing chosen &lt;b&gt;today&lt;/b&gt;" in resp.text
    assert sandbox_lms.state.activities == []


@pytest.mark.req("L3", "L1")
@pytest.mark.parametrize("overrides, why", [
    ({"aud": "http://localhost:1/another-lms"}, "aud"),
    ({"aud": None}, "aud"),
    ({"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "999"}, "deployment_id"),
    ({"https://purl.imsglobal.org/spec/lti/claim/deployment_id": None}, "deployment_id"),
    ({"https://purl.imsglobal.org/spec/lti/claim/version": "1.1"}, "version"),
    ({"https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest"}, "Deep Linking"),
    ({"nonce": None}, "nonce"),
    ({"exp": int(time.time()) - 600}, "expired"),
    ({"iat": None}, "iat"),
])
def test_bad_responses_are_refused(sandbox_lms, tool, browser, overrides, why):
    resp = _return(browser, sandbox_lms, tool, tool.deep_link_response(sandbox_lms.url, [_item(tool)], **overrides))
    assert resp.status_code == 400
    assert why in resp.text
    assert sandbox_lms.state.activities == []


@pytest.mark.req("L3", "L1")
def test_reused_nonce_is_refused(sandbox_lms, tool, browser):
    token = tool.deep_link_response(sandbox_lms.url, [_item(tool)], nonce="dl-once")
    assert _return(browser, sandbox_lms, tool, token).status_code == 200
    again = tool.deep_link_response(sandbox_lms.url, [_item(tool, title="Again")], nonce="dl-once")
    resp = _return(browser, sandbox_lms, tool, again)
    assert resp.status_code == 400 and "nonce" in resp.text
    assert [a.title for a in sandbox_lms.state.activities] == ["Midterm exam"]


@pytest.mark.req("L3", "L1")
def test_wrong_issuer_or_key_is_refused(sandbox_lms, tool, browser):
    unknown = tool.deep_link_response(sandbox_lms.url, [_item(tool)], iss="nobody")
    assert _return(browser, sandbox_lms, tool, unknown).status_code == 400
    forged_key = new_key(kid=tool.key.kid)
    claims_token = tool.deep_link_response(sandbox_lms.url, [_item(tool)])
    forged = tool.sign(jwt.decode(claims_token, options={"verify_signature": False}), key=forged_key)
    assert _return(browser, sandbox_lms, tool, forged).status_code == 400
    assert _return(browser, sandbox_lms, tool, "not-a-jwt").status_code == 400
    assert browser.post(f"{sandbox_lms.url}/mod/lti/contentitem_return.php", data={}).status_code == 400
    assert sandbox_lms.state.activities == []


@pytest.mark.req("L3")
def test_response_for_another_tools_return_url_is_refused(sandbox_lms, tool, browser):
    other = sandbox_lms.state.register_tool(name="Other", login_url=tool.login_url, launch_url=tool.launch_url,
                                            jwks_url=tool.jwks_url)
    token = tool.deep_link_response(sandbox_lms.url, [_item(tool)])
    assert _return(browser, sandbox_lms, tool, token, type_id=other.type_id).status_code == 400


@pytest.mark.req("L3")
@pytest.mark.parametrize("item_fields, why", [
    ({"type": "link"}, "type"),
    ({"url": "https://elsewhere.example/launch"}, "host"),
    ({"custom": ["a"]}, "custom"),
    ({"custom": {"nested": {"x": 1}}}, "custom"),
    ({"lineItem": {"label": "No maximum"}}, "scoreMaximum"),
    ({"lineItem": {"scoreMaximum": -5}}, "scoreMaximum"),
    ({"title": 7}, "title"),
])
def test_bad_items_are_refused(sandbox_lms, tool, browser, item_fields, why):
    token = tool.deep_link_response(sandbox_lms.url, [_item(tool, **item_fields)])
    resp = _return(browser, sandbox_lms, tool, token)
    assert resp.status_code == 400
    assert why in resp.text
    assert sandbox_lms.state.activities == []


@pytest.mark.req("L3", "L6")
def test_deep_linking_in_an_embedded_frame(sandbox_lms, tool, browser):
    page = browser.get(sandbox_lms.state.deep_link_url(3, tool.client_id, container="iframe"))
    assert page.status_code == 200
    src = parse_html(page.text).iframes[0]["src"]
    assert src.startswith(tool.login_url) and query_of(src)["target_link_uri"] == tool.deeplink_url


@pytest.mark.req("L3")
def test_course_page_offers_deep_linking_as_the_teacher(sandbox_lms, tool, browser):
    page = browser.get(f"{sandbox_lms.url}/")
    assert page.status_code == 200
    assert "Add an activity (deep linking)" in page.text
    assert login_initiation(browser, sandbox_lms.state.deep_link_url(3, tool.client_id))["login_hint"] == "3"
