"""R4: the site's review. A candidate at a reviewing site asks for it once the photo is in; the
site approves (in bulk) or rejects with a reason; approval locks the data and opens the payment
window, whose lapse gives the places back; staff of site A never read site B's registrations,
and every staff read is audited."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.errors import Forbidden, Invalid, InvalidState, NotFound
from bridge.models.audit import AuditEntry
from bridge.models.users import User
from bridge.services.people import access, accounts, staff
from bridge.services.registration import periods, registrations, review
from bridge.services.venue import venues
from tests.exams import factories as f
from tests.registration.photos import astronaut, jpeg
from tests.registration.test_registrations import SECRET, _details, make_ric

pytestmark = pytest.mark.req("R4")


@pytest.fixture
def sites(db_session):
    s = db_session
    exam = f.exam(s, f.course(s))
    a = venues.create_site(s, code="A01", name="Site A", actor="test")
    b = venues.create_site(s, code="B01", name="Site B", actor="test")
    now = clock.utcnow_naive()
    p = periods.create_period(s, name="Spring", opens_at=now - dt.timedelta(days=1),
                              closes_at=now + dt.timedelta(days=10), payment_hours=24, actor="test")
    offers = {}
    for code in ("A01", "B01"):
        periods.add_site(s, p, code, reviews=True, actor="test")
        offers[code] = periods.add_offer(s, p, code, exam.id, capacity=1, fee_cents=8000, actor="test")
    admin = accounts.create_admin(s, username="root", password="correct horse battery", actor="test")
    root = access.actor_for(s, admin)
    site_a_admin = staff.create_staff(s, username="wang", password="correct horse battery", role="site_admin",
                                      site="A01", actor=root)
    s.flush()
    return type("W", (), dict(s=s, p=p, a=a, b=b, offers=offers, wang=access.actor_for(s, site_a_admin)))


def _registered(w, site, seq="123", photo=True):
    user = User(name=f"Candidate {seq}", email=f"c{seq}@example.com")
    w.s.add(user)
    w.s.flush()
    reg = registrations.start(w.s, w.p, user, agreed=True)
    registrations.save_details(w.s, reg, _details(make_ric(seq=seq)), secret=SECRET)
    registrations.choose_subjects(w.s, reg, site.id, [w.offers[site.code].id])
    registrations.submit(w.s, reg, guaranteed=True)
    if photo:
        registrations.save_photo(w.s, reg, jpeg(astronaut()))
    return reg


def test_the_review_is_asked_once_the_photo_is_in(sites):
    w = sites
    reg = _registered(w, w.a, photo=False)
    with pytest.raises(Invalid, match="photo"):
        review.request_review(w.s, reg)
    registrations.save_photo(w.s, reg, jpeg(astronaut()))
    assert review.request_review(w.s, reg).status == "pending_review"
    with pytest.raises(InvalidState):
        review.request_review(w.s, reg)


def test_approval_locks_the_data_and_opens_the_payment_window_and_a_lapse_frees_the_place(sites):
    w = sites
    reg = _registered(w, w.a)
    review.request_review(w.s, reg)
    assert [r.registration.id for r in review.queue(w.s, w.wang, w.a.id)] == [reg.id]
    assert review.approve(w.s, w.wang, w.a.id, [reg.id]) == 1
    assert reg.status == "approved" and reg.pay_by == reg.reviewed_at + dt.timedelta(hours=24)
    with pytest.raises(InvalidState, match="approved or paid"):
        registrations.save_details(w.s, reg, _details(make_ric()), secret=SECRET)
    with pytest.raises(InvalidState):
        registrations.save_photo(w.s, reg, jpeg(astronaut()))
    other = User(name="Late", email="late@example.com")
    w.s.add(other)
    w.s.flush()
    late = registrations.start(w.s, w.p, other, agreed=True)
    with pytest.raises(Exception, match="full"):                        # capacity 1: the approved holds it
        registrations.choose_subjects(w.s, late, w.a.id, [w.offers["A01"].id])
    assert review.lapse_unpaid(w.s) == 0
    clock.set_offset(25 * 3600)
    try:
        assert review.lapse_unpaid(w.s) == 1
        assert reg.status == "lapsed" and [s.status for s in reg.subjects] == ["released"]
        registrations.choose_subjects(w.s, late, w.a.id, [w.offers["A01"].id])   # the place went back
    finally:
        clock.set_offset(0)


def test_a_rejection_needs_a_reason_the_candidate_reads_and_a_fix_submits_again(sites):
    w = sites
    reg = _registered(w, w.a)
    review.request_review(w.s, reg)
    with pytest.raises(Invalid, match="Say why"):
        review.reject(w.s, w.wang, w.a.id, reg.id, "  ")
    review.reject(w.s, w.wang, w.a.id, reg.id, "The photo is not recent")
    assert (reg.status, reg.reject_reason) == ("rejected", "The photo is not recent")
    registrations.save_photo(w.s, reg, jpeg(astronaut(top=8)))
    assert reg.status == "draft"
    registrations.submit(w.s, reg, guaranteed=True)
    assert review.request_review(w.s, reg).status == "pending_review"


def test_staff_of_site_a_never_read_site_b_and_their_reads_are_audited(sites):
    w = sites
    mine, theirs = _registered(w, w.a, seq="123"), _registered(w, w.b, seq="135")
    for reg in (mine, theirs):
        review.request_review(w.s, reg)
    with pytest.raises(Forbidden):
        review.queue(w.s, w.wang, w.b.id)
    with pytest.raises(NotFound):
        review.for_staff(w.s, w.wang, w.a.id, theirs.id)                 # B's id under A: not found
    with pytest.raises(Forbidden):
        review.photo_for_staff(w.s, w.wang, w.b.id, theirs.id)
    assert review.approve(w.s, w.wang, w.a.id, [mine.id, theirs.id]) == 1 and theirs.status == "pending_review"
    review.for_staff(w.s, w.wang, w.a.id, mine.id)
    assert [r.registration.id for r in review.queue(w.s, w.wang, w.a.id, status="all")] == [mine.id]
    actions = [(e.action, e.target) for e in w.s.scalars(select(AuditEntry).where(AuditEntry.actor == str(w.wang)))]
    assert ("registration.read", f"registration:{mine.id}") in actions
    assert ("registration.read_list", f"site:{w.a.id}") in actions
