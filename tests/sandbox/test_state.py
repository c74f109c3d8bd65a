"""The sandbox's state: persistence across a restart (same platform key, tools, gradebook),
atomic single use under concurrency, and the demo pages and controls."""
from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from lms_plugin.sandbox import Sandbox, SandboxStateError
from lms_plugin.sandbox.records import Score
from lms_plugin.sandbox.state import HintError

from .flows import access_token, bearer, launch


@pytest.mark.req("L1", "L2", "L5")
def test_restart_keeps_key_tools_activities_and_scores(sandbox_lms_factory, sim_tool, browser, tmp_path):
    path = tmp_path / "sandbox.json"
    first = sandbox_lms_factory(state_path=path)
    sim_tool.register(first.state)
    activity = first.state.add_activity(sim_tool.client_id, "Exam", {"k": "v"}, line_item=10)
    item = first.state.activity_line_items(activity.id)[0]
    token = access_token(browser, first, sim_tool, ["https://purl.imsglobal.org/spec/lti-ags/scope/score",
                                                    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"])
    score = {"userId": "6", "scoreGiven": 4, "scoreMaximum": 5, "activityProgress": "Completed",
             "gradingProgress": "FullyGraded", "timestamp": "2026-11-22T10:00:00Z"}
    url = (f"{first.url}/mod/lti/services.php/2/lineitems/{item.id}/lineitem/scores"
           f"?type_id={sim_tool.registration.type_id}")
    assert browser.post(url, json=score, headers=bearer(
        token, **{"Content-Type": "application/vnd.ims.lis.v1.score+json"})).status_code == 200
    kid = first.state.kid
    sandbox_lms_factory.stop(first)

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert token not in path.read_text()  # access tokens are kept as hashes only

    second = sandbox_lms_factory(state_path=path)
    assert second.state.kid == kid
    assert [t.client_id for t in second.state.tools] == [sim_tool.client_id]
    assert second.state.activity(activity.id).custom == {"k": "v"}
    assert [(s.user_id, s.score_given) for s in second.state.scores(item.id)] == [("6", 4.0)]
    again = second.state.add_activity(sim_tool.client_id, "Second exam")
    assert again.id == activity.id + 1  # counters survive too
    # A tool's cached access token keeps working after the restart.
    results = url.replace(first.url, second.url).replace("/scores", "/results")
    assert browser.get(results, headers=bearer(token)).json()[0]["resultScore"] == 8


@pytest.mark.req("L1")
def test_launch_still_verifies_after_restart(sandbox_lms_factory, sim_tool, browser, tmp_path):
    path = tmp_path / "sandbox.json"
    first = sandbox_lms_factory(state_path=path)
    sim_tool.register(first.state)
    activity = first.state.add_activity(sim_tool.client_id, "Exam")
    sandbox_lms_factory.stop(first)
    second = sandbox_lms_factory(state_path=path)
    claims, _ = launch(browser, second, sim_tool, second.state.launch_url(5, activity.id))
    assert claims["sub"] == "5"


@pytest.mark.req("L2")
def test_unreadable_state_file_refuses_to_start(tmp_path):
    path = tmp_path / "sandbox.json"
    path.write_text("{ not json")
    with pytest.raises(SandboxStateError):
        Sandbox("http://localhost:1", path)
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(SandboxStateError):
        Sandbox("http://localhost:1", path)
    assert path.read_text() == json.dumps({"format": 99})  # never overwritten


@pytest.mark.req("L1")
def test_a_launch_hint_is_consumed_once_under_concurrency():
    sb = Sandbox("http://localhost:1")
    tool = sb.register_tool(name="T", login_url="http://127.0.0.1:9/l", launch_url="http://127.0.0.1:9/x",
                            jwks_url="http://127.0.0.1:9/j")
    hint = sb.issue_launch_hint(user_id=5, client_id=tool.client_id, message_type="LtiResourceLinkRequest",
                                activity_id=None, container="window")
    wins, barrier = [], threading.Barrier(8)

    def consume():
        barrier.wait()
        try:
            sb.consume_launch_hint(hint.launch_id)
            wins.append(1)
        except HintError:
            pass

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


@pytest.mark.req("L1")
def test_a_jti_is_accepted_once_under_concurrency():
    sb = Sandbox("http://localhost:1")
    results, barrier = [], threading.Barrier(8)

    def remember():
        barrier.wait()
        results.append(sb.remember_jti("client", "jti-1", keep_until=4_000_000_000))

    threads = [threading.Thread(target=remember) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.req("L5")
def test_api_validates_its_arguments():
    sb = Sandbox("http://localhost:1")
    with pytest.raises(ValueError):
        sb.register_tool(name="T", login_url="javascript:x", launch_url="http://a/x", jwks_url="http://a/j")
    tool = sb.register_tool(name="T", login_url="http://a/l", launch_url="http://a/x", jwks_url="http://a/j")
    with pytest.raises(KeyError):
        sb.add_activity("nobody", "Exam")
    with pytest.raises(ValueError):
        sb.add_activity(tool.client_id, "Exam", line_item={"scoreMaximum": 0})
    with pytest.raises(ValueError):
        sb.launch_url(5, 1, container="tab")
    with pytest.raises(ValueError):
        sb.set_stale_score_mode("sometimes")
    activity = sb.add_activity(tool.client_id, "Exam", line_item=10)
    item = sb.activity_line_items(activity.id)[0]
    assert item.id == 2  # grade item 1 is the course total, as in Moodle
    with pytest.raises(KeyError):
        sb.record_score(Score(line_item_id=99, user_id="5", timestamp="2026-11-22T00:00:00Z",
                              activity_progress="Completed", grading_progress="FullyGraded"))


@pytest.mark.req("L5")
def test_controls_page_switches_the_outage(sandbox_lms, browser):
    page = browser.get(f"{sandbox_lms.url}/sandbox/controls")
    assert page.status_code == 200 and "Start an outage" in page.text
    browser.post(f"{sandbox_lms.url}/sandbox/controls", data={"outage": "on"})
    assert sandbox_lms.state.outage
    browser.post(f"{sandbox_lms.url}/sandbox/controls", data={"outage": "off", "stale_score_mode": "moodle",
                                                              "login_method": "post"})
    assert not sandbox_lms.state.outage
    assert sandbox_lms.state.stale_score_mode == "moodle" and sandbox_lms.state.login_method == "post"


@pytest.mark.req("L6")
def test_course_page_lists_people_activities_and_both_containers(sandbox_lms, tool, browser):
    activity = sandbox_lms.state.add_activity(tool.client_id, "Final <exam>")
    page = browser.get(f"{sandbox_lms.url}/course/2")
    assert page.status_code == 200
    for name in ("Admin User", "Tess Teacher", "Nora NonEditing", "Sam Student", "Sue Student", "Sid Student"):
        assert name in page.text
    assert "Final &lt;exam&gt;" in page.text
    assert f"link={activity.id}&amp;container=window" in page.text
    assert f"link={activity.id}&amp;container=iframe" in page.text
    assert browser.get(f"{sandbox_lms.url}/").status_code == 200
    assert browser.get(f"{sandbox_lms.url}/course/3").status_code == 404


@pytest.mark.req("L3")
def test_add_activity_form(sandbox_lms, tool, browser):
    resp = browser.post(f"{sandbox_lms.url}/course/2/activities", data={
        "tool": tool.client_id, "title": "Quiz", "grade_max": "25", "custom": "exam = 7\nbroken line\n",
        "container": "iframe"})
    assert resp.status_code == 200 and "Quiz" in resp.text
    [activity] = sandbox_lms.state.activities
    assert activity.custom == {"exam": "7"} and activity.container == "iframe"
    assert sandbox_lms.state.activity_line_items(activity.id)[0].score_maximum == 25
    bad = browser.post(f"{sandbox_lms.url}/course/2/activities", data={"tool": "nobody", "title": "X"})
    assert bad.status_code == 400


@pytest.mark.req("L1")
@pytest.mark.parametrize("path", ["/nowhere", "/mod/lti/services.php/nowhere"])
def test_unknown_paths_are_404_pages_or_json(sandbox_lms, browser, path):
    resp = browser.get(f"{sandbox_lms.url}{path}")
    assert resp.status_code == 404
    if "services.php" in path:
        assert resp.json()["status"] == 404
