"""``exambridge registration`` as a real process: open a period, let a site take part, offer a
subject, list them; a wrong site code, time or fee is a clean error, never a traceback."""
from __future__ import annotations

import pytest

from tests.exams import factories as f
from tests.fixtures.cli import run_cli

pytestmark = pytest.mark.req("R2")


def test_a_period_is_opened_and_filled_from_the_command_line(app, db_session):
    from bridge.services.venue import venues

    venues.create_site(db_session, code="A01", name="Site A", actor="test")
    exam = f.exam(db_session, f.course(db_session))
    exam.title = "Office software"
    db_session.commit()
    opened = run_cli(app, "registration", "open", "Spring 2027", "--opens", "2027-03-01 09:00",
                     "--closes", "2027-03-20 17:00", "--limit", "2")
    assert opened.returncode == 0 and "registration period 1 opened" in opened.stdout, opened.stderr
    assert run_cli(app, "registration", "site", "1", "A01", "--reviews").returncode == 0
    offered = run_cli(app, "registration", "offer", "1", "A01", str(exam.id), "--capacity", "40", "--fee", "80.50")
    assert offered.returncode == 0, offered.stderr
    listed = run_cli(app, "registration", "list").stdout
    assert "Spring 2027" in listed and "A01  (reviews)" in listed and "Office software: 0/40, 80.50 yuan" in listed


@pytest.mark.parametrize("args, says", [
    (("open", "X", "--opens", "next monday", "--closes", "2027-03-20 17:00"), "not a date and time"),
    (("open", "X", "--opens", "2027-03-20 09:00", "--closes", "2027-03-01 17:00"), "close after it opens"),
    (("site", "1", "NOPE"), "no site with the code NOPE"),
    (("offer", "1", "A01", "1", "--capacity", "5", "--fee", "8.005"), "more than two decimals"),
])
def test_wrong_input_is_a_clean_error(app, db_session, args, says):
    from bridge.services.registration import periods
    from bridge import clock
    import datetime as dt

    now = clock.utcnow_naive()
    periods.create_period(db_session, name="P", opens_at=now, closes_at=now + dt.timedelta(days=1), actor="test")
    db_session.commit()
    result = run_cli(app, "registration", *args)
    assert result.returncode != 0 and says in result.stderr and "Traceback" not in result.stderr, result.stderr
