"""The tool's session cookie is SameSite=None (it lives in an LMS iframe), so the browser
sends it with cross-site POSTs: every form of the tool's own pages carries the session's
token, and a POST without it changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fixtures.servers import csrf_token


@pytest.mark.req("L6")
def test_a_cross_site_post_without_the_token_changes_nothing(lti_env):
    from bridge.extensions import db
    from bridge.models.exams import Exam

    course = lti_env.launch(role="Instructor").headers["Location"]
    forged = lti_env.post(course + "/exams", data={"title": "Forged", "duration_minutes": "5"}, csrf=False)
    assert forged.status_code == 400 and 'data-error-code="csrf_failed"' in forged.text
    other = lti_env.browser()
    lti_env.launch(role="Instructor", sub="9", http=other)
    foreign = lti_env.post(course + "/exams", csrf=False,
                           data={"title": "Forged", "duration_minutes": "5", "csrf_token": csrf_token(other, lti_env.bridge)})
    assert foreign.status_code == 400
    with lti_env.app.app_context():
        assert db.session.scalars(select(Exam)).all() == []
    ok = lti_env.post(course + "/exams", data={"title": "Real", "duration_minutes": "5"}, allow_redirects=False)
    assert ok.status_code == 302


@pytest.mark.req("L6")
def test_the_token_changes_at_sign_in(lti_env):
    """A token planted before the launch is worthless after it (fresh session)."""
    before = csrf_token(lti_env.http, lti_env.bridge)
    course = lti_env.launch(role="Instructor").headers["Location"]
    after = csrf_token(lti_env.http, lti_env.bridge)
    assert before and after and before != after
    stale = lti_env.post(course + "/exams", csrf=False, data={"title": "x", "duration_minutes": "5", "csrf_token": before})
    assert stale.status_code == 400


@pytest.mark.req("L1")
def test_lms_posts_need_no_token(lti_env):
    """The LMS's own posts (login initiation, id_token) are protected by state and nonce."""
    resp = lti_env.launch(role="Learner", sub="5")
    assert resp.status_code == 303
