"""Contract: the service exchanges of a real Moodle 4.5.6 (../shared/fixtures/moodle-4.5.6,
service-*.json) go through the tool's NRPS and AGS parsers, and the tool's HTTP client sends
what Moodle was sent.

The HTTP half replays the captured responses from a WSGI app on a real socket. Its token
endpoint checks the client assertion against the tool's published JWKS (Moodle itself checks
little of it, LTI-NOTES), and it answers service calls without a valid Bearer token with the
captured 401 (service-13).
"""
from __future__ import annotations

import json
import os
import threading
import time
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from bridge.models.users import Course, CourseMember
from lms_plugin.core import keys as key_core
from lms_plugin.errors import ServiceError
from lms_plugin.services import ags, nrps, outbox, service_token as st, tool_keys
from tests.fixtures.servers import serve_wsgi
from tests.lti.factories import (CAPTURES, CLIENT_ID, add_member, capture, check_client_assertion,  # noqa: F401
                                 fresh_tokens, make_exam, make_platform, make_user)

# Under CI the captures must be there (shared/ beside the clone): a missing folder fails.
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir() and os.environ.get("CI") != "true", reason=f"Moodle captures not found at {CAPTURES}")


def here(url: str, replay) -> str:
    """A captured Moodle URL moved to the replay server."""
    return url.replace("http://127.0.0.1:8081", replay.origin)


def body(name: str):
    return capture(name)["response"]["body"]


def request(name: str) -> dict:
    return capture(name)["request"]


# --- the captured payloads through the parsers ---------------------------------------------------
@pytest.mark.req("L4")
def test_roster_parses_with_moodles_short_role_names():
    members = {m.user_id: m for m in nrps.parse_membership_page(body("service-04"))}
    assert set(members) == {"3", "4", "5", "6", "7"}
    assert {uid: m.tool_role for uid, m in members.items()} == {
        "3": "teacher", "4": "candidate", "5": "candidate", "6": "candidate", "7": "candidate"}
    nora = members["4"]  # the non-editing teacher: "Learner" in the roster
    assert (nora.name, nora.email, nora.sourcedid, nora.active) == (
        "Nora NonEditing", "netteacher1@example.invalid", "NETTEACHER1", True)


@pytest.mark.req("L4")
def test_filtered_and_limited_rosters_parse():
    filtered = nrps.parse_membership_page(body("service-05"))  # rlid + role, with message claims
    assert [m.user_id for m in filtered] == ["4", "5", "7", "6"]
    assert all(m.tool_role == "candidate" for m in filtered)
    limited = nrps.parse_membership_page(body("service-06"))
    assert [m.user_id for m in limited] == ["4", "5"]
    assert nrps.next_link({}) is None  # Moodle's limited page came with no Link captured


@pytest.mark.req("L5")
def test_lineitems_are_a_bare_array_with_empty_strings():
    (item,) = ags.parse_lineitems(body("service-07"))
    assert item == ags.LineItem(id=request("service-08")["url"], label="Probe activity",
                                score_maximum=100.0, resource_id="", tag="", resource_link_id="1")
    assert ags.parse_lineitem(body("service-08")) == item
    assert ags.match_lineitem([item], resource_id="some-exam") is None  # "" is not a match
    after = ags.parse_lineitems(body("service-12"))
    assert ags.match_lineitem(after, resource_id="probe-extra").id == body("service-11")["id"]


@pytest.mark.req("L5")
def test_score_document_and_urls_match_what_moodle_took():
    sent = request("service-09")
    b = sent["body"]
    assert ags.score_body(user_sub=b["userId"], score_given=b["scoreGiven"],
                          score_maximum=b["scoreMaximum"], comment=b["comment"],
                          activity_progress=b["activityProgress"],
                          grading_progress=b["gradingProgress"], timestamp=b["timestamp"]) == b
    lineitem = request("service-08")["url"]
    assert ags.scores_url(lineitem) == sent["url"]
    assert ags.results_url(lineitem) == request("service-10")["url"]
    assert sent["content_type"] == ags.SCORE
    assert capture("service-09")["response"]["body"] == ""  # 200 with an empty body


