"""Personal data kept no longer than needed: a registration's photo and personal data are
purged a set time after its period closed and the results of what it paid for were
released; the registration's subjects and payment orders stay; a registration whose paid
subject has no released results is kept; the command line purges (or counts) the same."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bridge import clock
from bridge.models.papers import Paper
from bridge.models.registration import PaymentOrder, Registration, RegistrationPhoto
from bridge.services.delivery import scoring
from bridge.services.registration import payments, periods, registrations, retention
from bridge.services.venue import venues
from tests.exams import factories as f
from tests.fixtures.cli import run_cli
from tests.registration.photos import astronaut, jpeg
from tests.registration.test_registrations import SECRET, _details, make_ric

pytestmark = pytest.mark.req("R1", "R3")
DAYS = 30


@pytest.fixture
def kept(db_session):
    """One period (closed yesterday) at site A: a paid registration for an exam whose scores
    are released today, and a draft that paid for nothing."""
    s = db_session
    c = f.course(s)
    teacher = f.member(s, c, "teacher", "Tess")
    exam = f.exam(s, c)
    qs = f.questions(s, c)
    from bridge.services.exams import papers

    papers.set_fixed_items(s, exam, [(qs["single"].id, 1.0)], actor_id=teacher.id)
    site = venues.create_site(s, code="A", name="Site A", actor="test")
    now = clock.utcnow_naive()
    period = periods.create_period(s, name="Spring", opens_at=now - dt.timedelta(days=10),
                                   closes_at=now + dt.timedelta(days=1), actor="test")
    periods.add_site(s, period, "A", reviews=False, actor="test")
    offer = periods.add_offer(s, period, "A", exam.id, capacity=5, fee_cents=100, actor="test")
    paid = registrations.start(s, period, f.member(s, c, name="Paid"), agreed=True)
    registrations.save_details(s, paid, _details(make_ric(seq="123")), secret=SECRET)
    registrations.choose_subjects(s, paid, site.id, [offer.id])
    registrations.save_photo(s, paid, jpeg(astronaut()))
    registrations.submit(s, paid, guaranteed=True)
    order = payments.open_order(s, paid, provider="sandbox")
    payments.apply(s, payments.Notice(app_id="a", out_trade_no=order.out_trade_no, total_amount="1.00",
                                      trade_status="TRADE_SUCCESS"), app_id="a", source="test")
    draft = registrations.start(s, period, f.member(s, c, name="Draft"), agreed=True)
    registrations.save_details(s, draft, _details(make_ric(seq="135")), secret=SECRET)
    period.closes_at = now - dt.timedelta(days=1)
    s.flush()
    return s, exam, teacher, paid, draft


def test_nothing_is_purged_before_the_results_and_the_retention_are_over(kept):
    s, exam, teacher, paid, draft = kept
    later = clock.utcnow_naive() + dt.timedelta(days=DAYS + 1)
    assert [r.id for r in retention.due(s, days=DAYS, now=later)] == [draft.id]  # paid: results not released
    scoring.release(s, exam, actor_id=teacher.id)
    assert s.scalar(select(Paper.scores_released_at).where(Paper.exam_id == exam.id)) is not None
    assert [r.id for r in retention.due(s, days=DAYS)] == []                     # released just now
    assert [r.id for r in retention.due(s, days=DAYS, now=later)] == [paid.id, draft.id]


def test_a_purge_removes_the_photo_and_personal_data_and_keeps_the_payment_records(kept):
    s, exam, teacher, paid, draft = kept
    scoring.release(s, exam, actor_id=teacher.id)
    later = clock.utcnow_naive() + dt.timedelta(days=DAYS + 1)
    assert retention.purge(s, days=DAYS, now=later) == 2
    reg = s.get(Registration, paid.id)
    assert (reg.name, reg.id_sealed, reg.id_digest, reg.id_masked, reg.phone, reg.email, reg.birth_date) == \
        ("", "", "", "", "", "", None)
    assert reg.purged_at == later and reg.status == "paid" and [x.status for x in reg.subjects] == ["paid"]
    assert s.scalar(select(func.count()).select_from(RegistrationPhoto)) == 0
    assert s.scalar(select(PaymentOrder.status).where(PaymentOrder.registration_id == paid.id)) == "paid"
    assert retention.purge(s, days=DAYS, now=later) == 0                        # once


def test_the_command_line_counts_and_purges(app, kept):
    s, exam, teacher, paid, draft = kept
    s.commit()
    counted = run_cli(app, "registration", "purge", "--days", "1", "--dry-run")
    assert counted.returncode == 0 and "1 registrations are past 1 days" in counted.stdout, counted.stderr
    purged = run_cli(app, "registration", "purge", "--days", "1")
    assert purged.returncode == 0 and "1 registrations purged" in purged.stdout, purged.stderr
    s.expire_all()
    assert s.get(Registration, draft.id).purged_at is not None and s.get(Registration, paid.id).purged_at is None
    wrong = run_cli(app, "registration", "purge", "--days", "0")
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
