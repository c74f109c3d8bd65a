"""Factories for LTI service tests, and ``FakeMoodle``: a Moodle 4.5.6-shaped LMS that serves
the captured answers (shared/fixtures/moodle-4.5.6/service-*.json) over real sockets.

FakeMoodle checks what the real Moodle barely checks (LTI-NOTES: its token endpoint "checks
little of the client assertion"), so the tests prove the tool sends a correct assertion:
RS256 with a ``kid`` from the tool's JWKS, iss = sub = client_id, aud = the token URL, a jti
never seen before, exp no more than 5 minutes after iat. It records every request.
"""
from __future__ import annotations

import copy
import itertools
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.wrappers import Request, Response

from bridge import clock
from bridge.models.exams import Exam
from bridge.models.users import Course, CourseMember, User
from lms_plugin.models import Deployment, Platform, ResourceLink

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/moodle-4.5.6"
CAPTURED_ORIGIN = "http://127.0.0.1:8081"
CLIENT_ID = "JkX0n8xfRPD5seJ"  # the client id of the captured Moodle registration

MEMBERSHIPS_PATH = "/mod/lti/services.php/CourseSection/2/bindings/1/memberships"
LINEITEMS_PATH = "/mod/lti/services.php/2/lineitems"
TOKEN_PATH = "/mod/lti/token.php"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]


def capture(name: str, origin: str | None = None) -> dict:
    """A captured exchange (``service-04`` or the full file name), with Moodle's origin
    rewritten to ``origin`` when given."""
    path = next(CAPTURES.glob(f"{name}*.json")) if not name.endswith(".json") else CAPTURES / name
    text = path.read_text(encoding="utf-8")
    if origin:
        text = text.replace(CAPTURED_ORIGIN, origin)
    return json.loads(text)


# --- data factories -------------------------------------------------------------------------
_seq = itertools.count(1)


def ensure_tool_key(session) -> None:
    """Have the tool's signing key made and committed before a test writes anything: made
    later, inside a transaction that holds SQLite's write lock, it would need a second writer."""
    from lms_plugin.services import tool_keys

    tool_keys.signing_key(session)
    session.commit()


def make_platform(session, origin: str, *, client_id: str = CLIENT_ID,
                  deployment_id: str = "1") -> Platform:
    platform = Platform(issuer=origin, client_id=client_id, name="Moodle",
                        auth_login_url=f"{origin}/mod/lti/auth.php",
                        auth_token_url=f"{origin}{TOKEN_PATH}",
                        jwks_url=f"{origin}/mod/lti/certs.php", registered_by="cli")
    platform.deployments.append(Deployment(deployment_id=deployment_id))
    session.add(platform)
    session.flush()
    return platform


def make_course(session, platform: Platform, origin: str | None = None, *, context_id: str = "2",
                ags_scopes: list[str] | None = None, nrps: bool = True, ags: bool = True) -> Course:
    origin = origin or platform.issuer
    course = Course(deployment_id=platform.deployments[0].id, context_id=context_id,
                    label="EXAM101", title="Exam 101 (LTI acceptance)",
                    nrps_url=f"{origin}{MEMBERSHIPS_PATH}" if nrps else None,
                    ags_lineitems_url=f"{origin}{LINEITEMS_PATH}?type_id=1" if ags else None,
                    ags_scopes=list(AGS_SCOPES if ags_scopes is None else ags_scopes) if ags else [])
    session.add(course)
    session.flush()
    return course


def make_user(session, platform: Platform | None, sub: str | None = None, **kw) -> User:
    n = next(_seq)
    user = User(platform_id=platform.id if platform else None,
                lti_sub=sub if sub is not None or platform is None else str(1000 + n),
                name=kw.pop("name", f"Person {n}"), **kw)
    session.add(user)
    session.flush()
    return user


def add_member(session, course: Course, user: User, *, role: str = "candidate",
               source: str = "launch", active: bool = True, **kw) -> CourseMember:
    member = CourseMember(course_id=course.id, user_id=user.id, role=role, source=source,
                          active=active, lms_roles=kw.pop("lms_roles", []), **kw)
    session.add(member)
    session.flush()
    return member


def make_exam(session, course: Course, *, title: str = "Midterm", score_maximum: float = 10.0,
              resource_link_id: str | None = None, **kw) -> Exam:
    exam = Exam(course_id=course.id, title=title, duration_minutes=60,
                score_maximum=score_maximum, **kw)
    session.add(exam)
    session.flush()
    if resource_link_id:
        session.add(ResourceLink(course_id=course.id, resource_link_id=resource_link_id,
                                 title=title, exam_id=exam.id))
        session.flush()
    return exam


def candidate(session, course: Course, sub: str, name: str = "") -> User:
    platform = course.deployment.platform
    user = make_user(session, platform, sub, name=name or f"Candidate {sub}")
    add_member(session, course, user, role="candidate", source="nrps")
    return user


