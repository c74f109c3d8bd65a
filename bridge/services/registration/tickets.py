"""The admission ticket (准考证, R6; seed 003 §2.8 "打印准考证"): once the fees are paid (and
the registration confirmed on site where the period asks for it) and the site has built the
exam data (V4: admission number, room, seat), one page per subject within the period's
print window for tickets.

Each page carries a QR code of the site's verification page for this registration: a
signed token (itsdangerous, its own salt), not a guessable number, that site staff scan to
see the photo and the status, and to record the on-site confirmation there
(``bridge.services.registration.review.verify`` and ``confirm_onsite``)."""
from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from bridge import clock, timezones
from bridge.errors import InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.devices import Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession
from bridge.models.registration import Registration, RegistrationPeriod
from bridge.models.venues import Site
from bridge.services.registration import enrolment, registrations

_SALT = "exambridge.admission-ticket"


def token(secret: str, reg: Registration) -> str:
    return URLSafeSerializer(secret, salt=_SALT).dumps(reg.id)


def registration_id_of(secret: str, value: str) -> int:
    """The registration a scanned token names; NotFound for anything not signed by us."""
    try:
        reg_id = URLSafeSerializer(secret, salt=_SALT).loads(value or "")
    except BadSignature:
        reg_id = None
    if not isinstance(reg_id, int):
        raise NotFound(N_("This code is not an admission ticket of ours: it may be copied or damaged."))
    return reg_id


@dataclass(frozen=True)
class TicketPage:
    subject: str
    admission_number: str
    session_name: str
    starts_at: dt.datetime
    duration_minutes: int
    room_code: str
    room_name: str
    seat: int


@dataclass(frozen=True)
class AdmissionTicket:
    registration: Registration
    period: RegistrationPeriod
    site: Site
    pages: list[TicketPage]
    photo_uri: str  # a data: address (the PDF renderer fetches nothing)
    token: str
    printed_at: dt.datetime


def pages(session: Session, reg: Registration) -> list[TicketPage]:
    """A page per paid subject the exam data has placed (admission number, room, seat)."""
    out = []
    for subject, seat in enrolment.placements(session, reg):
        if seat is None or not seat.admission_number or seat.room_id is None:
            continue
        sess = session.get(ExamSession, seat.session_id)
        exam = session.get(Exam, seat.exam_id)
        room = session.get(Room, seat.room_id)
        out.append(TicketPage(subject=exam.title, admission_number=seat.admission_number, session_name=sess.name,
                              starts_at=sess.starts_at, duration_minutes=exam.duration_minutes,
                              room_code=room.code, room_name=room.name, seat=seat.seat_number))
    return sorted(out, key=lambda p: p.starts_at)


def check_printable(session: Session, reg: Registration) -> list[TicketPage]:
    period = session.get(RegistrationPeriod, reg.period_id)
    if reg.status not in ("paid", "confirmed"):
        raise InvalidState(N_("The admission ticket is ready once the fees are paid."))
    if period.onsite_confirmation and reg.status != "confirmed":
        raise InvalidState(N_("The admission ticket is ready once the site has confirmed your registration on "
                              "site: bring your ID document and registration form there."))
    now = clock.utcnow_naive()
    if period.ticket_print_from is not None and now < period.ticket_print_from:
        raise InvalidState(N_("The admission ticket can be printed from %(at)s."),
                           params={"at": timezones.format_local(period.ticket_print_from)})
    if period.ticket_print_until is not None and now > period.ticket_print_until:
        raise InvalidState(N_("The print window of the admission ticket has closed."))
    found = pages(session, reg)
    if not found:
        raise InvalidState(N_("The admission ticket is ready once the site has built the exam data: your "
                              "admission number, room and seat."))
    return found


def admission_ticket(session: Session, reg: Registration, *, secret: str) -> AdmissionTicket:
    found = check_printable(session, reg)
    photo = registrations.photo_of(session, reg)
    uri = "data:image/jpeg;base64," + base64.b64encode(photo.jpeg).decode() if photo is not None else ""
    return AdmissionTicket(registration=reg, period=session.get(RegistrationPeriod, reg.period_id),
                           site=session.get(Site, reg.site_id), pages=found, photo_uri=uri,
                           token=token(secret, reg), printed_at=clock.utcnow_naive())
