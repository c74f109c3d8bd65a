"""A registered candidate signs in to the exam with admission number and ID number (R6, C1),
as the seeds' candidates do at the exam PC: both must name the same person of the built
exam data. Failures count per admission number and address, per admission number and per address, as
the exam code's do (``bridge.services.delivery.attempts.enter_by_code``); over a limit the
answer is "too many tries" whatever was typed, so neither can be guessed at speed."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import NotFound
from bridge.i18n import N_
from bridge.models.papers import ExamSession, SessionCandidate
from bridge.models.registration import Registration
from bridge.services.delivery.attempts import TooManyTries
from bridge.services.people import throttle
from bridge.services.registration import identity

WINDOW = dt.timedelta(minutes=15)
# failures per window: one number from one address (a typo stays a typo); one number from
# anywhere, high enough that typing wrong numbers at someone else's cannot lock them out for
# long; one address (a room's PCs may share it behind NAT)
LIMITS = {"number_address": 5, "number": 30, "address": 60}


def sign_in(session: Session, admission_number: str, id_number: str, *, secret: str,
            address: str) -> SessionCandidate:
    """The candidate (of the built exam data) whose admission number and ID number these are.
    A person with two subjects may hold the same number in both exams: the exam whose
    session is nearest in time is the one they are signing in to."""
    number = "".join((admission_number or "").split()).upper()[:100]
    keys = {"number_address": f"admission:{number}@{address}", "number": f"admission:{number}",
            "address": f"admission-address:{address}"}
    for kind, key in keys.items():
        if throttle.blocked(session, key, limit=LIMITS[kind], window=WINDOW):
            raise TooManyTries(N_("Too many wrong tries. Wait a quarter of an hour, or ask the proctor."))
    seats: list[SessionCandidate] = []
    if number and identity.normalize(id_number):
        digest_key, _ = identity.derive_keys(secret)
        digest = identity.id_digest(id_number, digest_key)
        seats = list(session.scalars(
            select(SessionCandidate)
            .join(Registration, Registration.user_id == SessionCandidate.user_id)
            .where(SessionCandidate.admission_number == number, Registration.id_digest == digest,
                   Registration.status.in_(("paid", "confirmed")))).unique())
    if not seats:
        for key in keys.values():
            throttle.fail(session, key, window=WINDOW)
        raise NotFound(N_("No candidate has that admission number with that ID number. Check both against your "
                          "admission ticket."))
    throttle.clear(session, keys["number_address"])
    now = clock.utcnow_naive()
    starts = {s.id: session.get(ExamSession, s.session_id).starts_at for s in seats}
    return min(seats, key=lambda s: abs((starts[s.id] - now).total_seconds()))
