"""Security headers on every response (bridge/web/security_headers.py): a Content-Security-
Policy that runs scripts from the bridge only and lets only the bridge and the registered LMS
platforms frame it (L6), ``X-Content-Type-Options: nosniff`` and a Referrer-Policy that never
sends a full URL to another site. The walk below calls every GET route of the app as four
people (nobody, a candidate, a teacher, an admin) with ids from a small world, plus error
pages, and checks the headers on each answer: a new route is walked without a new line here."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.web import security_headers as sh
from lms_plugin import framing

LMS = "https://lms.example.edu"
STRICT_REFERRER = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
FRAMED = {"Sec-Fetch-Dest": "iframe"}


def policies(resp) -> list[dict[str, list[str]]]:
    """Every CSP header of ``resp`` as directive → sources (a browser enforces them all)."""
    out = []
    for header in resp.headers.getlist("Content-Security-Policy"):
        policy: dict[str, list[str]] = {}
        for part in header.split(";"):
            words = part.split()
            if words:
                assert words[0].lower() not in policy, f"{words[0]} twice in one policy (the second is ignored): {header}"
                policy[words[0].lower()] = words[1:]
        out.append(policy)
    return out


def _sources(policy: dict, directive: str) -> list[str] | None:
    if directive in policy:
        return policy[directive]
    return policy.get("default-src") if directive.endswith("-src") else None


def problems(resp, endpoint: str | None, platforms: set[str]) -> list[str]:
    """What is wrong with ``resp``'s security headers (empty when all is well)."""
    found = []
    if resp.headers.get("X-Content-Type-Options") != "nosniff":
        found.append("no X-Content-Type-Options: nosniff")
    if resp.headers.get("Referrer-Policy") not in STRICT_REFERRER:
        found.append(f"Referrer-Policy {resp.headers.get('Referrer-Policy')!r}")
    pols = policies(resp)
    if not pols:
        return [*found, "no Content-Security-Policy"]

    def some(check) -> bool:
        return any(check(p) for p in pols)

    def only(allowed):
        return lambda sources: sources is not None and bool(sources) and set(sources) <= allowed

    if not some(lambda p: only({"'self'", "'none'"})(_sources(p, "script-src"))):
        found.append("scripts not limited to 'self' (or inline allowed)")
    if not some(lambda p: only({"'none'"})(_sources(p, "object-src"))):
        found.append("object-src is not 'none'")
    if not some(lambda p: only({"'self'", "'none'"})(p.get("base-uri"))):
        found.append("base-uri is not 'self'")
    if not some(lambda p: only({"'self'", "'none'", *platforms})(p.get("form-action"))):
        found.append("form-action missing or too wide")
    if endpoint in framing.TOPLEVEL:
        if not some(lambda p: p.get("frame-ancestors") == ["'none'"]) or resp.headers.get("X-Frame-Options") != "DENY":
            found.append("an attempt page may be framed")
    elif not some(lambda p: only({"'self'", "'none'", *platforms})(p.get("frame-ancestors"))):
        found.append("frame-ancestors missing or too wide")
    return found


# --- a small world -----------------------------------------------------------------------
@pytest.fixture
def world(app, db_session):
    from bridge.models.papers import PaperItem
    from bridge.models.venues import Seat
    from bridge.services.delivery import attempts
    from bridge.services.people import accounts
    from lms_plugin.services import platforms
    from tests.venue.readiness_world import ready_room

    w = ready_room(app, db_session, candidates=1, start_in=dt.timedelta(minutes=2))
    clock.set_offset(180)  # the session started a minute ago
    admin = accounts.create_admin(db_session, username="root", password="correct horse battery", actor="test")
    platforms.add_platform(db_session, issuer=LMS, client_id="c1", deployment_ids=["d1"],
                           auth_login_url=f"{LMS}/mod/lti/auth.php", auth_token_url=f"{LMS}/mod/lti/token.php",
                           jwks_url=f"{LMS}/mod/lti/certs.php", name="LMS", actor="test")
    attempt = attempts.log_in(db_session, w.exam, w.candidates[0].id)
    db_session.commit()
    question = db_session.scalars(select(PaperItem.question_id)).first()
    seat = db_session.scalars(select(Seat.id).where(Seat.room_id == w.room.id)).first()
    ids = {"attempt_id": attempt.id, "sitting_id": w.sitting_id, "course_id": w.exam.course_id, "exam_id": w.exam.id,
           "session_id": w.session_id, "site_id": w.site.id, "room_id": w.room.id, "question_id": question or 1,
           "seat_id": seat or 1, "report_id": 1, "file_id": 1, "fmt": "csv", "filename": "app.css",
           "name": "fig.png", "period_id": 1, "token": "not-a-token", "registration_id": 1}
    people = {"nobody": None, "candidate": w.candidates[0].id, "teacher": w.teacher.id, "admin": admin.id}
    yield ids, people
    clock.set_offset(0)


