"""A learner launched from the LMS registers for a sitting with their LMS identity (R1, R2): no
account of their own and no mailed link, the name and email the LMS gave prefilled, and the
course page pointing to registration while a period is open."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from stdnum.cn import ric

from bridge import clock
from bridge.models.registration import CandidateAccount, Registration

pytestmark = pytest.mark.req("R1", "R2")


def _period(app, open_for: dt.timedelta = dt.timedelta(days=5)) -> int:
    from bridge.extensions import transaction
    from bridge.services.registration import periods
    from bridge.services.venue import venues

    now = clock.utcnow_naive()
    with app.app_context(), transaction() as s:
        venues.create_site(s, code="A01", name="Site A", actor="test")
        p = periods.create_period(s, name="Spring", opens_at=now - dt.timedelta(hours=1),
                                  closes_at=now + open_for, actor="test")
        periods.add_site(s, p, "A01", reviews=False, actor="test")
        return p.id


def test_a_launched_learner_registers_with_the_lms_identity(lti_env):
    period_id = _period(lti_env.app)
    student = lti_env.browser()
    assert lti_env.launch(role="Learner", sub="5", name="Sam Student", http=student,
                          email="sam@example.edu").status_code == 303
    course = lti_env.get("/", http=student)
    assert 'id="registration-open"' in course.text
    home = lti_env.get("/register", http=student)
    assert "Confirm your email first" not in home.text and f"/register/{period_id}" in home.text
    agreed = lti_env.post(f"/register/{period_id}/agreement", http=student,
                          data={"decision": "agree", "agreed": "1"})
    assert agreed.url.endswith(f"/register/{period_id}/details")
    assert 'value="Sam Student"' in agreed.text and 'value="sam@example.edu"' in agreed.text
    body = "110101" + "20000229" + "135"
    saved = lti_env.post(f"/register/{period_id}/details", http=student,
                         data={"name": "Sam Student", "gender": "male", "birth_date": "2000-02-29", "id_type": "prc_id",
                               "id_number": body + ric.calc_check_digit(body + "0"), "phone": "13800138000",
                               "email": "sam@example.edu"})
    assert saved.url.endswith(f"/register/{period_id}/subjects")
    with lti_env.app.app_context():
        from bridge.extensions import db

        reg = db.session.scalars(select(Registration)).one()
        assert reg.name == "Sam Student" and reg.status == "draft"
        assert db.session.scalars(select(CandidateAccount)).first() is None      # the LMS is the account


def test_nobody_is_sent_to_sign_in_and_a_closed_period_says_so(lti_env):
    period_id = _period(lti_env.app, open_for=dt.timedelta(hours=2))
    stranger = lti_env.browser()
    assert lti_env.get(f"/register/{period_id}", http=stranger).url.endswith("/register/sign-in")
    student = lti_env.browser()
    lti_env.launch(role="Learner", sub="6", name="Sue Student", http=student)
    clock.set_offset(3 * 3600)  # closed, while the LMS sign-in still lasts
    try:
        page = lti_env.get(f"/register/{period_id}", http=student)
        assert "is not open" in page.text and 'id="agree"' not in page.text
    finally:
        clock.set_offset(0)
