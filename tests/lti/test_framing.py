"""The attempt pages refuse to run inside a frame (lms_plugin/framing.py); the course pages
still do (L6); the ticket that carries the candidate to a window of its own works once."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bridge import clock
from tests.lti.factories import make_course, make_platform, make_user, add_member

pytestmark = pytest.mark.req("L6")
FRAMED = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site"}


@pytest.fixture
def signed_in(app, db_session, client):
    platform = make_platform(db_session, "https://lms.example.edu")
    course = make_course(db_session, platform)
    user = make_user(db_session, platform, "5", name="Sam Student")
    add_member(db_session, course, user, role="candidate")
    db_session.commit()
    with client.session_transaction() as sess:
        sess.update(user_id=user.id, signed_in_at=clock.timestamp(), course_id=course.id,
                    platform_id=platform.id, lti_role="candidate", locale="en")
    return user, course


def _next_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["next"][0]


@pytest.mark.parametrize("path", ["/exam/1/sit", "/attempt/7", "/code"])
def test_a_framed_attempt_page_goes_to_a_window_of_its_own(client, signed_in, path):
    resp = client.get(path, headers=FRAMED)
    assert resp.status_code == 303
    assert urlsplit(resp.headers["Location"]).path == "/lti/toplevel"
    assert _next_of(resp.headers["Location"]) == path


def test_a_framed_post_to_an_attempt_goes_there_too(client, signed_in):
    with client.session_transaction() as sess:
        sess["_csrf"] = "t"
    resp = client.post("/attempt/7/start", data={"csrf_token": "t"}, headers=FRAMED)
    assert resp.status_code == 303
    assert _next_of(resp.headers["Location"]) == "/attempt/7"


def test_attempt_pages_forbid_framing_and_course_pages_allow_it(client, signed_in):
    _user, course = signed_in
    attempt = client.get("/attempt/999")       # not found, but the headers are there all the same
    assert attempt.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in attempt.headers["Content-Security-Policy"]
    course_page = client.get(f"/course/{course.id}", headers=FRAMED)
    assert course_page.status_code == 200
    assert "X-Frame-Options" not in course_page.headers
    ancestors = [d.split()[1:] for d in course_page.headers["Content-Security-Policy"].split(";")
                 if d.split()[:1] == ["frame-ancestors"]]
    assert ancestors == [["'self'", "https://lms.example.edu"]]  # the LMS may frame it (security_headers)
    assert b"toplevel.js" in course_page.data


def test_the_breakout_page_mints_a_single_use_ticket(app, signed_in):
    user, course = signed_in
    framed = app.test_client()
    with framed.session_transaction() as sess:
        sess.update(user_id=user.id, signed_in_at=clock.timestamp(), course_id=course.id, lti_role="candidate")
    page = framed.get("/lti/toplevel?next=/exam/3/sit", headers=FRAMED)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert 'target="_blank"' in html and "X-Frame-Options" not in page.headers
    href = html.split('id="open-exam" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")

    window = app.test_client()                  # a new top-level window: no cookie of the frame's
    opened = window.get(href)
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/exam/3/sit")
    with window.session_transaction() as sess:
        assert sess["user_id"] == user.id and sess["course_id"] == course.id
    assert window.get(href).status_code == 400  # spent
    assert b"launch_ticket_invalid" in window.get(href).data


def test_an_expired_ticket_is_refused(app, signed_in):
    user, _course = signed_in
    framed = app.test_client()
    with framed.session_transaction() as sess:
        sess.update(user_id=user.id, signed_in_at=clock.timestamp())
    html = framed.get("/lti/toplevel?next=/code", headers=FRAMED).get_data(as_text=True)
    href = html.split('id="open-exam" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    clock.set_offset(6 * 60)
    assert app.test_client().get(href).status_code == 400


@pytest.mark.parametrize("target", ["/admin/platforms", "//evil.example/exam/1/sit",
                                    "https://evil.example/code", "/lti/jwks", ""])
def test_a_ticket_only_leads_to_an_exam_page(client, signed_in, target):
    resp = client.get("/lti/toplevel", query_string={"next": target}, headers=FRAMED)
    assert resp.status_code == 400 and b"bad_toplevel_target" in resp.data


def test_top_level_already_goes_straight_on(client, signed_in):
    resp = client.get("/lti/toplevel?next=/code")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/code")


def test_a_login_ticket_does_not_sign_anyone_in(app, db_session, signed_in):
    from lms_plugin.services import tickets

    user, _course = signed_in
    login_ticket = tickets.issue(db_session, {"user_id": user.id, "next": "/code"})
    session_ticket = tickets.issue(db_session, {"user_id": user.id, "next": "/code"}, kind=tickets.SESSION)
    db_session.commit()
    c = app.test_client()
    assert c.get(f"/lti/toplevel/continue?ticket={login_ticket}").status_code == 400
    assert c.get(f"/lti/login/continue?ticket={session_ticket}").status_code == 400
    with c.session_transaction() as sess:
        assert "user_id" not in sess


def test_nobody_signed_in_gets_a_clear_page(app):
    resp = app.test_client().get("/lti/toplevel?next=/code", headers=FRAMED)
    assert resp.status_code == 401 and b"no_session" in resp.data
