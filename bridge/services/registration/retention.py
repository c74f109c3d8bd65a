"""The retention of registrations' personal data (R1–R6: personal data handled as
sensitive). A registration is kept while it may still be needed: until its period has
closed and the results of every subject it paid for were released, and then for
``EXAMBRIDGE_REGISTRATION_RETENTION_DAYS`` more (a registration that paid for nothing: that
long after its period closed). Then ``purge`` removes the photo and the personal data (name,
ID number sealed and hashed and masked, birth date, phone, email, address) and marks the
registration purged. The registration row, its subjects and its payment orders stay: the
site's counts and the payment records (which accounting keeps for years) need no person.

``exambridge registration purge`` runs it by hand; the sweeper runs it hourly."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.papers import Paper
from bridge.models.registration import Offer, Registration, RegistrationPeriod, RegistrationPhoto
from bridge.services import audit


def _kept_until(session: Session, reg: Registration, period: RegistrationPeriod,
                keep: dt.timedelta) -> dt.datetime | None:
    """When ``reg`` may be purged; None while a paid subject's results are not released."""
    latest = period.closes_at
    for subject in reg.subjects:
        if subject.status != "paid":
            continue
        exam_id = session.scalar(select(Offer.exam_id).where(Offer.id == subject.offer_id))
        released = session.scalar(select(Paper.scores_released_at).where(Paper.exam_id == exam_id))
        if released is None:
            return None
        latest = max(latest, released)
    return latest + keep


def due(session: Session, *, days: int, now: dt.datetime | None = None) -> list[Registration]:
    """The registrations whose retention is over, not yet purged."""
    now = now or clock.utcnow_naive()
    keep = dt.timedelta(days=days)
    rows = session.execute(select(Registration, RegistrationPeriod)
                           .join(RegistrationPeriod, RegistrationPeriod.id == Registration.period_id)
                           .where(Registration.purged_at.is_(None), RegistrationPeriod.closes_at <= now - keep)
                           .order_by(Registration.id))
    out = []
    for reg, period in rows:
        until = _kept_until(session, reg, period, keep)
        if until is not None and until <= now:
            out.append(reg)
    return out


def purge(session: Session, *, days: int, actor: str = "sweeper", now: dt.datetime | None = None) -> int:
    """Purge every registration ``due``; returns how many."""
    now = now or clock.utcnow_naive()
    regs = due(session, days=days, now=now)
    if not regs:
        return 0
    ids = [r.id for r in regs]
    session.execute(delete(RegistrationPhoto).where(RegistrationPhoto.registration_id.in_(ids)))
    for reg in regs:
        reg.name = reg.gender = reg.id_type = reg.id_sealed = reg.id_digest = reg.id_masked = ""
        reg.phone = reg.email = reg.address = ""
        reg.birth_date, reg.purged_at = None, now
    session.flush()
    audit.record(session, "registration.purge", actor=actor, target="registrations",
                 detail={"registrations": ids, "retention_days": days})
    return len(ids)
