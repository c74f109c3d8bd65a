"""One person's registration in a period (R1, R2; seed 003 §2): the agreement, the personal
data with a checked ID number, the site and its subjects, and "I guarantee this information
is true and accurate" before it is submitted. Data can change until a review approves it or
a payment succeeds (``EDITABLE_STATES``).

The same person (the same ID number, found by its keyed hash) choosing the same subject at
another site in the same period is not refused, since the seed leaves it to the sites
("按照有关规定进行处理"), but it is found and shown to both sites (``duplicates``)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.registration import (EDITABLE_STATES, GENDERS, PeriodSite, Registration, RegistrationPeriod,
                                        RegistrationPhoto, RegistrationSubject)
from bridge.models.users import User
from bridge.services import audit
from bridge.services.registration import identity, periods, photo


#: each state's name for people (translated where shown)
STATE_LABELS = {
    "draft": N_("Being filled in"), "submitted": N_("Registration submitted"), "pending_review": N_("Waiting for review"),
    "approved": N_("Approved: pay within the window"), "rejected": N_("Not approved: correct and submit again"),
    "paid": N_("Paid"), "confirmed": N_("Confirmed on site"), "lapsed": N_("Lapsed: not paid in time"),
}


@dataclass(frozen=True)
class PersonalData:
    name: str
    gender: str
    birth_date: dt.date | None
    id_type: str
    id_number: str
    phone: str
    email: str
    address: str = ""


def start(session: Session, period: RegistrationPeriod, user: User, *, agreed: bool) -> Registration:
    """Accept the period's agreement (declining stops here) and open a registration, with the
    name and email the person is known by prefilled; a second start returns the first."""
    if not agreed:
        raise Invalid(N_("Registration needs your agreement to its terms; without it, it stops here."))
    if not periods.is_open(period):
        raise InvalidState(N_("Registration for this period is not open."))
    reg = session.scalars(select(Registration).where(Registration.period_id == period.id,
                                                     Registration.user_id == user.id)).first()
    if reg is not None:
        return reg
    reg = Registration(period_id=period.id, user_id=user.id, status="draft", agreed_at=clock.utcnow_naive(),
                       name=(user.display_name if user.name or user.given_name else "")[:100],
                       email=(user.email or "")[:320])
    session.add(reg)
    session.flush()
    audit.record(session, "registration.start", actor=f"user:{user.id}", target=f"registration:{reg.id}",
                 detail={"period": period.id})
    return reg


def of_user(session: Session, period_id: int, user_id: int) -> Registration | None:
    return session.scalars(select(Registration).where(Registration.period_id == period_id,
                                                      Registration.user_id == user_id)).first()


def by_period(session: Session, user_id: int) -> dict[int, Registration]:
    """The person's registrations, one per period they registered in."""
    return {r.period_id: r for r in session.scalars(select(Registration).where(Registration.user_id == user_id))}


def get(session: Session, registration_id: int) -> Registration:
    reg = session.get(Registration, registration_id)
    if reg is None:
        raise NotFound(N_("That registration does not exist."))
    return reg


def _editable(reg: Registration) -> None:
    if reg.status not in EDITABLE_STATES:
        raise InvalidState(N_("This registration was approved or paid, so its data can no longer change."))
    if not periods.is_open(reg.period):
        raise InvalidState(N_("Registration for this period has closed."))


def save_details(session: Session, reg: Registration, data: PersonalData, *, secret: str | bytes) -> Registration:
    """Check and keep the personal data; required fields are named one by one."""
    _editable(reg)
    missing = [label for label, value in ((N_("name"), data.name), (N_("gender"), data.gender),
                                          (N_("date of birth"), data.birth_date), (N_("ID type"), data.id_type),
                                          (N_("ID number"), data.id_number), (N_("mobile phone"), data.phone),
                                          (N_("email"), data.email)) if not value]
    if missing:
        raise MissingFields(missing)
    if data.gender not in GENDERS:
        raise Invalid(N_("Choose male or female."))
    if data.birth_date > clock.utcnow_naive().date():
        raise Invalid(N_("The date of birth cannot be in the future."))
    if "@" not in data.email or len(data.email) > 320:
        raise Invalid(N_("Give an email address such as name@example.com."))
    if not 5 <= len("".join(ch for ch in data.phone if ch.isdigit())) <= 20:
        raise Invalid(N_("Give a phone number of 5 to 20 digits."))
    number = identity.check_id(data.id_type, data.id_number, birth_date=data.birth_date, gender=data.gender)
    digest_key, seal_key = identity.derive_keys(secret)
    reg.name, reg.gender, reg.birth_date = data.name.strip()[:100], data.gender, data.birth_date
    reg.id_type, reg.id_sealed = data.id_type, identity.seal_id(number, seal_key)
    reg.id_digest, reg.id_masked = identity.id_digest(number, digest_key), identity.mask_id(number)
    reg.phone, reg.email, reg.address = data.phone.strip()[:40], data.email.strip()[:320], data.address.strip()[:300]
    if reg.status == "rejected":
        reg.status = "draft"  # fixed after a rejection: submitted again by the candidate
    session.flush()
    audit.record(session, "registration.details", actor=f"user:{reg.user_id}", target=f"registration:{reg.id}",
                 detail={"id_type": reg.id_type, "id": reg.id_masked})
    return reg


