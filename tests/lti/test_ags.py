"""Assignment and Grade Services and the service token (L5), over real sockets."""
from __future__ import annotations

import socket

import pytest

from bridge import clock
from lms_plugin.errors import ServiceError
from lms_plugin.services import ags, service_token as st
from tests.lti.factories import (AGS_SCOPES, LINEITEMS_PATH, ensure_tool_key,  # noqa: F401
                                 fresh_tokens, make_course, make_exam, make_platform, moodle)

pytestmark = pytest.mark.req("L5")

SCORE_MEDIA = "application/vnd.ims.lis.v1.score+json"


@pytest.fixture
def course(db_session, moodle):
    platform = make_platform(db_session, moodle.origin)
    course = make_course(db_session, platform)
    db_session.commit()
    return course


@pytest.fixture
def creds(db_session, course):
    return st.credentials(db_session, course.deployment.platform)


def _score(creds, lineitem_url, **over):
    kw = dict(user_sub="5", score_given=7.5, score_maximum=10, comment="well done",
              activity_progress="Completed", grading_progress="FullyGraded",
              timestamp="2026-11-22T00:03:45.951+00:00")
    kw.update(over)
    return ags.post_score(creds, lineitem_url, **kw)


# --- pure helpers ---------------------------------------------------------------------------
@pytest.mark.parametrize("lineitem, scores, results", [
    ("https://m.example/mod/lti/services.php/2/lineitems/109/lineitem?type_id=2",
     "https://m.example/mod/lti/services.php/2/lineitems/109/lineitem/scores?type_id=2",
     "https://m.example/mod/lti/services.php/2/lineitems/109/lineitem/results?type_id=2"),
    ("https://lms.example/api/lineitems/7", "https://lms.example/api/lineitems/7/scores",
     "https://lms.example/api/lineitems/7/results"),
    ("https://lms.example/api/lineitems/7/", "https://lms.example/api/lineitems/7/scores",
     "https://lms.example/api/lineitems/7/results"),
    ("https://lms.example/li/7?a=1&b=x%2Fy", "https://lms.example/li/7/scores?a=1&b=x%2Fy",
     "https://lms.example/li/7/results?a=1&b=x%2Fy"),
])
def test_scores_and_results_urls_go_into_the_path(lineitem, scores, results):
    assert ags.scores_url(lineitem) == scores
    assert ags.results_url(lineitem) == results


def test_parse_lineitems_accepts_bare_arrays_and_containers():
    item = {"id": "https://l/1", "label": "Quiz", "scoreMaximum": "20", "resourceId": "abc",
            "tag": "", "resourceLinkId": 4}
    bare = ags.parse_lineitems([item, {"label": "no id"}])
    wrapped = ags.parse_lineitems({"lineItems": [item]})
    assert bare == wrapped == [ags.LineItem(id="https://l/1", label="Quiz", score_maximum=20.0,
                                            resource_id="abc", tag="", resource_link_id="4")]
    with pytest.raises(ServiceError):
        ags.parse_lineitems({"unexpected": True})


def test_match_lineitem_by_resource_id_then_tag_on_the_resource_link():
    items = [ags.LineItem(id="moodle-default", resource_id="", tag="", resource_link_id="1"),
             ags.LineItem(id="other-exam", resource_id="zzz", tag="exambridge", resource_link_id="2"),
             ags.LineItem(id="ours", resource_id="pub-1", tag="exambridge", resource_link_id="1")]
    assert ags.match_lineitem(items, resource_id="pub-1").id == "ours"
    assert ags.match_lineitem(items[:2], resource_id="pub-1") is None  # "" never matches
    tagged = [ags.LineItem(id="tagged", resource_id="", tag="exambridge", resource_link_id="1")]
    assert ags.match_lineitem(tagged, resource_id="pub-1", resource_link_id="1").id == "tagged"
    assert ags.match_lineitem(tagged, resource_id="pub-1", resource_link_id="9") is None


def test_score_body_leaves_out_an_empty_comment():
    body = ags.score_body(user_sub="5", score_given=1, score_maximum=2, comment="",
                          activity_progress="Completed", grading_progress="FullyGraded",
                          timestamp="t")
    assert "comment" not in body and body["userId"] == "5"


