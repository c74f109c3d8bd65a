"""NRPS in Moodle's shapes: short role names, limit paging with Link rel=next (lib bug 7),
role and rlid filters (bug 8), a JSON 401 for a bad token (bug 6), scope per endpoint."""
from __future__ import annotations

import re

import pytest

from .flows import access_token, bearer, moodle_fixture

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def _url(lms, tool) -> str:
    return f"{lms.url}/mod/lti/services.php/CourseSection/2/bindings/{tool.registration.type_id}/memberships"


def _get(http, url, token, **params):
    return http.get(url, params=params, headers=bearer(token, Accept=MEDIA))


def _next_link(resp) -> str | None:
    match = re.match(r'<([^>]+)>;\s*rel="next"', resp.headers.get("Link", ""))
    return match.group(1) if match else None


@pytest.mark.req("L4")
def test_roster_matches_moodle(sandbox_lms, tool, browser):
    moodle = moodle_fixture("service-04-nrps-memberships.json")["response"]
    resp = _get(browser, _url(sandbox_lms, tool), access_token(browser, sandbox_lms, tool, [NRPS_SCOPE]))
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == moodle["content_type"]
    body = resp.json()
    assert body["id"] == _url(sandbox_lms, tool)
    assert set(body["context"]) == set(moodle["body"]["context"])
    assert body["context"]["id"] == "2" and body["context"]["label"] == "EXAM101"
    assert body["members"] == moodle["body"]["members"]  # same people, order, short roles
    assert "Link" not in resp.headers


@pytest.mark.req("L4")
def test_non_editing_teacher_is_learner_in_the_roster(sandbox_lms, tool, browser):
    body = _get(browser, _url(sandbox_lms, tool), access_token(browser, sandbox_lms, tool, [NRPS_SCOPE])).json()
    roles = {m["user_id"]: m["roles"] for m in body["members"]}
    assert roles == {"3": ["Instructor"], "4": ["Learner"], "5": ["Learner"], "6": ["Learner"], "7": ["Learner"]}


@pytest.mark.req("L4")
def test_limit_pages_with_link_rel_next(sandbox_lms, tool, browser):
    moodle = moodle_fixture("service-06-nrps-memberships-limit2.json")["response"]["body"]
    token = access_token(browser, sandbox_lms, tool, [NRPS_SCOPE])
    first = _get(browser, _url(sandbox_lms, tool), token, limit=2)
    assert first.json()["members"] == moodle["members"]
    seen, url, pages = [], _url(sandbox_lms, tool) + "?limit=2", 0
    while url:
        resp = browser.get(url, headers=bearer(token, Accept=MEDIA))
        assert resp.status_code == 200
        assert len(resp.json()["members"]) <= 2
        seen += [m["user_id"] for m in resp.json()["members"]]
        url, pages = _next_link(resp), pages + 1
    assert pages == 3
    assert seen == ["4", "5", "7", "6", "3"]


@pytest.mark.req("L4")
def test_role_and_rlid_filters(sandbox_lms, tool, browser):
    moodle = moodle_fixture("service-05-nrps-memberships-rlid-role-learner.json")["response"]["body"]
    activity = sandbox_lms.state.add_activity(tool.client_id, "Exam")
    token = access_token(browser, sandbox_lms, tool, [NRPS_SCOPE])
    resp = _get(browser, _url(sandbox_lms, tool), token, rlid=str(activity.id), role=LEARNER)
    assert resp.status_code == 200
    members = resp.json()["members"]
    assert [m["user_id"] for m in members] == [m["user_id"] for m in moodle["members"]]
    for ours, theirs in zip(members, moodle["members"]):
        assert set(ours) == set(theirs)
        message = ours["message"][0]
        assert set(message) == set(theirs["message"][0])
        outcome = message["https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"]
        assert f'"instanceid":"{activity.id}"' in outcome["lis_result_sourcedid"]
    short = _get(browser, _url(sandbox_lms, tool), token, role="Instructor").json()["members"]
    assert [m["user_id"] for m in short] == ["3"]