@pytest.mark.req("L5")
def test_results_show_moodles_scaling():
    (result,) = ags.parse_results(body("service-10"))
    assert (result.user_id, result.result_score, result.result_maximum) == ("5", 75.0, 100.0)
    assert result.score_of == request("service-08")["url"]


@pytest.mark.req("L5")
def test_media_types_are_the_ones_moodle_was_sent():
    assert request("service-04")["accept"] == nrps.MEDIA_TYPE
    assert request("service-07")["accept"] == ags.LINEITEM_CONTAINER
    assert request("service-11")["content_type"] == ags.LINEITEM == request("service-11")["accept"]
    assert request("service-10")["accept"] == ags.RESULT_CONTAINER


# --- the replayed Moodle over a real socket --------------------------------------------------------
class ReplayMoodle:
    """Serves the captured responses, keyed by method, path and query of the capture."""

    def __init__(self, origin: str, jwks: dict):
        self.origin, self.jwks = origin, jwks
        self.jtis: set[str] = set()
        self.tokens: set[str] = set()
        self.assertion_errors: list[str] = []
        self.seen: list[tuple[Request, bytes]] = []
        self.lock = threading.Lock()
        self.routes: dict[tuple[str, str, str], list[dict]] = {}
        for name in ("service-04", "service-05", "service-06", "service-07", "service-11",
                     "service-12", "service-09", "service-10", "service-08"):
            cap = capture(name, origin)
            parts = urlsplit(cap["request"]["url"])
            self.routes.setdefault((cap["request"]["method"], parts.path, parts.query), []).append(cap)

    def requests_to(self, method: str, path_end: str):
        return [(r, b) for r, b in self.seen if r.method == method and r.path.endswith(path_end)]

    @staticmethod
    def respond(cap: dict) -> Response:
        resp = cap["response"]
        payload = resp["body"] if isinstance(resp["body"], str) else json.dumps(resp["body"])
        return Response(payload, status=resp["status"], content_type=resp["content_type"])

    def __call__(self, environ, start_response):
        req = Request(environ)
        raw = req.get_data()
        with self.lock:
            self.seen.append((req, raw))
        return self.route(req)(environ, start_response)

    def route(self, req: Request) -> Response:
        if req.path == "/mod/lti/token.php":
            return self.token(req)
        auth = req.headers.get("Authorization", "")
        if not (auth.startswith("Bearer ") and auth[7:] in self.tokens):
            return self.respond(capture("service-13", self.origin))
        queue = self.routes.get((req.method, req.path, req.query_string.decode()))
        if not queue:
            return Response("not captured", status=404)
        return self.respond(queue.pop(0) if len(queue) > 1 else queue[0])

    def token(self, req: Request) -> Response:
        if req.form.get("scope") == request("service-02")["body"]["scope"]:
            return self.respond(capture("service-02"))
        problem = check_client_assertion(req.form, jwks=self.jwks, client_id=CLIENT_ID,
                                         token_url=f"{self.origin}/mod/lti/token.php",
                                         seen_jtis=self.jtis)
        if problem:
            self.assertion_errors.append(problem)
            return self.respond(capture("service-01"))
        cap = capture("service-03")
        token = f"opaque-{len(self.jtis)}"
        self.tokens.add(token)
        cap["response"]["body"]["access_token"] = token
        return self.respond(cap)


@pytest.fixture
def replay(db_session, fresh_tokens):
    jwks = {"keys": tool_keys.published(db_session)}
    db_session.commit()
    holder = {}
    with serve_wsgi(lambda e, s: holder["app"](e, s)) as server:
        holder["app"] = ReplayMoodle(server.url, jwks)
        yield holder["app"]


