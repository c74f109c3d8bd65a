"""The site's review of registrations (R4; seed 003 §2.5 申请信息审核): a candidate whose site
reviews asks for it once the photo is in; the site's staff approve (one or many at once) or
reject with a reason the candidate reads. Approval locks the data and opens the payment
window (``payment_hours``, 24 by default); an approval left unpaid past it lapses and its
places go back (``lapse_unpaid``, run by the sweeper).

Staff see only their own sites' registrations (``access.check_site``), and every read of a
registration's personal data by staff is in the audit log."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.registration import Registration, RegistrationPeriod, RegistrationPhoto
from bridge.services import audit
from bridge.services.people import access
from bridge.services.registration import registrations

REVIEW_FILTERS = ("pending_review", "approved", "rejected", "submitted", "paid", "lapsed", "all")


def request_review(session: Session, reg: Registration) -> Registration:
    if reg.status != "submitted":
        raise InvalidState(N_("Submit the registration first; then ask for the review."))
    if not registrations.site_reviews(session, reg):
        raise InvalidState(N_("This site does not review registrations: you can pay once payment opens."))
    if not registrations.has_photo(session, reg):
        raise Invalid(N_("Upload your photo first: the site reviews it with your data."))
    reg.status = "pending_review"
    session.flush()
    audit.record(session, "registration.review_request", actor=f"user:{reg.user_id}",
                 target=f"registration:{reg.id}")
    return reg


@dataclass(frozen=True)
class QueueRow:
    registration: Registration
    has_photo: bool
    duplicate: bool


def queue(session: Session, actor, site_id: str, *, status: str = "pending_review",
          period_id: int | None = None) -> list[QueueRow]:
    """The site's registrations in one state (or all), oldest first, for its staff only."""
    access.check_site(actor, site_id)
    if status not in REVIEW_FILTERS:
        raise Invalid(N_("Unknown filter."))
    query = select(Registration).where(Registration.site_id == site_id, Registration.status != "draft")
    if status != "all":
        query = query.where(Registration.status == status)
    if period_id is not None:
        query = query.where(Registration.period_id == period_id)
    rows = list(session.scalars(query.order_by(Registration.submitted_at, Registration.id)))
    photos = set(session.scalars(select(RegistrationPhoto.registration_id)
                                 .where(RegistrationPhoto.registration_id.in_([r.id for r in rows]))))
    audit.record(session, "registration.read_list", actor=str(actor), target=f"site:{site_id}",
                 detail={"status": status, "period": period_id, "count": len(rows)})
    return [QueueRow(r, r.id in photos, bool(registrations.duplicates(session, r))) for r in rows]


def for_staff(session: Session, actor, site_id: str, registration_id: int) -> Registration:
    """One registration of the site, its read audited; another site's is not found here."""
    access.check_site(actor, site_id)
    reg = session.get(Registration, registration_id)
    if reg is None or reg.site_id != site_id or reg.status == "draft":
        raise NotFound(N_("That registration does not exist at this site."))
    audit.record(session, "registration.read", actor=str(actor), target=f"registration:{reg.id}")
    return reg


def approve(session: Session, actor, site_id: str, registration_ids: list[int]) -> int:
    """Approve each registration waiting for review at the site; returns how many were.
    Approval locks the data and gives the candidate the period's payment window."""
    access.check_site(actor, site_id)
    if not registration_ids:
        raise Invalid(N_("Tick the registrations to approve."))
    now = clock.utcnow_naive()
    done = 0
    for reg in session.scalars(select(Registration).where(Registration.id.in_(registration_ids),
                                                          Registration.site_id == site_id,
                                                          Registration.status == "pending_review")):
        period = session.get(RegistrationPeriod, reg.period_id)
        reg.status, reg.reviewed_at, reg.reviewed_by, reg.reject_reason = "approved", now, str(actor), ""
        reg.pay_by = now + dt.timedelta(hours=period.payment_hours)
        audit.record(session, "registration.approve", actor=str(actor), target=f"registration:{reg.id}",
                     detail={"pay_by": reg.pay_by.isoformat()})
        done += 1
    session.flush()
    return done


def reject(session: Session, actor, site_id: str, registration_id: int, reason: str) -> Registration:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(N_("Say why the registration is not approved: the candidate reads it to correct it."))
    if len(reason) > 500:
        raise Invalid(N_("The reason is at most 500 characters."))
    reg = for_staff(session, actor, site_id, registration_id)
    if reg.status != "pending_review":
        raise InvalidState(N_("Only a registration waiting for review can be rejected."))
    reg.status, reg.reviewed_at, reg.reviewed_by, reg.reject_reason = "rejected", clock.utcnow_naive(), str(actor), \
        reason
    session.flush()
    audit.record(session, "registration.reject", actor=str(actor), target=f"registration:{reg.id}",
                 detail={"reason": reason})
    return reg


def lapse_unpaid(session: Session) -> int:
    """Approvals whose payment window passed unpaid lapse, and their places go back."""
    now = clock.utcnow_naive()
    lapsed = 0
    for reg in session.scalars(select(Registration).where(Registration.status == "approved",
                                                          Registration.pay_by < now)):
        reg.status = "lapsed"
        for subject in reg.subjects:
            if subject.status == "chosen":
                subject.status = "released"
        audit.record(session, "registration.lapse", actor="sweeper", target=f"registration:{reg.id}",
                     detail={"pay_by": reg.pay_by.isoformat()})
        lapsed += 1
    session.flush()
    return lapsed


def photo_for_staff(session: Session, actor, site_id: str, registration_id: int) -> RegistrationPhoto | None:
    reg = for_staff(session, actor, site_id, registration_id)
    return registrations.photo_of(session, reg)


def confirm_onsite(session: Session, actor, site_id: str, registration_id: int) -> Registration:
    """Record the on-site confirmation (现场确认) of a paid registration, where its period asks
    for one: from then on its candidate joins the exam data and may print the ticket."""
    reg = for_staff(session, actor, site_id, registration_id)
    period = session.get(RegistrationPeriod, reg.period_id)
    if not period.onsite_confirmation:
        raise InvalidState(N_("This registration period asks for no on-site confirmation."))
    if reg.status == "confirmed":
        return reg
    if reg.status != "paid":
        raise InvalidState(N_("Only a paid registration can be confirmed on site."))
    reg.status, reg.confirmed_at = "confirmed", clock.utcnow_naive()
    session.flush()
    audit.record(session, "registration.confirm_onsite", actor=str(actor), target=f"registration:{reg.id}")
    return reg
