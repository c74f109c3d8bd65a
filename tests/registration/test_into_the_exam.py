"""R6 → V4: paid registrations are candidates of the session at their site. Building a room's
exam data places them next to the LMS learners (admission numbers, rooms, seats); a public
candidate and an LMS learner who registered both appear; on-site confirmation, where the
period asks for it, comes first; the admission ticket follows with a QR code of a signed
token; a registered candidate signs in to the exam with admission number and ID number,
throttled."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.errors import InvalidState, NotFound
from bridge.models.papers import SessionCandidate
from bridge.services.delivery.attempts import TooManyTries
from bridge.services.people import access, accounts as staff_accounts
from bridge.services.registration import (accounts, enrolment, exam_sign_in, payments, periods, registrations,
                                          review, tickets)
from bridge.services.venue import exam_data, seats
from tests.exams import factories as f
from tests.registration.photos import astronaut, jpeg
from tests.registration.test_registrations import _details, make_ric
from tests.venue.readiness_world import make_world

pytestmark = pytest.mark.req("R6", "V4")
PASSWORD = "a long enough secret"


def _paid(s, secret, period, user, site_id, offer, number):
    reg = registrations.start(s, period, user, agreed=True)
    registrations.save_details(s, reg, _details(number, name=user.name), secret=secret)
    registrations.choose_subjects(s, reg, site_id, [offer.id])
    registrations.save_photo(s, reg, jpeg(astronaut()))
    registrations.submit(s, reg, guaranteed=True)
    order = payments.open_order(s, reg, provider="sandbox")
    assert payments.apply(s, payments.Notice(app_id="app", out_trade_no=order.out_trade_no,
                                             total_amount=payments.amount_text(order.amount_cents),
                                             trade_status="TRADE_SUCCESS"), app_id="app", source="test") == "paid"
    return reg


@pytest.fixture
def sitting(app, db_session):
    """The venue world's session (2 LMS learners) at its site, with a registration period there
    offering its exam: a public candidate and an LMS learner of the course registered and paid."""
    s, secret = db_session, app.config["SECRET_KEY"]
    w = make_world(app, s, candidates=2, start_in=dt.timedelta(days=3))
    now = clock.utcnow_naive()
    period = periods.create_period(s, name="Spring", opens_at=now - dt.timedelta(days=1),
                                   closes_at=now + dt.timedelta(days=1), actor="test")
    periods.add_site(s, period, w.site.code, reviews=False, actor="test")
    offer = periods.add_offer(s, period, w.site.code, w.exam.id, capacity=9, fee_cents=8000, actor="test")
    account, token = accounts.sign_up(s, email="li@example.com", password=PASSWORD, confirm=PASSWORD,
                                      name="李华", secret=secret)
    accounts.verify(s, token, secret=secret)
    learner = f.member(s, w.exam.course, name="LMS 学员")  # in the course, not yet in a session
    public = _paid(s, secret, period, account.user, w.site.id, offer, make_ric(seq="123"))
    lms = _paid(s, secret, period, learner, w.site.id, offer, make_ric(seq="457"))
    seats.import_csv(s, w.room.id, "".join(f"{n},10.0.0.{n},PC{n:02d},\n" for n in range(1, 7)).encode())
    row = exam_data.place(s, w.site.id, w.session_id, w.room.id)
    admin = staff_accounts.create_admin(s, username="root", password="correct horse battery", actor="test")
    s.commit()
    return w, row.id, period, public, lms, access.actor_for(s, admin), secret


def test_building_the_exam_data_places_registered_candidates_next_to_the_lms_learners(sitting):
    w, sitting_id, period, public, lms, root, secret = sitting
    s = w.s
    info = exam_data.build(s, sitting_id, secret_key=secret)
    assert info.candidates == 4
    placed = {c.user_id: c for c in s.scalars(select(SessionCandidate).where(
        SessionCandidate.session_id == w.session_id))}
    assert {public.user_id, lms.user_id} | {p.id for p in w.candidates} == set(placed)
    numbers = sorted(c.admission_number for c in placed.values())
    assert len(set(numbers)) == 4 and all(n.startswith(f"{placed[public.user_id].admission_number[:4]}1450301R01")
                                          for n in numbers)
    names = {p["name"] for p in exam_data.seating_chart(s, sitting_id)["candidates"]}
    assert {"李华", "LMS 学员"} <= names
    # building again places nobody twice
    exam_data.build(s, sitting_id, secret_key=secret)
    assert s.scalar(select(SessionCandidate.id).where(SessionCandidate.user_id == public.user_id)
                    .where(SessionCandidate.exam_id == w.exam.id)) is not None
    assert len(list(s.scalars(select(SessionCandidate).where(SessionCandidate.exam_id == w.exam.id)))) == 4


def test_an_unpaid_registration_stays_out_and_on_site_confirmation_comes_first(sitting):
    w, sitting_id, period, public, lms, root, secret = sitting
    s = w.s
    period.onsite_confirmation = True
    s.flush()
    assert enrolment.ready(s, w.site.id, w.exam.id) == []
    with pytest.raises(InvalidState):
        tickets.check_printable(s, public)
    review.confirm_onsite(s, root, w.site.id, public.id)
    assert public.status == "confirmed" and public.confirmed_at is not None
    review.confirm_onsite(s, root, w.site.id, public.id)  # twice: still once
    assert [r.id for r in enrolment.ready(s, w.site.id, w.exam.id)] == [public.id]
    exam_data.build(s, sitting_id, secret_key=secret)
    seated = {c.user_id for c in s.scalars(select(SessionCandidate).where(SessionCandidate.exam_id == w.exam.id))}
    assert public.user_id in seated and lms.user_id not in seated


def test_the_admission_ticket_waits_for_the_exam_data_and_its_window_and_carries_a_signed_token(sitting):
    w, sitting_id, period, public, lms, root, secret = sitting
    s = w.s
    with pytest.raises(InvalidState, match="built the exam data"):
        tickets.check_printable(s, public)
    exam_data.build(s, sitting_id, secret_key=secret)
    ticket = tickets.admission_ticket(s, public, secret=secret)
    [page] = ticket.pages
    seat = s.scalars(select(SessionCandidate).where(SessionCandidate.user_id == public.user_id)).one()
    assert (page.admission_number, page.seat, page.room_code) == (seat.admission_number, seat.seat_number, "R01")
    assert ticket.photo_uri.startswith("data:image/jpeg;base64,")
    assert tickets.registration_id_of(secret, ticket.token) == public.id
    for forged in (ticket.token[:-2] + "xx", str(public.id), "", tickets.token("another secret", public)):
        with pytest.raises(NotFound):
            tickets.registration_id_of(secret, forged)
    period.ticket_print_from = clock.utcnow_naive() + dt.timedelta(days=1)
    with pytest.raises(InvalidState, match="can be printed from"):
        tickets.check_printable(s, public)
    period.ticket_print_from, period.ticket_print_until = None, clock.utcnow_naive() - dt.timedelta(minutes=1)
    with pytest.raises(InvalidState, match="closed"):
        tickets.check_printable(s, public)


def test_a_registered_candidate_signs_in_with_admission_number_and_id_number_throttled(sitting):
    w, sitting_id, period, public, lms, root, secret = sitting
    s = w.s
    exam_data.build(s, sitting_id, secret_key=secret)
    s.commit()  # a refused try counts in a transaction of its own
    seat = s.scalars(select(SessionCandidate).where(SessionCandidate.user_id == public.user_id)).one()
    number, lms_number = seat.admission_number, next(
        c.admission_number for c in s.scalars(select(SessionCandidate).where(SessionCandidate.exam_id == w.exam.id))
        if c.user_id == w.candidates[0].id)
    found = exam_sign_in.sign_in(s, f" {number} ", make_ric(seq="123").lower(), secret=secret, address="10.0.0.9")
    assert found.id == seat.id

    def refused(admission, id_number, address, error=NotFound):
        with pytest.raises(error):
            exam_sign_in.sign_in(s, admission, id_number, secret=secret, address=address)
        s.rollback()

    refused(number, make_ric(seq="457"), "10.0.0.9")       # the other registered candidate's ID number
    refused(lms_number, make_ric(seq="123"), "10.0.0.8")   # an LMS learner launches from the LMS instead
    for n in range(exam_sign_in.LIMITS["number"] - 1):
        refused(number, "wrong", f"10.1.0.{n}")
    refused(number, make_ric(seq="123"), "10.0.0.7", TooManyTries)  # then even the right pair, for the window
    clock.set_offset(exam_sign_in.WINDOW.total_seconds() + 1)
    try:
        assert exam_sign_in.sign_in(s, number, make_ric(seq="123"), secret=secret, address="10.0.0.7").id == seat.id
    finally:
        clock.set_offset(0)