# --- where tokens may go ----------------------------------------------------------------------
def _creds(issuer, token_url):
    return st.PlatformCredentials(platform_id=1, issuer=issuer, client_id="c", token_url=token_url,
                                  kid="k", private_pem="")


@pytest.mark.parametrize("url, ok", [
    ("https://moodle.example.edu/mod/lti/services.php/2/lineitems", True),
    ("https://moodle.example.edu:443/mod/lti/services.php/2/lineitems", True),
    ("https://auth.example.edu/other", True),                  # the token URL's host
    ("http://moodle.example.edu/mod/lti/services.php", False),  # downgrade to http
    ("https://moodle.example.edu:8443/x", False),              # another port
    ("https://evil.example.com/moodle.example.edu/x", False),
    ("https://moodle.example.edu.evil.com/x", False),
    ("ftp://moodle.example.edu/x", False),
])
def test_tokens_go_only_to_the_platforms_host(url, ok):
    creds = _creds("https://moodle.example.edu", "https://auth.example.edu/token")
    if ok:
        st.check_service_url(creds, url)
    else:
        with pytest.raises(ServiceError) as err:
            st.check_service_url(creds, url)
        assert not err.value.retryable


def test_scopes_must_have_been_granted_by_the_launch(creds, moodle):
    with pytest.raises(ServiceError) as err:
        _score(creds, f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1",
               granted=[st.SCOPE_LINEITEM])
    assert err.value.reason == "scope_not_granted" and not err.value.retryable
    assert st.SCOPE_SCORE in err.value.message
    assert moodle.requests == []


# --- tokens ----------------------------------------------------------------------------------
def test_token_is_fetched_with_a_correct_assertion_and_cached(creds, moodle):
    first = st.access_token(creds, [st.SCOPE_SCORE])
    again = st.access_token(creds, {st.SCOPE_SCORE})
    other = st.access_token(creds, [st.SCOPE_SCORE, st.SCOPE_LINEITEM])
    assert first == again != other
    posts = moodle.calls("POST", "/token.php")
    assert len(posts) == 2 and moodle.assertion_errors == []
    assert [p.form()["scope"] for p in posts] == [
        st.SCOPE_SCORE, " ".join(sorted([st.SCOPE_SCORE, st.SCOPE_LINEITEM]))]
    assert posts[0].form()["client_assertion_type"] == \
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert len(moodle.jtis) == 2  # a fresh jti each time


def test_token_is_refetched_shortly_before_it_expires(creds, moodle):
    st.access_token(creds, [st.SCOPE_SCORE])
    clock.set_offset(3600 - 30)  # Moodle's tokens live 3600 s; we renew a minute early
    try:
        st.access_token(creds, [st.SCOPE_SCORE])
    finally:
        clock.set_offset(0)
    assert len(moodle.calls("POST", "/token.php")) == 2 and moodle.assertion_errors == []


def test_unknown_client_is_a_permanent_token_error(db_session, course, moodle):
    platform = course.deployment.platform
    platform.client_id = "not-registered"
    creds = st.credentials(db_session, platform)
    with pytest.raises(ServiceError) as err:
        st.access_token(creds, [st.SCOPE_SCORE])
    assert err.value.reason == "token_invalid_client" and not err.value.retryable
    assert "client id" in err.value.message


def test_unpermitted_scope_is_a_permanent_token_error(creds, moodle):
    with pytest.raises(ServiceError) as err:
        st.access_token(creds, ["https://example.invalid/scope/none"])
    assert err.value.reason == "token_invalid_scope" and not err.value.retryable


def test_token_endpoint_down_is_retryable(creds, moodle):
    moodle.outage = 503
    with pytest.raises(ServiceError) as err:
        st.access_token(creds, [st.SCOPE_SCORE])
    assert err.value.retryable and err.value.status == 503


def test_unreachable_platform_is_retryable(db_session, fresh_tokens):
    ensure_tool_key(db_session)
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        platform = make_platform(db_session, f"http://127.0.0.1:{port}")
        creds = st.credentials(db_session, platform, timeout=2)
        with pytest.raises(ServiceError) as err:
            _score(creds, f"http://127.0.0.1:{port}{LINEITEMS_PATH}/2/lineitem?type_id=1")
    assert err.value.retryable and err.value.reason == "token_unreachable"


