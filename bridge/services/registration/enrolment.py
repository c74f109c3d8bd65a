"""Registered candidates into the exam (R6 → V4): a registration whose subject is paid (and,
where the period asks for it, confirmed on site) makes its person a candidate of that
subject's exam at the registration's site. When a room's exam data is built
(``bridge.services.venue.exam_data.build``), the registered candidates of the site not yet
in a session of the exam join the session being built, next to its LMS learners, and get
their admission numbers, rooms and seats with them."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.models.papers import ExamSession, SessionCandidate
from bridge.models.registration import Offer, Registration, RegistrationPeriod, RegistrationSubject
from bridge.services import audit


def ready(session: Session, site_id: str, exam_id: int) -> list[Registration]:
    """The registrations at ``site_id`` whose subject ``exam_id`` is paid, confirmed on site
    where their period asks for it; oldest first (the order they join the roster in)."""
    rows = session.execute(
        select(Registration, RegistrationPeriod.onsite_confirmation)
        .join(RegistrationSubject, RegistrationSubject.registration_id == Registration.id)
        .join(Offer, Offer.id == RegistrationSubject.offer_id)
        .join(RegistrationPeriod, RegistrationPeriod.id == Registration.period_id)
        .where(Registration.site_id == site_id, Offer.site_id == site_id, Offer.exam_id == exam_id,
               RegistrationSubject.status == "paid", Registration.status.in_(("paid", "confirmed")))
        .order_by(Registration.submitted_at, Registration.id))
    return [reg for reg, onsite in rows if not onsite or reg.status == "confirmed"]


def enrol(session: Session, sess: ExamSession, site_id: str, *, actor: str = "") -> int:
    """Make each ready registration's person a candidate of ``sess``, unless they are a
    candidate of the exam already (an LMS learner who registered too, or placed in another
    session); returns how many joined."""
    regs = ready(session, site_id, sess.exam_id)
    if not regs:
        return 0
    placed = set(session.scalars(select(SessionCandidate.user_id).where(
        SessionCandidate.exam_id == sess.exam_id, SessionCandidate.user_id.in_([r.user_id for r in regs]))))
    # one person may hold a paid registration for the exam in two periods: they join once
    joined = list({r.user_id: r for r in reversed(regs) if r.user_id not in placed}.values())[::-1]
    for reg in joined:
        session.add(SessionCandidate(session_id=sess.id, user_id=reg.user_id, exam_id=sess.exam_id))
    if joined:
        session.flush()
        audit.record(session, "registration.enrol", actor=actor, target=f"session:{sess.id}",
                     detail={"site": site_id, "registrations": [r.id for r in joined]})
    return len(joined)


def placements(session: Session, reg: Registration) -> list[tuple[RegistrationSubject, SessionCandidate | None]]:
    """Each paid subject of ``reg`` with where the exam data placed its person (None: not yet)."""
    out = []
    for subject in reg.subjects:
        if subject.status != "paid":
            continue
        seat = session.scalars(select(SessionCandidate).where(SessionCandidate.exam_id == subject.offer.exam_id,
                                                              SessionCandidate.user_id == reg.user_id)).first()
        out.append((subject, seat))
    return out
