"""AGS in Moodle's shapes: bare line-item arrays, 201 on create, score POST → 200 with an
empty body, results scaled to the line item's maximum; validation, per-endpoint scopes
(lib bug 5), stale scores, outage."""
from __future__ import annotations

import json

import pytest

from .flows import access_token, bearer, moodle_fixture

S_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
S_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
S_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
S_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
ALL = [S_LINEITEM, S_READONLY, S_RESULT, S_SCORE]
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"


@pytest.fixture
def graded(sandbox_lms, tool):
    """An activity graded out of 100, like the fixtures' "Probe activity"."""
    activity = sandbox_lms.state.add_activity(tool.client_id, "Probe activity", line_item={"scoreMaximum": 100})
    item = sandbox_lms.state.activity_line_items(activity.id)[0]
    return activity, item


def _lineitems_url(lms, tool):
    return f"{lms.url}/mod/lti/services.php/2/lineitems?type_id={tool.registration.type_id}"


def _item_url(lms, tool, item_id, sub=""):
    return f"{lms.url}/mod/lti/services.php/2/lineitems/{item_id}/lineitem{sub}?type_id={tool.registration.type_id}"


def _score(user_id="5", timestamp="2026-11-22T00:03:45.951+00:00", **fields):
    body = {"userId": user_id, "scoreGiven": 7.5, "scoreMaximum": 10, "comment": "score posted by the acceptance probe",
            "activityProgress": "Completed", "gradingProgress": "FullyGraded", "timestamp": timestamp}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def _post_score(http, url, token, body, content_type=SCORE_TYPE):
    # json.dumps, not requests' json=: it must be able to send NaN like a careless tool.
    return http.post(url, data=json.dumps(body), headers=bearer(token, **{"Content-Type": content_type}))


@pytest.mark.req("L5")
def test_lineitems_and_lineitem_match_moodle(sandbox_lms, tool, graded, browser):
    moodle_list = moodle_fixture("service-07-ags-lineitems.json")["response"]
    moodle_item = moodle_fixture("service-08-ags-lineitem.json")["response"]
    activity, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_READONLY])
    resp = browser.get(_lineitems_url(sandbox_lms, tool), headers=bearer(token))
    assert resp.status_code == 200 and resp.headers["Content-Type"] == moodle_list["content_type"]
    body = resp.json()
    assert isinstance(body, list) and len(body) == 1
    expected = dict(moodle_list["body"][0], id=_item_url(sandbox_lms, tool, item.id),
                    resourceLinkId=str(activity.id), ltiLinkId=str(activity.id))
    assert body[0] == expected
    one = browser.get(body[0]["id"], headers=bearer(token))
    assert one.status_code == 200 and one.headers["Content-Type"] == moodle_item["content_type"]
    assert one.json() == expected


@pytest.mark.req("L5")
def test_create_lineitem_like_moodle(sandbox_lms, tool, graded, browser):
    moodle = moodle_fixture("service-11-ags-lineitem-create.json")
    moodle_after = moodle_fixture("service-12-ags-lineitems-after-create.json")["response"]["body"]
    activity, _ = graded
    token = access_token(browser, sandbox_lms, tool, [S_LINEITEM])
    request_body = dict(moodle["request"]["body"], resourceLinkId=str(activity.id))
    resp = browser.post(_lineitems_url(sandbox_lms, tool), json=request_body,
                        headers=bearer(token, **{"Content-Type": LINEITEM_TYPE}))
    assert resp.status_code == 201
    assert resp.headers["Content-Type"] == moodle["response"]["content_type"]
    created = resp.json()
    assert set(created) == set(moodle["response"]["body"])
    assert {k: created[k] for k in request_body} == request_body
    listed = browser.get(_lineitems_url(sandbox_lms, tool), headers=bearer(token)).json()
    assert [set(li) for li in listed] == [set(li) for li in moodle_after]
    assert listed[1]["id"] == created["id"]


@pytest.mark.req("L5")
@pytest.mark.parametrize("body", [
    {"label": "No maximum"},
    {"label": "Zero", "scoreMaximum": 0},
    {"label": "Text", "scoreMaximum": "100"},
    {"scoreMaximum": 10},
    {"label": "Foreign link", "scoreMaximum": 10, "resourceLinkId": "999"},
    {"label": "Bad date", "scoreMaximum": 10, "endDateTime": "tomorrow"},
    ["not", "an", "object"],
])
def test_create_lineitem_validates(sandbox_lms, tool, browser, body):
    token = access_token(browser, sandbox_lms, tool, [S_LINEITEM])
    resp = browser.post(_lineitems_url(sandbox_lms, tool), json=body,
                        headers=bearer(token, **{"Content-Type": LINEITEM_TYPE}))
    assert resp.status_code == 400 and resp.json()["status"] == 400