def _client(app, user_id, course_id):
    client = app.test_client()
    if user_id is not None:
        with client.session_transaction() as sess:
            sess.update(user_id=user_id, signed_in_at=clock.timestamp(), course_id=course_id, locale="en")
    return client


def get_routes(app):
    return sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods), key=lambda r: r.rule)


@pytest.mark.req("L6", "C6")
def test_every_get_route_answers_with_the_security_headers(app, world):
    ids, people = world
    with app.test_request_context():
        platforms = set(sh.policy()["frame-ancestors"]) - {"'self'"}
    assert LMS in platforms
    bad: dict[str, list[str]] = {}
    statuses: dict[int, int] = {}
    routes = get_routes(app)
    for who, user_id in people.items():
        client = _client(app, user_id, ids["course_id"])
        for rule in routes:
            missing = set(rule.arguments) - set(ids)
            assert not missing, f"{rule.rule}: give the walk an id for {missing}"
            path = app.url_map.bind("localhost").build(rule.endpoint, {k: ids[k] for k in rule.arguments})
            for headers in ({}, FRAMED):
                resp = client.get(path, headers=headers)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                endpoint = rule.endpoint if not (headers and resp.status_code == 303) else None
                if found := problems(resp, endpoint, platforms):
                    bad[f"{who} GET {path} {headers} → {resp.status_code}"] = found
    assert not bad, bad
    assert len(routes) > 60
    assert statuses.get(200, 0) > 60, statuses  # the ids reached real pages, not only refusals


@pytest.mark.req("L6")
def test_error_pages_carry_them_too(make_app):
    app = make_app()

    @app.get("/__boom")
    def boom():
        raise RuntimeError("boom")

    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    client = app.test_client()
    answers = {
        500: client.get("/__boom"),
        404: client.get("/no/such/page"),
        405: client.get("/lti/deeplink/respond"),
        400: client.post("/admin/login", data={"username": "x"}),  # no CSRF token
        401: client.get("/site/"),
    }
    for status, resp in answers.items():
        assert resp.status_code == status
        assert not problems(resp, None, set()), (status, problems(resp, None, set()))


