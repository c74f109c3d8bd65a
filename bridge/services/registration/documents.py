"""The registration form (报名登记表, R6; seed 003 §2.6 "打印下载报名登记表"): the candidate's
record of what they registered, printable once the fees are paid and within the period's
print window for it (no window set: any time after payment)."""
from __future__ import annotations

import base64
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import InvalidState
from bridge.i18n import N_
from bridge.models.registration import Registration, RegistrationPeriod
from bridge.models.venues import Site
from bridge.services.registration import registrations


def check_form_printable(session: Session, reg: Registration) -> None:
    if reg.status not in ("paid", "confirmed"):
        raise InvalidState(N_("The registration form is ready once the fees are paid."))
    period = session.get(RegistrationPeriod, reg.period_id)
    now = clock.utcnow_naive()
    if period.form_print_from is not None and now < period.form_print_from:
        raise InvalidState(N_("The registration form cannot be printed yet: its print window has not opened."))
    if period.form_print_until is not None and now > period.form_print_until:
        raise InvalidState(N_("The print window of the registration form has closed."))


@dataclass(frozen=True)
class RegistrationForm:
    registration: Registration
    period: RegistrationPeriod
    site: Site | None
    subjects: list[tuple[str, int]]  # (title, fee in cents)
    photo_uri: str  # the photo as a data: address (the PDF renderer fetches nothing)
    printed_at: object


def registration_form(session: Session, reg: Registration) -> RegistrationForm:
    check_form_printable(session, reg)
    photo = registrations.photo_of(session, reg)
    uri = "data:image/jpeg;base64," + base64.b64encode(photo.jpeg).decode() if photo is not None else ""
    return RegistrationForm(registration=reg, period=session.get(RegistrationPeriod, reg.period_id),
                            site=session.get(Site, reg.site_id) if reg.site_id else None,
                            subjects=[(s.offer.exam.title, s.offer.fee_cents) for s in reg.subjects
                                      if s.status == "paid"],
                            photo_uri=uri, printed_at=clock.utcnow_naive())