@pytest.mark.req("L4")
def test_rlid_of_another_tool_is_404(sandbox_lms, tool, browser):
    other = sandbox_lms.state.register_tool(name="Other", login_url=tool.login_url, launch_url=tool.launch_url,
                                            jwks_url=tool.jwks_url)
    foreign = sandbox_lms.state.add_activity(other.client_id, "Not yours")
    resp = _get(browser, _url(sandbox_lms, tool), access_token(browser, sandbox_lms, tool, [NRPS_SCOPE]),
                rlid=str(foreign.id))
    assert resp.status_code == 404 and resp.json()["status"] == 404


@pytest.mark.req("L4")
@pytest.mark.parametrize("params", [{"limit": "two"}, {"limit": "0"}, {"from": "-1"}])
def test_bad_paging_is_400_not_500(sandbox_lms, tool, browser, params):
    resp = _get(browser, _url(sandbox_lms, tool), access_token(browser, sandbox_lms, tool, [NRPS_SCOPE]), **params)
    assert resp.status_code == 400


@pytest.mark.req("L4", "L1")
def test_missing_token_is_moodles_401(sandbox_lms, tool, browser):
    moodle = moodle_fixture("service-13-nrps-no-token.json")["response"]
    resp = browser.get(_url(sandbox_lms, tool))
    assert resp.status_code == 401
    assert resp.headers["Content-Type"] == moodle["content_type"]
    body = resp.json()
    assert {k: body[k] for k in moodle["body"]} == {**moodle["body"], "request": {
        **moodle["body"]["request"], "url": f"/mod/lti/services.php/CourseSection/2/bindings/"
                                            f"{tool.registration.type_id}/memberships"}}


@pytest.mark.req("L4", "L1")
@pytest.mark.parametrize("authorization", ["Bearer not-a-token", "Bearer a.b.c", "Basic abc", "Bearer"])
def test_bad_tokens_are_401_not_500(sandbox_lms, tool, browser, authorization):
    resp = browser.get(_url(sandbox_lms, tool), headers={"Authorization": authorization})
    assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized"


@pytest.mark.req("L4", "L1")
def test_token_without_the_nrps_scope_is_401(sandbox_lms, tool, browser):
    token = access_token(browser, sandbox_lms, tool, ["https://purl.imsglobal.org/spec/lti-ags/scope/score"])
    assert _get(browser, _url(sandbox_lms, tool), token).status_code == 401


@pytest.mark.req("L4", "L1")
def test_token_of_another_tool_is_401(sandbox_lms, tool, browser):
    token = access_token(browser, sandbox_lms, tool, [NRPS_SCOPE])
    other = sandbox_lms.state.register_tool(name="Other", login_url=tool.login_url, launch_url=tool.launch_url,
                                            jwks_url=tool.jwks_url)
    url = f"{sandbox_lms.url}/mod/lti/services.php/CourseSection/2/bindings/{other.type_id}/memberships"
    assert _get(browser, url, token).status_code == 401


@pytest.mark.req("L4")
def test_privacy_settings_drop_name_and_email(sandbox_lms, sim_tool, browser):
    sim_tool.register(sandbox_lms.state, send_name=False, send_email=False)
    members = _get(browser, _url(sandbox_lms, sim_tool),
                   access_token(browser, sandbox_lms, sim_tool, [NRPS_SCOPE])).json()["members"]
    assert not {"name", "given_name", "family_name", "email"} & set(members[0])


@pytest.mark.req("L4", "L5")
def test_outage_answers_503(sandbox_lms, tool, browser):
    token = access_token(browser, sandbox_lms, tool, [NRPS_SCOPE])
    sandbox_lms.state.set_outage(True)
    resp = _get(browser, _url(sandbox_lms, tool), token)
    assert resp.status_code == 503 and resp.json()["status"] == 503
    sandbox_lms.state.set_outage(False)
    assert _get(browser, _url(sandbox_lms, tool), token).status_code == 200