# --- scores ----------------------------------------------------------------------------------
def test_post_score_like_moodle_wants_it(creds, moodle):
    lineitem = f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1"
    assert _score(creds, lineitem) is None  # 200 with an empty body is success

    (post,) = moodle.calls("POST", "/scores")
    assert post.path == f"{LINEITEMS_PATH}/2/lineitem/scores" and post.query == "type_id=1"
    assert post.headers["Content-Type"] == SCORE_MEDIA
    assert post.headers["Authorization"].startswith("Bearer ")
    assert post.json() == {"userId": "5", "scoreGiven": 7.5, "scoreMaximum": 10,
                           "comment": "well done", "activityProgress": "Completed",
                           "gradingProgress": "FullyGraded",
                           "timestamp": "2026-11-22T00:03:45.951+00:00"}
    (token,) = moodle.calls("POST", "/token.php")
    assert token.form()["scope"] == st.SCOPE_SCORE


@pytest.mark.parametrize("status, retryable", [
    (400, False), (403, False), (404, False), (422, False),
    (408, True), (429, True), (500, True), (502, True), (503, True),
])
def test_score_failures_are_classified(creds, moodle, status, retryable):
    moodle.score_reply = (status, '{"status": %d, "reason": "Incorrect score received"}' % status)
    with pytest.raises(ServiceError) as err:
        _score(creds, f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1")
    assert err.value.retryable is retryable and err.value.status == status
    assert "Incorrect score received" in err.value.message


def test_a_401_drops_the_token_and_retries_once(creds, moodle):
    lineitem = f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1"
    _score(creds, lineitem)
    moodle.tokens.clear()  # the LMS forgets every token it issued (restart, revocation)
    _score(creds, lineitem, score_given=8)

    assert len(moodle.calls("POST", "/token.php")) == 2
    posts = moodle.calls("POST", "/scores")
    assert len(posts) == 3 and len(moodle.scores) == 2
    assert posts[1].headers["Authorization"] != posts[2].headers["Authorization"]


def test_a_401_that_persists_is_retryable_and_explained(creds, moodle, monkeypatch):
    monkeypatch.setattr(moodle, "_guard", lambda request, any_of: moodle._json(
        {"status": 401, "reason": "Unauthorized"}, "application/json", 401))
    with pytest.raises(ServiceError) as err:
        _score(creds, f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1")
    assert err.value.retryable and err.value.status == 401
    assert "Authorization header" in err.value.message
    assert len(moodle.calls("POST", "/scores")) == 2  # tried once more, not forever


def test_disabled_platform_is_not_called(db_session, course, moodle):
    course.deployment.platform.active = False
    creds = st.credentials(db_session, course.deployment.platform)
    with pytest.raises(ServiceError) as err:
        _score(creds, f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1")
    assert err.value.reason == "platform_disabled"
    assert moodle.requests == []


# --- line items ------------------------------------------------------------------------------
def test_find_or_create_lineitem_creates_once_and_stores_it(db_session, course, moodle):
    """Placed in an activity Moodle made no column for (grades delegated to the teacher, who
    chose none): the exam's own column, bound to the resource link."""
    exam = make_exam(db_session, course, title="Final exam", score_maximum=50,
                     resource_link_id="7")
    url = ags.find_or_create_lineitem(db_session, exam)

    assert exam.lineitem_url == url == f"{moodle.origin}{LINEITEMS_PATH}/3/lineitem?type_id=1"
    (get,) = moodle.calls("GET", LINEITEMS_PATH)
    assert get.query == "type_id=1"
    assert get.headers["Accept"] == "application/vnd.ims.lis.v2.lineitemcontainer+json"
    (post,) = moodle.calls("POST", LINEITEMS_PATH)
    assert post.headers["Content-Type"] == "application/vnd.ims.lis.v2.lineitem+json"
    assert post.json() == {"label": "Final exam", "scoreMaximum": 50.0,
                           "resourceId": exam.public_id, "tag": "exambridge",
                           "resourceLinkId": "7"}
    assert ags.find_or_create_lineitem(db_session, exam) == url
    assert len(moodle.calls()) == 3  # token, GET, POST: the second call asked nobody


def test_find_or_create_lineitem_finds_an_existing_one(db_session, course, moodle):
    exam = make_exam(db_session, course)
    moodle.lineitems.append({"id": f"{moodle.origin}{LINEITEMS_PATH}/9/lineitem?type_id=1",
                             "label": "Midterm", "scoreMaximum": 10,
                             "resourceId": exam.public_id, "tag": "exambridge"})
    url = ags.find_or_create_lineitem(db_session, exam)
    assert url.endswith("/9/lineitem?type_id=1")
    assert moodle.calls("POST", LINEITEMS_PATH) == []


@pytest.mark.req("L5")
def test_a_placed_exam_uses_its_activity_column(db_session, course, moodle):
    """Issue 12 (two gradebook columns): Moodle made the activity's line item (resourceLinkId
    1, no resourceId, no tag); the exam placed there writes to it and makes none of its own."""
    exam = make_exam(db_session, course, resource_link_id="1")
    url = ags.find_or_create_lineitem(db_session, exam)
    assert url == f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1"
    assert exam.lineitem_source == "activity"
    assert moodle.calls("POST", LINEITEMS_PATH) == []


def test_choose_lineitem_prefers_the_activity_over_an_own_column():
    items = [ags.LineItem(id="own", resource_id="pub-1", tag="exambridge"),
             ags.LineItem(id="activity", resource_id="", tag="", resource_link_id="4"),
             ags.LineItem(id="other", resource_id="", tag="", resource_link_id="5")]
    assert ags.choose_lineitem(items, resource_id="pub-1", resource_link_ids=["4"]) == (items[1], "activity")
    assert ags.choose_lineitem(items, resource_id="pub-1") == (items[0], "created")
    assert ags.choose_lineitem(items[1:], resource_id="pub-1", resource_link_ids=["9"]) is None


def test_lineitem_list_follows_next_links(creds, moodle, monkeypatch):
    items = list(moodle.lineitems)
    pages = {"": ([items[0]], f'<{LINEITEMS_PATH}?type_id=1&page=2>; rel="next"'),
             "type_id=1": ([items[0]], f'<{LINEITEMS_PATH}?type_id=1&page=2>; rel="next"'),
             "type_id=1&page=2": ([{"id": "x/lineitem/5", "resourceId": "p2"}], None)}

    def paged(request):
        body, link = pages[request.query_string.decode()]
        return moodle._json(body, "application/vnd.ims.lis.v2.lineitemcontainer+json",
                            headers={"Link": link} if link else {})

    route = moodle._route
    monkeypatch.setattr(moodle, "_route", lambda request, body: paged(request)
                        if request.method == "GET" and request.path == LINEITEMS_PATH
                        else route(request, body))
    found = ags.list_lineitems(creds, f"{moodle.origin}{LINEITEMS_PATH}?type_id=1",
                               granted=AGS_SCOPES)
    assert [i.resource_id for i in found] == ["", "p2"]


def test_course_without_grade_service(db_session, moodle):
    platform = make_platform(db_session, moodle.origin)
    course = make_course(db_session, platform, ags=False)
    exam = make_exam(db_session, course)
    with pytest.raises(ServiceError) as err:
        ags.find_or_create_lineitem(db_session, exam)
    assert err.value.reason == "no_ags" and not err.value.retryable
    assert "Assignment and Grade Services" in err.value.message


def test_results_show_the_lms_scaling(db_session, course, creds, moodle):
    lineitem = f"{moodle.origin}{LINEITEMS_PATH}/2/lineitem?type_id=1"
    _score(creds, lineitem)
    (result,) = ags.fetch_results(creds, lineitem, granted=AGS_SCOPES)
    assert (result.user_id, result.result_score, result.result_maximum) == ("5", 75.0, 100.0)
    (get,) = moodle.calls("GET", "/results")
    assert get.headers["Accept"] == "application/vnd.ims.lis.v2.resultcontainer+json"
    assert get.query == "type_id=1"