class MissingFields(Invalid):
    """Required fields left empty: ``fields`` names them (translatable labels)."""

    def __init__(self, fields: list[str]):
        super().__init__(N_("Fill in the required fields: %(fields)s."))
        self.fields = fields


def choose_subjects(session: Session, reg: Registration, site_id: str, offer_ids: list[int]) -> Registration:
    """The site, then its subjects: at least one, at most the period's limit, none twice,
    none full (places held by others)."""
    _editable(reg)
    period = reg.period
    if site_id not in {s.site_id for s in period.sites}:
        raise Invalid(N_("Choose one of the sites taking part in this period."))
    if len(offer_ids) != len(set(offer_ids)):
        raise Invalid(N_("A subject can be chosen only once."))
    if not offer_ids:
        raise Invalid(N_("Choose at least one subject."))
    if len(offer_ids) > period.subject_limit:
        raise Invalid(N_("At most %(n)d subjects per person in this period."), params={"n": period.subject_limit})
    offers = {o.id: o for o in period.offers if o.site_id == site_id}
    if any(oid not in offers for oid in offer_ids):
        raise Invalid(N_("Choose subjects offered at the site you chose."))
    exams = [offers[oid].exam_id for oid in offer_ids]
    if len(exams) != len(set(exams)):
        raise Invalid(N_("A subject can be chosen only once."))
    mine = {s.offer_id for s in reg.subjects if s.status in periods.HOLDS_PLACE}
    held = periods.taken(session, [oid for oid in offer_ids if oid not in mine])
    for oid in offer_ids:
        if oid not in mine and held.get(oid, 0) >= offers[oid].capacity:
            raise Conflict(N_("%(subject)s is full at this site; choose another subject or site."),
                           params={"subject": offers[oid].exam.title})
    for row in list(reg.subjects):
        if row.offer_id not in offer_ids:
            reg.subjects.remove(row)
    for oid in offer_ids:
        if oid not in {s.offer_id for s in reg.subjects}:
            reg.subjects.append(RegistrationSubject(offer_id=oid, status="chosen"))
    reg.site_id = site_id
    if reg.status == "rejected":
        reg.status = "draft"
    session.flush()
    audit.record(session, "registration.subjects", actor=f"user:{reg.user_id}", target=f"registration:{reg.id}",
                 detail={"site": site_id, "offers": sorted(offer_ids)})
    return reg


def submit(session: Session, reg: Registration, *, guaranteed: bool) -> Registration:
    """"I guarantee this information is true and accurate", then submitted: at a site that
    reviews it waits for the photo and the request for review; elsewhere it is payable once
    the photo is in."""
    _editable(reg)
    if not guaranteed:
        raise Invalid(N_("Confirm that the information is true and accurate before submitting."))
    if not reg.id_sealed:
        raise Invalid(N_("Fill in your personal data first."))
    if not reg.site_id or not reg.subjects:
        raise Invalid(N_("Choose a site and at least one subject first."))
    reg.status, reg.submitted_at = "submitted", clock.utcnow_naive()
    session.flush()
    audit.record(session, "registration.submit", actor=f"user:{reg.user_id}", target=f"registration:{reg.id}")
    return reg


def save_photo(session: Session, reg: Registration, data: bytes) -> RegistrationPhoto:
    """Check the photo (``photo.check_photo``: JPEG, size, colour, proportions, one upright
    face) and keep it in place of the one before; refused with the reason otherwise (R3)."""
    _editable(reg)
    checked = photo.check_photo(data)
    row = session.get(RegistrationPhoto, reg.id)
    if row is None:
        row = RegistrationPhoto(registration_id=reg.id)
        session.add(row)
    row.jpeg, row.width, row.height, row.uploaded_at = checked.jpeg, checked.width, checked.height, clock.utcnow_naive()
    if reg.status == "rejected":
        reg.status = "draft"
    session.flush()
    audit.record(session, "registration.photo", actor=f"user:{reg.user_id}", target=f"registration:{reg.id}",
                 detail={"bytes": len(checked.jpeg), "width": checked.width, "height": checked.height})
    return row


def photo_of(session: Session, reg: Registration) -> RegistrationPhoto | None:
    return session.get(RegistrationPhoto, reg.id)


def has_photo(session: Session, reg: Registration) -> bool:
    return session.get(RegistrationPhoto, reg.id) is not None


def site_reviews(session: Session, reg: Registration) -> bool:
    row = session.scalars(select(PeriodSite).where(PeriodSite.period_id == reg.period_id,
                                                   PeriodSite.site_id == reg.site_id)).first()
    return bool(row and row.reviews)


@dataclass(frozen=True)
class Duplicate:
    registration_id: int
    site_id: str
    exam_id: int


def duplicates(session: Session, reg: Registration) -> list[Duplicate]:
    """The same person (same ID number) with a subject of this registration at another site
    of the same period: shown to the candidate and to both sites."""
    if not reg.id_digest:
        return []
    exams = {s.offer.exam_id for s in reg.subjects if s.status in periods.HOLDS_PLACE}
    others = session.scalars(select(Registration).where(Registration.period_id == reg.period_id,
                                                        Registration.id_digest == reg.id_digest,
                                                        Registration.id != reg.id,
                                                        Registration.status != "lapsed"))
    return [Duplicate(other.id, other.site_id, s.offer.exam_id) for other in others for s in other.subjects
            if s.offer.exam_id in exams and s.status in periods.HOLDS_PLACE]
