"""A registered candidate signs in to the exam with admission number and ID number (R6, C1),
as the seeds' candidates do at the exam PC: both must name the same person of the built
exam data. Failures count per admission number and per address, as the exam code's do
(``bridge.services.delivery.attempts.enter_by_code``); over a limit the answer is "too many
tries" whatever was typed, so neither can be guessed at speed."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import NotFound
from bridge.i18n import N_
from bridge.models.papers import SessionCandidate
from bridge.models.registration import Registration
from bridge.services.delivery.attempts import TooManyTries
from bridge.services.people import throttle
from bridge.services.registration import identity

WINDOW = dt.timedelta(minutes=15)
LIMITS = {"number": 5, "address": 20}  # failures per window


def sign_in(session: Session, admission_number: str, id_number: str, *, secret: str,
            address: str) -> SessionCandidate:
    """The candidate (of the built exam data) whose admission number and ID number these are."""
    number = "".join((admission_number or "").split()).upper()[:100]
    keys = {"number": f"admission:{number}", "address": f"admission-address:{address}"}
    for kind, key in keys.items():
        if throttle.blocked(session, key, limit=LIMITS[kind], window=WINDOW):
            raise TooManyTries(N_("Too many wrong tries. Wait a quarter of an hour, or ask the proctor."))
    found = None
    if number and identity.normalize(id_number):
        digest_key, _ = identity.derive_keys(secret)
        digest = identity.id_digest(id_number, digest_key)
        found = session.scalars(
            select(SessionCandidate)
            .join(Registration, Registration.user_id == SessionCandidate.user_id)
            .where(SessionCandidate.admission_number == number, Registration.id_digest == digest,
                   Registration.status.in_(("paid", "confirmed")))).first()
    if found is None:
        for key in keys.values():
            throttle.fail(session, key, window=WINDOW)
        raise NotFound(N_("No candidate has that admission number with that ID number. Check both against your "
                          "admission ticket."))
    return found