# --- the fake LMS ---------------------------------------------------------------------------
def check_client_assertion(form, *, jwks: dict, client_id: str, token_url: str,
                           seen_jtis: set) -> str | None:
    """What is wrong with a client-credentials request's assertion, or None (and its jti is
    remembered): checklist 13 of LTI-NOTES, checked against the tool's published JWKS."""
    if form.get("grant_type") != "client_credentials":
        return "grant_type is not client_credentials"
    if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
        return "wrong client_assertion_type"
    try:
        token = jwt.decode(form.get("client_assertion", ""), KeySet.import_key_set(jwks),
                           algorithms=["RS256"])
    except Exception as exc:  # any decoding or signature failure
        return f"assertion does not verify: {exc!r}"
    claims, header = token.claims, token.header
    now = clock.timestamp()
    exp, iat = claims.get("exp"), claims.get("iat")
    checks = [
        (header.get("kid") in {k["kid"] for k in jwks["keys"]}, "kid not in the tool JWKS"),
        (claims.get("iss") == client_id, "iss is not the client id"),
        (claims.get("sub") == client_id, "sub is not the client id"),
        (claims.get("aud") in (token_url, [token_url]), "aud is not the token URL"),
        (bool(claims.get("jti")) and claims.get("jti") not in seen_jtis, "jti missing or reused"),
        (isinstance(exp, int) and isinstance(iat, int) and 0 < exp - iat <= 300,
         "exp is not within 5 minutes of iat"),
        (isinstance(exp, int) and exp > now - 5, "assertion expired"),
    ]
    for ok, message in checks:
        if not ok:
            return message
    seen_jtis.add(claims["jti"])
    return None


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict
    body: bytes

    @property
    def url_path_and_query(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class FakeMoodle:
    """A Moodle-shaped LMS. Set ``origin`` (the served URL) before the first request.

    ``outage`` (an HTTP status or None) makes every endpoint answer that status; ``score_reply``
    overrides the score endpoint's answer (status, body) for permanent-failure tests.
    """

    jwks: dict
    client_id: str = CLIENT_ID
    origin: str = ""
    roster_pages: list[list[dict]] | None = None  # None: the captured service-04 roster
    outage: int | None = None
    score_reply: tuple[int, str] | None = None
    on_score: Callable[[dict], None] | None = None  # called before a score is accepted
    requests: list[Recorded] = field(default_factory=list)
    assertion_errors: list[str] = field(default_factory=list)
    jtis: set = field(default_factory=set)
    tokens: dict = field(default_factory=dict)  # token -> granted scopes
    scores: list[dict] = field(default_factory=list)
    score_posts: Counter = field(default_factory=Counter)  # userId -> POSTs accepted
    lineitems: list[dict] = field(default_factory=list)
    _issued: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.lineitems = capture("service-07")["response"]["body"]

    def serve_origin(self, origin: str) -> None:
        self.origin = origin
        text = json.dumps(self.lineitems).replace(CAPTURED_ORIGIN, origin)
        self.lineitems = json.loads(text)

    # -- helpers for tests
    def calls(self, method: str | None = None, path_contains: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and path_contains in r.path]

    # -- WSGI
    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        with self._lock:
            self.requests.append(Recorded(request.method, request.path,
                                          request.query_string.decode(), dict(request.headers), body))
        return self._route(request, body)(environ, start_response)

    def _route(self, request: Request, body: bytes) -> Response:
        if self.outage:
            return Response("Service Unavailable", status=self.outage, content_type="text/html")
        path, method = request.path, request.method
        if path == TOKEN_PATH and method == "POST":
            return self._token(request)
        if path == MEMBERSHIPS_PATH and method == "GET":
            return self._guard(request, {NRPS_SCOPE}) or self._memberships(request)
        if path == LINEITEMS_PATH and method == "GET":
            return self._guard(request, set(AGS_SCOPES[:2])) or self._json(
                self.lineitems, "application/vnd.ims.lis.v2.lineitemcontainer+json")
        if path == LINEITEMS_PATH and method == "POST":
            return self._guard(request, {AGS_SCOPES[0]}) or self._create_lineitem(request)
        if path.startswith(LINEITEMS_PATH + "/") and path.endswith("/lineitem/scores") and method == "POST":
            return self._guard(request, {AGS_SCOPES[3]}) or self._score(request)
        if path.startswith(LINEITEMS_PATH + "/") and path.endswith("/lineitem/results") and method == "GET":
            return self._guard(request, {AGS_SCOPES[2]}) or self._results(request)
        return Response("not found", status=404)

    @staticmethod
    def _json(body, content_type: str, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(body), status=status,
                        content_type=f"{content_type}; charset=utf-8", headers=headers or {})

    def _guard(self, request: Request, any_of: set[str]) -> Response | None:
        """Moodle's 401 (service-13) unless a Bearer token with one of ``any_of`` is sent."""
        auth = request.headers.get("Authorization", "")
        granted = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if granted is None or not granted & any_of:
            return self._json(capture("service-13")["response"]["body"], "application/json", 401)
        return None

    def _token(self, request: Request) -> Response:
        form = request.form
        problem = self._check_assertion(form)
        if problem:
            self.assertion_errors.append(problem)
            return self._json({"error": "invalid_client"}, "text/html", 400)
        scopes = set((form.get("scope") or "").split())
        if not scopes or not scopes <= set(AGS_SCOPES) | {NRPS_SCOPE}:
            return self._json(capture("service-02")["response"]["body"], "text/html", 400)
        with self._lock:
            token = f"tok-{next(self._issued)}"
            self.tokens[token] = scopes
        body = dict(capture("service-03")["response"]["body"], access_token=token,
                    scope=" ".join(sorted(scopes)))
        return self._json(body, "text/html")  # Moodle really says text/html

    def _check_assertion(self, form) -> str | None:
        return check_client_assertion(form, jwks=self.jwks, client_id=self.client_id,
                                      token_url=f"{self.origin}{TOKEN_PATH}", seen_jtis=self.jtis)

    def _memberships(self, request: Request) -> Response:
        media = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
        container = capture("service-04", self.origin)["response"]["body"]
        if self.roster_pages is None:
            return self._json(container, media)
        page = int(request.args.get("page", "1"))
        container["members"] = self.roster_pages[page - 1]
        headers = {}
        if page < len(self.roster_pages):  # a relative link, as some LMSs send
            headers["Link"] = f'<{MEMBERSHIPS_PATH}?page={page + 1}>; rel="next"'
        return self._json(container, media, headers=headers)

    def _create_lineitem(self, request: Request) -> Response:
        if request.content_type != "application/vnd.ims.lis.v2.lineitem+json":
            return Response("wrong content type", status=415)
        item = json.loads(request.get_data())
        with self._lock:
            number = 2 + len(self.lineitems)
            item["id"] = f"{self.origin}{LINEITEMS_PATH}/{number}/lineitem?type_id=1"
            self.lineitems.append(dict(item, ltiLinkId=item.get("resourceLinkId", "")))
        return self._json(item, "application/vnd.ims.lis.v2.lineitem+json", 201)

    def _score(self, request: Request) -> Response:
        if self.score_reply:
            status, text = self.score_reply
            return Response(text, status=status, content_type="application/json; charset=utf-8")
        if request.content_type != "application/vnd.ims.lis.v1.score+json":
            return Response("wrong content type", status=415)
        score = json.loads(request.get_data())
        if self.on_score:
            self.on_score(score)
        score["_lineitem"] = request.path[:-len("/scores")]
        with self._lock:
            self.scores.append(score)
            self.score_posts[score["userId"]] += 1
        return Response("", status=200, content_type="application/vnd.ims.lis.v1.score+json; charset=utf-8")

    def _results(self, request: Request) -> Response:
        lineitem_path = request.path[:-len("/results")]
        prefix = self.origin + lineitem_path + "?"
        item = next((i for i in self.lineitems if i["id"].startswith(prefix)), None)
        maximum = float(item["scoreMaximum"]) if item else 100.0
        latest = {}
        for s in self.scores:
            if s["_lineitem"] == lineitem_path:
                latest[s["userId"]] = s
        lineitem_url = f"{self.origin}{lineitem_path}?{request.query_string.decode()}"
        body = [{"id": f"{self.origin}{request.path}?{request.query_string.decode()}&user_id={uid}",
                 "userId": uid, "resultScore": s["scoreGiven"] / s["scoreMaximum"] * maximum,
                 "resultMaximum": maximum, "comment": s.get("comment", ""),
                 "scoreOf": lineitem_url, "timestamp": s["timestamp"][:19] + "+00:00"}
                for uid, s in latest.items()]
        return self._json(body, "application/vnd.ims.lis.v2.resultcontainer+json")


def copy_members(name: str = "service-04") -> list[dict]:
    return copy.deepcopy(capture(name)["response"]["body"]["members"])


# --- fixtures (import them into a test module to use them) --------------------------------
@pytest.fixture
def fresh_tokens():
    """No token cached by an earlier test (they share platform ids across databases)."""
    from lms_plugin.services import service_token

    service_token.clear_cache()
    yield
    service_token.clear_cache()


@pytest.fixture
def moodle(app, db_session, fresh_tokens):
    """A FakeMoodle on a real socket that trusts the tool's current keys."""
    from tests.fixtures.servers import serve_wsgi
    from lms_plugin.services import tool_keys

    jwks = {"keys": tool_keys.published(db_session)}
    db_session.commit()
    fake = FakeMoodle(jwks=jwks)
    with serve_wsgi(fake) as server:
        fake.serve_origin(server.url)
        yield fake