@pytest.mark.req("L6", "C6")
def test_the_attempt_pages_stay_unframeable(app, world):
    """lms_plugin/framing.py forbids framing the attempt pages; the general policy is added
    to theirs without a second frame-ancestors (a browser would ignore it)."""
    ids, people = world
    client = _client(app, people["candidate"], ids["course_id"])
    resp = client.get(f"/attempt/{ids['attempt_id']}")
    (policy,) = policies(resp)
    assert policy["frame-ancestors"] == ["'none'"] and resp.headers["X-Frame-Options"] == "DENY"
    assert policy["script-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    course = client.get(f"/course/{ids['course_id']}", headers=FRAMED)
    ancestors = policies(course)[0]["frame-ancestors"]
    assert ancestors[0] == "'self'" and LMS in ancestors


def test_a_stricter_policy_already_set_is_kept():
    """A media answer's ``sandbox; default-src 'none'`` gains no script-src or img-src (they
    would override its default-src), only the directives it does not name."""
    ours = {"default-src": ["'self'"], "script-src": ["'self'"], "img-src": ["'self'", "data:"],
            "object-src": ["'none'"], "base-uri": ["'self'"], "frame-ancestors": ["'self'", LMS]}
    merged = sh.merge("sandbox; default-src 'none'", ours)
    assert merged == "sandbox; default-src 'none'; base-uri 'self'; frame-ancestors 'self' " + LMS
    assert sh.merge("frame-ancestors 'none'", ours).count("frame-ancestors") == 1
    assert sh.merge(None, ours).startswith("default-src 'self'; script-src 'self'")


def test_only_well_formed_origins_enter_the_policy():
    """A platform's issuer comes from an admin or a dynamic registration: one that tries to
    add a directive (``; script-src *``) or a scheme (``javascript:``) adds nothing."""
    assert sh.origin_of("https://lms.example.edu/moodle/") == "https://lms.example.edu"
    assert sh.origin_of("http://LOCALHOST:8081/x?y") == "http://localhost:8081"
    assert sh.origin_of("https://[::1]:8443/") == "https://[::1]:8443"
    for hostile in ("https://x.example; script-src *", "https://x.example 'unsafe-inline'", "javascript:alert(1)",
                    "https://a b.example/", "data:text/html,x", "", None, "https://x.example:99999/", "//x.example"):
        assert sh.origin_of(hostile) is None, hostile


@pytest.mark.req("L2", "L6")
def test_frame_ancestors_follow_the_registered_platforms(app, db_session):
    """A platform registered (or switched off) in this process counts at once; an inactive
    one never frames the bridge; a hostile issuer adds nothing to the policy."""
    from lms_plugin.models import Platform
    from lms_plugin.services import platforms

    client = app.test_client()

    def ancestors():
        return policies(client.get("/healthz"))[0]["frame-ancestors"]

    assert ancestors() == ["'self'"]
    other = "http://localhost:8123"
    platforms.add_platform(db_session, issuer=other, client_id="c2", deployment_ids=["d"],
                           auth_login_url=f"{other}/auth", auth_token_url=f"{other}/token",
                           jwks_url=f"{other}/certs", name="Other", actor="test")
    db_session.add(Platform(issuer="https://evil.example; script-src *", client_id="c3",  # past any form check
                            auth_login_url="javascript:alert(1)", auth_token_url="https://evil.example/t",
                            jwks_url="https://evil.example/c", name="Evil"))
    db_session.commit()
    assert ancestors() == ["'self'", other]
    header = client.get("/healthz").headers["Content-Security-Policy"]
    assert "evil" not in header and "javascript" not in header
    db_session.scalars(select(Platform).where(Platform.issuer == other)).one().active = False
    db_session.commit()
    assert ancestors() == ["'self'"]


@pytest.mark.req("L2", "L6")
def test_a_registering_lms_may_frame_the_registration_page(app):
    """Moodle opens dynamic registration in an iframe before it is a registered platform."""
    client = app.test_client()
    resp = client.get("/lti/register?openid_configuration=https%3A%2F%2Fnew-lms.example%2Fopenid")
    assert "https://new-lms.example" in policies(resp)[0]["frame-ancestors"]
    assert "https://new-lms.example" not in policies(client.get("/"))[0]["frame-ancestors"]


@pytest.mark.req("L1")
def test_a_stricter_referrer_policy_is_kept(app, world):
    """/lti/toplevel carries a single-use ticket in its page: it keeps ``no-referrer``."""
    ids, people = world
    client = _client(app, people["candidate"], ids["course_id"])
    resp = client.get(f"/lti/toplevel?next=/attempt/{ids['attempt_id']}", headers=FRAMED)
    assert resp.status_code == 200 and resp.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.req("C5")
def test_the_autosave_fast_path_answers_with_them(app):
    """The autosave path answers before Flask's hooks run: it sends the headers itself."""
    from bridge.web.api import fast

    sent = {}

    def start_response(status, headers):
        sent.update(status=status, headers=dict(headers))

    fast._json(start_response, {"ok": True})
    assert sent["headers"]["X-Content-Type-Options"] == "nosniff"
    assert re.search(r"default-src 'none'", sent["headers"]["Content-Security-Policy"])
    assert "frame-ancestors 'none'" in sent["headers"]["Content-Security-Policy"]