@pytest.fixture
def course(db_session, replay):
    """The course as the captured teacher launch described it (launch-teacher.json)."""
    launch = json.loads((CAPTURES / "launch-teacher.json").read_text()
                        .replace("http://127.0.0.1:8081", replay.origin))["payload"]
    agsc = launch["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]
    nrpsc = launch["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"]
    platform = make_platform(db_session, launch["iss"], client_id=launch["aud"],
                             deployment_id=launch["https://purl.imsglobal.org/spec/lti/claim/deployment_id"])
    course = Course(deployment_id=platform.deployments[0].id, context_id="2", label="EXAM101",
                    nrps_url=nrpsc["context_memberships_url"], ags_lineitems_url=agsc["lineitems"],
                    ags_scopes=agsc["scope"])
    db_session.add(course)
    db_session.commit()
    return course


@pytest.mark.req("L4", "L5")
def test_token_request_carries_a_correct_assertion(db_session, course, replay):
    creds = st.credentials(db_session, course.deployment.platform)
    st.access_token(creds, [st.SCOPE_NRPS])
    ((req, raw),) = replay.requests_to("POST", "/token.php")
    assert replay.assertion_errors == []
    assert req.content_type.startswith(request("service-03")["content_type"])
    assert req.form["grant_type"] == "client_credentials"
    assert set(req.form) == set(request("service-03")["body"])
    assert req.form["scope"] == st.SCOPE_NRPS  # only what the call needs
    header = jwt.decode(req.form["client_assertion"],
                        key_core.load_private(tool_keys.private_pem(tool_keys.signing_key(db_session)),
                                              tool_keys.signing_key(db_session).kid)).header
    assert header["alg"] == "RS256" and header["kid"] == tool_keys.signing_key(db_session).kid


@pytest.mark.req("L4", "L5")
def test_token_errors_from_moodle(db_session, course, replay):
    creds = st.credentials(db_session, course.deployment.platform)
    with pytest.raises(ServiceError) as unpermitted:
        st.access_token(creds, [request("service-02")["body"]["scope"]])
    assert unpermitted.value.reason == "token_invalid_scope" and not unpermitted.value.retryable
    wrong = st.PlatformCredentials(platform_id=99, issuer=creds.issuer, client_id="unknown",
                                   token_url=creds.token_url, kid=creds.kid,
                                   private_pem=creds.private_pem)
    with pytest.raises(ServiceError) as unknown:
        st.access_token(wrong, [st.SCOPE_NRPS])
    assert unknown.value.reason == "token_invalid_client" and not unknown.value.retryable


@pytest.mark.req("L4")
def test_roster_sync_against_the_replay(db_session, course, replay):
    nora = make_user(db_session, course.deployment.platform, "4", name="Nora NonEditing")
    add_member(db_session, course, nora, role="teacher", source="launch")  # launch-noneditingteacher
    db_session.commit()

    result = nrps.sync_roster(db_session, course, actor="user:3")
    assert (result.added, result.total) == (4, 5)
    ((req, _),) = replay.requests_to("GET", "/memberships")
    assert req.headers["Accept"] == request("service-04")["accept"]
    assert req.url == here(request("service-04")["url"], replay)
    roles = {m.user.lti_sub: m.role for m in db_session.scalars(
        select(CourseMember).where(CourseMember.course_id == course.id))}
    assert roles == {"3": "teacher", "4": "teacher", "5": "candidate", "6": "candidate",
                     "7": "candidate"}


@pytest.mark.req("L5")
def test_lineitem_creation_against_the_replay(db_session, course, replay):
    # placed in an activity without a column of its own (service-07 lists resource link 1's)
    exam = make_exam(db_session, course, title="Probe extra line item", score_maximum=50,
                     resource_link_id="9")
    url = ags.find_or_create_lineitem(db_session, exam)
    assert url == here(body("service-11")["id"], replay)
    ((get, _),) = replay.requests_to("GET", "/lineitems")
    assert get.headers["Accept"] == request("service-07")["accept"] and get.query_string == b"type_id=1"
    ((post, raw),) = replay.requests_to("POST", "/lineitems")
    assert post.headers["Accept"] == request("service-11")["accept"]
    assert post.content_type == request("service-11")["content_type"]
    sent = json.loads(raw)
    assert set(sent) == set(request("service-11")["body"])
    assert (sent["label"], sent["scoreMaximum"], sent["resourceId"], sent["resourceLinkId"]) == (
        "Probe extra line item", 50, exam.public_id, "9")


@pytest.mark.req("L5")
def test_score_post_against_the_replay(db_session, course, replay):
    creds = st.credentials(db_session, course.deployment.platform)
    captured = request("service-09")
    lineitem = here(request("service-08")["url"], replay)
    b = captured["body"]
    ags.post_score(creds, lineitem, user_sub=b["userId"], score_given=b["scoreGiven"],
                   score_maximum=b["scoreMaximum"], comment=b["comment"],
                   activity_progress=b["activityProgress"], grading_progress=b["gradingProgress"],
                   timestamp=b["timestamp"], granted=course.ags_scopes)
    ((req, raw),) = replay.requests_to("POST", "/scores")
    assert req.path.endswith("/lineitems/2/lineitem/scores") and req.query_string == b"type_id=1"
    assert req.content_type == captured["content_type"]
    assert req.headers["Authorization"].startswith("Bearer opaque-")
    assert json.loads(raw) == b

    (result,) = ags.fetch_results(creds, lineitem, granted=course.ags_scopes)
    assert result.result_score == 75.0
    ((res, _),) = replay.requests_to("GET", "/results")
    assert res.headers["Accept"] == request("service-10")["accept"]


@pytest.mark.req("L5")
def test_outbox_delivers_through_the_replay(app, db_session, course, replay):
    exam = make_exam(db_session, course, score_maximum=10,
                     lineitem_url=here(request("service-08")["url"], replay))
    sam = make_user(db_session, course.deployment.platform, "5", name="Sam Student")
    add_member(db_session, course, sam, role="candidate", source="nrps")
    db_session.commit()
    outbox.publish_score(db_session, exam, sam.id, score_given=7.5,
                         comment="score posted by the acceptance probe", actor="user:3")
    db_session.commit()

    assert outbox.deliver_due(app) == outbox.DeliveryResult(sent=1, retry=0, failed=0)
    ((req, raw),) = replay.requests_to("POST", "/scores")
    sent = json.loads(raw)
    assert set(sent) == set(request("service-09")["body"])
    assert (sent["userId"], sent["scoreGiven"], sent["scoreMaximum"]) == ("5", 7.5, 10)
    captured_stamp = request("service-09")["body"]["timestamp"]  # 2026-11-22T00:03:45.951+00:00
    assert sent["timestamp"][-6:] == "+00:00" and len(sent["timestamp"]) == len(captured_stamp)


@pytest.mark.req("L4", "L5")
def test_a_service_call_without_a_token_gets_moodles_401():
    """service-13: what Moodle answers without a token; the client turns it into a
    retryable error that says what to check."""
    import requests

    cap = capture("service-13")
    with serve_wsgi(lambda e, s: ReplayMoodle.respond(cap)(e, s)) as server:
        resp = requests.get(server.url + "/mod/lti/services.php/x", timeout=5)
    err = st.failure(resp, "send the course roster")
    assert err.retryable and err.status == 401 and "Unauthorized" in err.message


@pytest.mark.req("L4", "L5")
def test_the_token_endpoint_check_is_not_a_rubber_stamp(db_session):
    """The assertion checker used above rejects each kind of bad assertion."""
    key_row = tool_keys.signing_key(db_session)
    key = key_core.load_private(tool_keys.private_pem(key_row), key_row.kid)
    jwks = {"keys": tool_keys.published(db_session)}
    token_url = "http://lms.test/mod/lti/token.php"
    now = int(time.time())
    good = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": token_url, "jti": "j1", "iat": now, "exp": now + 60}

    def check(claims, seen=None, kid=key_row.kid):
        assertion = jwt.encode({"alg": "RS256", "kid": kid}, claims, key, algorithms=["RS256"])
        form = {"grant_type": "client_credentials", "client_assertion": assertion,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
        return check_client_assertion(form, jwks=jwks, client_id=CLIENT_ID, token_url=token_url,
                                      seen_jtis=set() if seen is None else seen)

    assert check(good) is None
    assert "aud" in check(dict(good, aud="http://lms.test/other"))
    assert "iss" in check(dict(good, iss="someone"))
    assert "sub" in check(dict(good, sub="someone"))
    assert "5 minutes" in check(dict(good, exp=now + 3600))
    assert "jti" in check(good, seen={"j1"})
    assert check(good, kid="other") is not None  # not a key of the tool's JWKS
