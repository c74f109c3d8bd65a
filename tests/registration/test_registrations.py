"""R1, R2: a registration in a period, through the services: the agreement, personal data with
its ID check and sealing, a site and its subjects (at least one, at most the limit, none twice,
none full, only what the site offers), the guarantee before submitting, the data locked once
approved, and the same person with the same subject at two sites found for both."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from stdnum.cn import ric

from bridge import clock
from bridge.errors import Conflict, Invalid, InvalidState
from bridge.models.registration import Registration
from bridge.models.users import User
from bridge.services.registration import periods, registrations
from bridge.services.venue import venues
from tests.exams import factories as f

SECRET = "registration-test-secret-0123456789"


def make_ric(area="110101", birth="19900101", seq="123") -> str:
    body = area + birth + seq
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture
def world(db_session):
    s = db_session
    c = f.course(s)
    exams = [f.exam(s, c) for _ in range(5)]
    for i, e in enumerate(exams):
        e.title = f"Subject {i + 1}"
    venues.create_site(s, code="A", name="Site A", actor="cli:test")
    venues.create_site(s, code="B", name="Site B", actor="cli:test")
    now = clock.utcnow_naive()
    p = periods.create_period(s, name="Spring", opens_at=now - dt.timedelta(days=1),
                              closes_at=now + dt.timedelta(days=10), actor="cli:test")
    periods.add_site(s, p, "A", reviews=True, actor="cli:test")
    periods.add_site(s, p, "B", reviews=False, actor="cli:test")
    offers = {(site, e.id): periods.add_offer(s, p, site, e.id, capacity=2, fee_cents=8000, actor="cli:test")
              for site in ("A", "B") for e in exams}
    s.flush()
    people = [User(name=f"Person {i}", email=f"p{i}@example.com") for i in range(4)]
    s.add_all(people)
    s.flush()
    site_id = {code: s.scalar(text("SELECT id FROM sites WHERE code = :c"), {"c": code}) for code in ("A", "B")}
    return type("W", (), dict(s=s, p=p, exams=exams, offers=offers, people=people, site=site_id))


def _details(number=None, **over):
    values = dict(name="Zhang San", gender="male", birth_date=dt.date(1990, 1, 1), id_type="prc_id",
                  id_number=number or make_ric(), phone="13800138000", email="z@example.com", address="")
    values.update(over)
    return registrations.PersonalData(**values)


def _offer_ids(w, site, *indexes):
    return [w.offers[(site, w.exams[i].id)].id for i in indexes]


@pytest.mark.req("R1")
def test_declining_the_agreement_stops_and_agreeing_prefills_who_they_are(world):
    w = world
    with pytest.raises(Invalid, match="agreement"):
        registrations.start(w.s, w.p, w.people[0], agreed=False)
    reg = registrations.start(w.s, w.p, w.people[0], agreed=True)
    assert (reg.status, reg.name, reg.email) == ("draft", "Person 0", "p0@example.com")
    assert registrations.start(w.s, w.p, w.people[0], agreed=True).id == reg.id  # once per person and period


@pytest.mark.req("R1")
def test_personal_data_names_what_is_missing_and_keeps_the_id_number_sealed(world):
    w = world
    reg = registrations.start(w.s, w.p, w.people[0], agreed=True)
    with pytest.raises(registrations.MissingFields) as missing:
        registrations.save_details(w.s, reg, _details(phone="", name=""), secret=SECRET)
    assert missing.value.fields == ["name", "mobile phone"]
    with pytest.raises(Invalid, match="check digit"):
        bad = make_ric()
        registrations.save_details(w.s, reg, _details(bad[:-1] + ("0" if bad[-1] != "0" else "1")), secret=SECRET)
    with pytest.raises(Invalid):
        registrations.save_details(w.s, reg, _details(birth_date=dt.date(1991, 1, 1)), secret=SECRET)
    number = make_ric()
    registrations.save_details(w.s, reg, _details(number), secret=SECRET)
    w.s.flush()
    stored = " ".join(str(v) for v in w.s.execute(select(Registration.__table__)).one())
    assert number not in stored and reg.id_masked.startswith(number[:3]) and reg.id_masked.endswith(number[-4:])


@pytest.mark.req("R2")
def test_subjects_at_least_one_at_most_the_limit_none_twice_none_full_only_the_sites(world):
    w = world
    regs = [registrations.start(w.s, w.p, person, agreed=True) for person in w.people[:3]]
    reg = regs[0]
    with pytest.raises(Invalid, match="at least one"):
        registrations.choose_subjects(w.s, reg, w.site["A"], [])
    with pytest.raises(Invalid, match="At most") as too_many:
        registrations.choose_subjects(w.s, reg, w.site["A"], _offer_ids(w, "A", 0, 1, 2, 3))
    assert too_many.value.params == {"n": 3}
    with pytest.raises(Invalid, match="only once"):
        registrations.choose_subjects(w.s, reg, w.site["A"], _offer_ids(w, "A", 0, 0))
    with pytest.raises(Invalid, match="offered at the site"):
        registrations.choose_subjects(w.s, reg, w.site["A"], _offer_ids(w, "B", 0))
    registrations.choose_subjects(w.s, reg, w.site["A"], _offer_ids(w, "A", 0, 1, 2))
    registrations.choose_subjects(w.s, regs[1], w.site["A"], _offer_ids(w, "A", 0))   # capacity 2: now full
    with pytest.raises(Conflict, match="is full") as full:
        registrations.choose_subjects(w.s, regs[2], w.site["A"], _offer_ids(w, "A", 0))
    assert full.value.params == {"subject": "Subject 1"}
    registrations.choose_subjects(w.s, reg, w.site["A"], _offer_ids(w, "A", 1))       # dropping frees the place
    registrations.choose_subjects(w.s, regs[2], w.site["A"], _offer_ids(w, "A", 0))
    left = {o.title: o.places_left for o in periods.offers_at(w.s, w.p, w.site["A"])}
    assert left["Subject 1"] == 0 and left["Subject 2"] == 1


@pytest.mark.req("R1", "R2")
def test_submitting_needs_the_guarantee_and_approved_data_is_locked(world):
    w = world
    reg = registrations.start(w.s, w.p, w.people[0], agreed=True)
    with pytest.raises(Invalid, match="personal data"):
        registrations.submit(w.s, reg, guaranteed=True)
    registrations.save_details(w.s, reg, _details(), secret=SECRET)
    registrations.choose_subjects(w.s, reg, w.site["A"], _offer_ids(w, "A", 0))
    with pytest.raises(Invalid, match="true and accurate"):
        registrations.submit(w.s, reg, guaranteed=False)
    assert registrations.submit(w.s, reg, guaranteed=True).status == "submitted"
    assert registrations.site_reviews(w.s, reg)
    reg.status = "approved"
    with pytest.raises(InvalidState, match="approved or paid"):
        registrations.save_details(w.s, reg, _details(), secret=SECRET)
    with pytest.raises(InvalidState):
        registrations.choose_subjects(w.s, reg, w.site["A"], _offer_ids(w, "A", 1))


@pytest.mark.req("R2")
def test_the_same_person_with_the_same_subject_at_two_sites_is_found_for_both(world):
    w = world
    number = make_ric(seq="457")
    a = registrations.start(w.s, w.p, w.people[0], agreed=True)
    b = registrations.start(w.s, w.p, w.people[1], agreed=True)   # a second account, the same ID number
    c = registrations.start(w.s, w.p, w.people[2], agreed=True)
    for reg, n in ((a, number), (b, number), (c, make_ric(seq="789"))):
        registrations.save_details(w.s, reg, _details(n), secret=SECRET)
    registrations.choose_subjects(w.s, a, w.site["A"], _offer_ids(w, "A", 0, 1))
    registrations.choose_subjects(w.s, b, w.site["B"], _offer_ids(w, "B", 1))
    registrations.choose_subjects(w.s, c, w.site["B"], _offer_ids(w, "B", 0))
    assert [(d.registration_id, d.exam_id) for d in registrations.duplicates(w.s, a)] == [(b.id, w.exams[1].id)]
    assert [(d.registration_id, d.site_id) for d in registrations.duplicates(w.s, b)] == [(a.id, w.site["A"])]
    assert registrations.duplicates(w.s, c) == []


@pytest.mark.req("R2")
def test_a_closed_period_takes_no_registration_and_no_change(world):
    w = world
    reg = registrations.start(w.s, w.p, w.people[0], agreed=True)
    clock.set_offset(11 * 24 * 3600)
    try:
        with pytest.raises(InvalidState, match="not open"):
            registrations.start(w.s, w.p, w.people[1], agreed=True)
        with pytest.raises(InvalidState, match="closed"):
            registrations.save_details(w.s, reg, _details(), secret=SECRET)
    finally:
        clock.set_offset(0)


@pytest.mark.req("R2")
def test_period_settings_are_checked(world):
    w = world
    now = clock.utcnow_naive()
    with pytest.raises(Invalid, match="close after"):
        periods.create_period(w.s, name="X", opens_at=now, closes_at=now, actor="cli:test")
    with pytest.raises(Invalid, match="Add the site"):
        other = periods.create_period(w.s, name="Y", opens_at=now, closes_at=now + dt.timedelta(days=1),
                                      actor="cli:test")
        periods.add_offer(w.s, other, "A", w.exams[0].id, capacity=5, fee_cents=0, actor="cli:test")
    reg = registrations.start(w.s, w.p, w.people[0], agreed=True)
    registrations.choose_subjects(w.s, reg, w.site["A"], _offer_ids(w, "A", 0))
    registrations.start(w.s, w.p, w.people[1], agreed=True)
    reg2 = registrations.of_user(w.s, w.p.id, w.people[1].id)
    registrations.choose_subjects(w.s, reg2, w.site["A"], _offer_ids(w, "A", 0))
    with pytest.raises(Conflict, match="new capacity"):
        periods.add_offer(w.s, w.p, "A", w.exams[0].id, capacity=1, fee_cents=8000, actor="cli:test")