@pytest.mark.req("L5")
def test_score_post_then_results_scaled_like_moodle(sandbox_lms, tool, graded, browser):
    moodle_post = moodle_fixture("service-09-ags-score-post.json")
    moodle_results = moodle_fixture("service-10-ags-results.json")["response"]
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_SCORE, S_RESULT])
    resp = _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), token, moodle_post["request"]["body"])
    assert resp.status_code == 200
    assert resp.text == ""
    assert resp.headers["Content-Type"] == moodle_post["response"]["content_type"]

    results = browser.get(_item_url(sandbox_lms, tool, item.id, "/results"), headers=bearer(token))
    assert results.status_code == 200 and results.headers["Content-Type"] == moodle_results["content_type"]
    type_id = tool.registration.type_id
    expected = [dict(moodle_results["body"][0],
                     id=f"{sandbox_lms.url}/mod/lti/services.php/2/lineitems/{item.id}/lineitem/results"
                        f"?type_id={type_id}&user_id=5",
                     scoreOf=_item_url(sandbox_lms, tool, item.id))]
    assert results.json() == expected  # 7.5/10 → 75/100, timestamp to the second

    stored = sandbox_lms.state.scores(item.id)
    assert [(s.user_id, s.score_given, s.score_maximum, s.grade(item.score_maximum)) for s in stored] == \
        [("5", 7.5, 10.0, 75.0)]


@pytest.mark.req("L5")
def test_results_filter_and_paging(sandbox_lms, tool, graded, browser):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_SCORE, S_RESULT])
    for user in ("5", "6", "7"):
        assert _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), token,
                           _score(user)).status_code == 200
    url = _item_url(sandbox_lms, tool, item.id, "/results")
    only6 = browser.get(url, params={"user_id": "6"}, headers=bearer(token)).json()
    assert [r["userId"] for r in only6] == ["6"]
    first = browser.get(url, params={"limit": "2"}, headers=bearer(token))
    assert [r["userId"] for r in first.json()] == ["5", "6"]
    next_url = first.headers["Link"].split(";")[0].strip("<>")
    assert [r["userId"] for r in browser.get(next_url, headers=bearer(token)).json()] == ["7"]


@pytest.mark.req("L5")
@pytest.mark.parametrize("body, why", [
    (_score(user_id="99"), "userId"),
    (_score(user_id="3"), "userId"),  # the teacher is not gradable (Moodle's gradebookroles)
    (_score(user_id=None), "userId"),
    (_score(timestamp="yesterday"), "timestamp"),
    (_score(timestamp="2026-11-22T00:03:45"), "time zone"),
    (_score(timestamp=None), "timestamp"),
    (_score(scoreGiven=-1), "scoreGiven"),
    (_score(scoreGiven="7.5"), "scoreGiven"),
    (_score(scoreGiven=float("nan")), "scoreGiven"),
    (_score(scoreMaximum=float("inf")), "scoreMaximum"),
    (_score(scoreMaximum=None), "scoreMaximum"),
    (_score(scoreMaximum=0), "scoreMaximum"),
    (_score(activityProgress="Done"), "activityProgress"),
    (_score(gradingProgress=None), "gradingProgress"),
    (_score(comment=5), "comment"),
    ("just text", "score"),
])
def test_invalid_scores_are_400(sandbox_lms, tool, graded, browser, body, why):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_SCORE])
    resp = _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), token, body)
    assert resp.status_code == 400
    assert why in resp.json()["reason"]
    assert sandbox_lms.state.score_log(item.id) == []


@pytest.mark.req("L5")
def test_score_needs_the_score_media_type(sandbox_lms, tool, graded, browser):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_SCORE])
    resp = _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), token, _score(),
                       content_type="application/json")
    assert resp.status_code == 400


@pytest.mark.req("L5")
def test_older_score_is_ignored(sandbox_lms, tool, graded, browser):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_SCORE])
    url = _item_url(sandbox_lms, tool, item.id, "/scores")
    assert _post_score(browser, url, token, _score(scoreGiven=9, timestamp="2026-11-22T10:00:00+00:00")).status_code == 200
    old = _post_score(browser, url, token, _score(scoreGiven=1, timestamp="2026-11-22T09:00:00+00:00"))
    assert old.status_code == 200 and old.text == ""
    assert [s.score_given for s in sandbox_lms.state.scores(item.id)] == [9.0]
    assert [s.applied for s in sandbox_lms.state.score_log(item.id)] == [True, False]


@pytest.mark.req("L5")
def test_moodle_mode_refuses_a_score_that_is_not_newer_with_409(sandbox_lms, tool, graded, browser):
    _, item = graded
    sandbox_lms.state.set_stale_score_mode("moodle")
    token = access_token(browser, sandbox_lms, tool, [S_SCORE])
    url = _item_url(sandbox_lms, tool, item.id, "/scores")
    assert _post_score(browser, url, token, _score(timestamp="2026-11-22T10:00:00.100+00:00")).status_code == 200
    same_second = _post_score(browser, url, token, _score(timestamp="2026-11-22T10:00:00.900+00:00"))
    assert same_second.status_code == 409
    assert "Refusing score with an earlier timestamp" in same_second.json()["reason"]
    assert _post_score(browser, url, token, _score(timestamp="2026-11-22T10:00:01+00:00")).status_code == 200


