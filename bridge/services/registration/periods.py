"""Registration periods (考次): their window, the sites taking part and the subjects each site
offers with a capacity and a fee (R2). An admin opens them (admin pages, ``exambridge
registration``); candidates see the periods open now and what each site offers, with the
places left."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Invalid, NotFound
from bridge.i18n import N_
from bridge.models.exams import Exam
from bridge.models.registration import Offer, PeriodSite, Registration, RegistrationPeriod, RegistrationSubject
from bridge.models.venues import Site
from bridge.services import audit

#: subject states that hold a place
HOLDS_PLACE = ("chosen", "paid")


def create_period(session: Session, *, name: str, opens_at: dt.datetime, closes_at: dt.datetime,
                  subject_limit: int = 3, onsite_confirmation: bool = False, payment_hours: int = 24,
                  agreement: str = "", actor: str) -> RegistrationPeriod:
    name = (name or "").strip()
    if not name:
        raise Invalid(N_("Give the registration period a name (e.g. 'March 2027 sitting')."))
    if not (isinstance(opens_at, dt.datetime) and isinstance(closes_at, dt.datetime)) or closes_at <= opens_at:
        raise Invalid(N_("The registration window must close after it opens."))
    if not 1 <= int(subject_limit) <= 20:
        raise Invalid(N_("The subject limit per person must be between 1 and 20."))
    if not 1 <= int(payment_hours) <= 24 * 14:
        raise Invalid(N_("The payment window after approval must be between 1 hour and 14 days."))
    period = RegistrationPeriod(name=name[:200], opens_at=opens_at.replace(tzinfo=None),
                                closes_at=closes_at.replace(tzinfo=None), subject_limit=int(subject_limit),
                                onsite_confirmation=bool(onsite_confirmation), payment_hours=int(payment_hours),
                                agreement=(agreement or "").strip())
    session.add(period)
    session.flush()
    audit.record(session, "registration.period_create", actor=actor, target=f"period:{period.id}",
                 detail={"name": period.name, "opens_at": period.opens_at.isoformat(),
                         "closes_at": period.closes_at.isoformat(), "subject_limit": period.subject_limit})
    return period


def set_print_windows(session: Session, period: RegistrationPeriod, *, form: tuple | None = None,
                      ticket: tuple | None = None, actor: str) -> None:
    """The windows in which the registration form and the admission ticket may be printed."""
    for which, window in (("form", form), ("ticket", ticket)):
        if window is None:
            continue
        start, end = window
        if start is not None and end is not None and end <= start:
            raise Invalid(N_("A print window must end after it starts."))
        setattr(period, f"{which}_print_from", start)
        setattr(period, f"{which}_print_until", end)
    session.flush()
    audit.record(session, "registration.print_windows", actor=actor, target=f"period:{period.id}",
                 detail={"form": [str(v) for v in form or ()], "ticket": [str(v) for v in ticket or ()]})


def get_period(session: Session, period_id: int) -> RegistrationPeriod:
    period = session.get(RegistrationPeriod, period_id)
    if period is None:
        raise NotFound(N_("That registration period does not exist."))
    return period


def all_periods(session: Session) -> list[RegistrationPeriod]:
    return list(session.scalars(select(RegistrationPeriod).order_by(RegistrationPeriod.opens_at.desc())))


def open_periods(session: Session) -> list[RegistrationPeriod]:
    now = clock.utcnow_naive()
    return list(session.scalars(select(RegistrationPeriod).where(RegistrationPeriod.opens_at <= now,
                                                                 RegistrationPeriod.closes_at > now)
                                .order_by(RegistrationPeriod.closes_at)))


def is_open(period: RegistrationPeriod) -> bool:
    return period.opens_at <= clock.utcnow_naive() < period.closes_at


def add_site(session: Session, period: RegistrationPeriod, site_code: str, *, reviews: bool,
             actor: str) -> PeriodSite:
    site = session.scalars(select(Site).where(Site.code == (site_code or "").strip())).first()
    if site is None:
        raise NotFound(N_("There is no site with the code %(code)s."), params={"code": site_code})
    row = session.scalars(select(PeriodSite).where(PeriodSite.period_id == period.id,
                                                   PeriodSite.site_id == site.id)).first()
    if row is None:
        row = PeriodSite(period_id=period.id, site_id=site.id)
        period.sites.append(row)  # through the collection: a period already loaded sees it
    row.reviews = bool(reviews)
    session.flush()
    audit.record(session, "registration.period_site", actor=actor, target=f"period:{period.id}",
                 detail={"site": site.code, "reviews": row.reviews})
    return row


def add_offer(session: Session, period: RegistrationPeriod, site_code: str, exam_id: int, *, capacity: int,
              fee_cents: int, actor: str) -> Offer:
    site = session.scalars(select(Site).where(Site.code == (site_code or "").strip())).first()
    if site is None or site.id not in {s.site_id for s in period.sites}:
        raise Invalid(N_("Add the site %(code)s to the period before offering subjects there."),
                      params={"code": site_code})
    if session.get(Exam, exam_id) is None:
        raise NotFound(N_("That exam does not exist."))
    if not 1 <= int(capacity) <= 100_000:
        raise Invalid(N_("The capacity must be a whole number from 1 to 100000."))
    if not 0 <= int(fee_cents) <= 10_000_000:
        raise Invalid(N_("The fee must be between 0 and 100000.00."))
    offer = session.scalars(select(Offer).where(Offer.period_id == period.id, Offer.site_id == site.id,
                                                Offer.exam_id == exam_id)).first()
    if offer is None:
        offer = Offer(period_id=period.id, site_id=site.id, exam_id=exam_id)
        period.offers.append(offer)
    elif int(capacity) < taken(session, [offer.id]).get(offer.id, 0):
        raise Conflict(N_("More candidates have already chosen this subject than the new capacity."))
    offer.capacity, offer.fee_cents = int(capacity), int(fee_cents)
    session.flush()
    audit.record(session, "registration.offer", actor=actor, target=f"period:{period.id}",
                 detail={"site": site.code, "exam": exam_id, "capacity": offer.capacity, "fee_cents": offer.fee_cents})
    return offer


def taken(session: Session, offer_ids: list[int]) -> dict[int, int]:
    """Places held per offer (chosen or paid, by registrations that have not lapsed)."""
    if not offer_ids:
        return {}
    rows = session.execute(select(RegistrationSubject.offer_id, func.count())
                           .join(Registration, Registration.id == RegistrationSubject.registration_id)
                           .where(RegistrationSubject.offer_id.in_(offer_ids),
                                  RegistrationSubject.status.in_(HOLDS_PLACE), Registration.status != "lapsed")
                           .group_by(RegistrationSubject.offer_id))
    return dict(rows.all())


@dataclass(frozen=True)
class OfferView:
    offer: Offer
    title: str
    fee_cents: int
    places_left: int


def offers_at(session: Session, period: RegistrationPeriod, site_id: str) -> list[OfferView]:
    offers = [o for o in period.offers if o.site_id == site_id]
    held = taken(session, [o.id for o in offers])
    return [OfferView(o, o.exam.title, o.fee_cents, max(0, o.capacity - held.get(o.id, 0))) for o in offers]


def sites_of(session: Session, period: RegistrationPeriod) -> list[tuple[PeriodSite, Site]]:
    sites = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_([p.site_id for p in period.sites])))}
    return [(p, sites[p.site_id]) for p in period.sites if p.site_id in sites]


def fee_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def offerable_exams(session: Session) -> list[Exam]:
    """Every exam, by title: a subject of a period is an exam of some course."""
    return list(session.scalars(select(Exam).order_by(Exam.title, Exam.id)))