@pytest.mark.req("L5")
def test_pending_grading_records_no_grade(sandbox_lms, tool, graded, browser):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_SCORE, S_RESULT])
    _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), token,
                _score(gradingProgress="PendingManual", activityProgress="Submitted"))
    result = browser.get(_item_url(sandbox_lms, tool, item.id, "/results"), headers=bearer(token)).json()[0]
    assert "resultScore" not in result


@pytest.mark.req("L5", "L1")
@pytest.mark.parametrize("scopes, method, sub, expected", [
    ([S_SCORE], "GET", "", 401),                   # listing needs lineitem(.readonly)
    ([S_READONLY], "POST", "/scores", 401),        # posting a score needs score
    ([S_SCORE], "GET", "/results", 401),           # results need result.readonly
    ([S_READONLY], "PUT", "", 401),                # changing a line item needs lineitem
    ([S_READONLY], "GET", "", 200),
    ([S_RESULT], "GET", "/results", 200),
])
def test_each_endpoint_demands_its_own_scope(sandbox_lms, tool, graded, browser, scopes, method, sub, expected):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, scopes)
    headers = bearer(token, **{"Content-Type": SCORE_TYPE if sub == "/scores" else LINEITEM_TYPE})
    body = _score() if sub == "/scores" else {"label": "Renamed"}
    resp = browser.request(method, _item_url(sandbox_lms, tool, item.id, sub), json=body, headers=headers)
    assert resp.status_code == expected


@pytest.mark.req("L5")
def test_update_and_delete_lineitem(sandbox_lms, tool, graded, browser):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_LINEITEM])
    url = _item_url(sandbox_lms, tool, item.id)
    put = browser.put(url, json={"label": "Final exam", "scoreMaximum": 50},
                      headers=bearer(token, **{"Content-Type": LINEITEM_TYPE}))
    assert put.status_code == 200 and put.json()["label"] == "Final exam" and put.json()["scoreMaximum"] == 50
    assert browser.put(url, data="null", headers=bearer(token, **{"Content-Type": LINEITEM_TYPE})).status_code == 400
    assert browser.delete(url, headers=bearer(token)).status_code == 204
    assert browser.get(url, headers=bearer(token)).status_code == 404


@pytest.mark.req("L5", "L1")
def test_line_items_of_another_tool_are_not_found(sandbox_lms, tool, browser):
    other = sandbox_lms.state.register_tool(name="Other", login_url=tool.login_url, launch_url=tool.launch_url,
                                            jwks_url=tool.jwks_url)
    foreign = sandbox_lms.state.add_activity(other.client_id, "Not yours", line_item=10)
    item = sandbox_lms.state.activity_line_items(foreign.id)[0]
    token = access_token(browser, sandbox_lms, tool, ALL)
    assert browser.get(_item_url(sandbox_lms, tool, item.id), headers=bearer(token)).status_code == 404
    assert browser.get(_lineitems_url(sandbox_lms, tool), headers=bearer(token)).json() == []


@pytest.mark.req("L5", "L1")
def test_bad_token_is_401_json(sandbox_lms, tool, graded, browser):
    _, item = graded
    resp = _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), "forged", _score())
    assert resp.status_code == 401 and resp.json()["status"] == 401


@pytest.mark.req("L5")
def test_unknown_type_or_course_is_not_served(sandbox_lms, tool, graded, browser):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, ALL)
    assert browser.get(f"{sandbox_lms.url}/mod/lti/services.php/2/lineitems?type_id=99",
                       headers=bearer(token)).status_code == 401
    assert browser.get(f"{sandbox_lms.url}/mod/lti/services.php/2/lineitems",
                       headers=bearer(token)).status_code == 401
    assert browser.get(f"{sandbox_lms.url}/mod/lti/services.php/7/lineitems?type_id={tool.registration.type_id}",
                       headers=bearer(token)).status_code == 404
    # Appending /scores after the query string (a classic tool bug) does not reach the scores endpoint.
    wrong = _item_url(sandbox_lms, tool, item.id) + "/scores"
    assert _post_score(browser, wrong, token, _score()).status_code in (400, 401, 404, 405)
    assert sandbox_lms.state.score_log(item.id) == []


@pytest.mark.req("L5")
def test_outage_answers_503_and_keeps_nothing(sandbox_lms, tool, graded, browser):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, ALL)
    sandbox_lms.state.set_outage(True)
    resp = _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), token, _score())
    assert resp.status_code == 503
    assert sandbox_lms.state.score_log(item.id) == []
    sandbox_lms.state.set_outage(False)
    assert _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), token, _score()).status_code == 200


@pytest.mark.req("L5")
def test_gradebook_page_shows_the_scores(sandbox_lms, tool, graded, browser):
    _, item = graded
    token = access_token(browser, sandbox_lms, tool, [S_SCORE])
    _post_score(browser, _item_url(sandbox_lms, tool, item.id, "/scores"), token,
                _score(comment="<i>well done</i>"))
    page = browser.get(f"{sandbox_lms.url}/grade/report")
    assert page.status_code == 200
    assert "Sam Student" in page.text and "75.00" in page.text
    assert "&lt;i&gt;well done&lt;/i&gt;" in page.text
