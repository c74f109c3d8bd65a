"""Paying for a registration (R5; seed 003 §2.6 网上支付): one order per registration for the
fees of its subjects, paid through a provider (``bridge.payments``: Alipay, or the sandbox
that speaks its protocol), and confirmed only by what the provider signs: its asynchronous
notification, or the answer to a query when the candidate says "I have paid, refresh".

A notification counts only if it names an order of ours, our app id and the order's exact
amount, with a paid state; the same notification twice is one payment, and a late "waiting"
or "closed" after a payment changes nothing. A payment moves the registration to ``paid``:
its data, subjects and photo are locked from then on."""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.registration import PaymentOrder, Registration, RegistrationPeriod
from bridge.services import audit
from bridge.services.registration import registrations

PAID_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")


def fees(reg: Registration) -> int:
    """The registration's fees in cents: one per chosen subject."""
    return sum(s.offer.fee_cents for s in reg.subjects if s.status in ("chosen", "paid"))


def check_payable(session: Session, reg: Registration) -> None:
    if reg.status == "paid" or reg.status == "confirmed":
        raise InvalidState(N_("This registration is paid already."))
    if reg.status == "approved":
        if reg.pay_by is not None and clock.utcnow_naive() >= reg.pay_by:
            raise InvalidState(N_("The payment window has passed: the registration lapsed."))
        return
    if reg.status == "submitted" and not registrations.site_reviews(session, reg):
        if not registrations.has_photo(session, reg):
            raise InvalidState(N_("Upload your photo before paying."))
        period = session.get(RegistrationPeriod, reg.period_id)
        if clock.utcnow_naive() >= period.closes_at:
            raise InvalidState(N_("Registration for this period has closed."))
        return
    if reg.status in ("submitted", "pending_review", "rejected"):
        raise InvalidState(N_("The site reviews registrations: pay once it approves yours."))
    raise InvalidState(N_("Submit the registration before paying."))


def open_order(session: Session, reg: Registration, *, provider: str) -> PaymentOrder:
    """The registration's open order for its current fees (made anew if the fees changed)."""
    check_payable(session, reg)
    amount = fees(reg)
    if amount <= 0:
        raise InvalidState(N_("There is nothing to pay for this registration."))
    order = session.scalars(select(PaymentOrder).where(PaymentOrder.registration_id == reg.id,
                                                       PaymentOrder.status == "open")).first()
    if order is not None and (order.amount_cents != amount or order.provider != provider):
        order.status = "closed"
        order = None
    if order is None:
        order = PaymentOrder(registration_id=reg.id, out_trade_no=f"EB{reg.id:08d}{secrets.token_hex(6).upper()}",
                             amount_cents=amount, provider=provider, status="open")
        session.add(order)
        session.flush()
        audit.record(session, "payment.order", actor=f"user:{reg.user_id}", target=f"registration:{reg.id}",
                     detail={"order": order.out_trade_no, "amount_cents": amount, "provider": provider})
    return order


def amount_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Notice:
    """What a provider signed about a trade (already verified by the provider adapter)."""

    app_id: str
    out_trade_no: str
    total_amount: str
    trade_status: str
    trade_no: str = ""


class PaymentRefused(Invalid):
    """A notification or query answer that cannot count as a payment (logged and refused)."""


def apply(session: Session, notice: Notice, *, app_id: str, source: str) -> str:
    """Apply a provider's signed word about a trade: ``paid``, ``duplicate`` (already paid:
    nothing changes), ``held`` (money for an order that no longer matches the registration's
    fees: kept for a refund, nothing marked paid) or ``ignored`` (not a paid state). Refused (PaymentRefused) when it is
    not about an order of ours, for our app, at the order's amount."""
    order = session.scalars(select(PaymentOrder).where(PaymentOrder.out_trade_no == notice.out_trade_no)).first()
    if order is None:
        _refuse(session, notice, source, "unknown order")
    if notice.app_id != app_id:
        _refuse(session, notice, source, "foreign app id")
    try:
        amount = Decimal(notice.total_amount)
    except (InvalidOperation, TypeError):
        amount = None
    if amount is None or amount * 100 != order.amount_cents:
        _refuse(session, notice, source, "wrong amount")
    if notice.trade_status not in PAID_STATES:
        return "ignored"  # waiting or closed: a payment already made stays made
    if order.status == "paid":
        order.notifications += 1
        return "duplicate"
    now = clock.utcnow_naive()
    replaced = order.status == "closed"  # an order the candidate replaced (the subjects changed since)
    order.status, order.trade_no, order.paid_at = "paid", notice.trade_no[:64], now
    order.notifications += 1
    reg = session.get(Registration, order.registration_id)
    if reg.status == "lapsed":
        # money for places already released: kept as paid for the site to refund or restore
        audit.record(session, "payment.after_lapse", actor=source, target=f"registration:{reg.id}",
                     detail={"order": order.out_trade_no})
    elif replaced or order.amount_cents != fees(reg) or reg.status in ("paid", "confirmed"):
        # money that does not pay for what is chosen now (an old order, paid after the subjects
        # changed, or a second order): kept as paid for the site to refund; the subjects stay unpaid
        audit.record(session, "payment.mismatch", actor=source, target=f"registration:{reg.id}",
                     detail={"order": order.out_trade_no, "paid_cents": order.amount_cents, "fees_cents": fees(reg)})
        session.flush()
        return "held"
    else:
        reg.status = "paid"
        for subject in reg.subjects:
            if subject.status == "chosen":
                subject.status, subject.paid_at = "paid", now
    session.flush()
    audit.record(session, "payment.paid", actor=source, target=f"registration:{reg.id}",
                 detail={"order": order.out_trade_no, "trade_no": order.trade_no, "amount": notice.total_amount})
    return "paid"


def _refuse(session: Session, notice: Notice, source: str, why: str):
    audit.record(session, "payment.refused", actor=source, target=f"order:{notice.out_trade_no[:64]}",
                 outcome="refused", detail={"why": why, "amount": notice.total_amount, "app_id": notice.app_id})
    raise PaymentRefused(N_("This payment notice does not match an order of ours."), detail=why)


def open_orders(session: Session, reg: Registration) -> list[PaymentOrder]:
    return list(session.scalars(select(PaymentOrder).where(PaymentOrder.registration_id == reg.id,
                                                           PaymentOrder.status == "open")))


def orders_on(session: Session, day: dt.date) -> list[PaymentOrder]:
    """The orders made or paid on ``day`` (UTC), for the daily reconciliation."""
    start = dt.datetime.combine(day, dt.time())
    end = start + dt.timedelta(days=1)
    rows = session.scalars(select(PaymentOrder).where(
        ((PaymentOrder.created_at >= start) & (PaymentOrder.created_at < end))
        | ((PaymentOrder.paid_at >= start) & (PaymentOrder.paid_at < end))).order_by(PaymentOrder.id))
    return list(rows)


def get_order(session: Session, out_trade_no: str) -> PaymentOrder:
    order = session.scalars(select(PaymentOrder).where(PaymentOrder.out_trade_no == out_trade_no)).first()
    if order is None:
        raise NotFound(N_("No such payment order."))
    return order



RECONCILE_HEADER = ["out_trade_no", "registration", "candidate", "amount", "status", "paid_at", "trade_no",
                    "provider_status", "provider_amount", "match"]


def reconcile(session: Session, day: dt.date, query) -> list[list]:
    """The daily reconciliation: each order made or paid on ``day`` beside what the provider
    says of it (``query(out_trade_no)``: a trade with ``trade_status`` and ``total_amount``,
    None for none, OSError when unreachable). ``match`` is ``yes`` when both agree (paid and
    paid at the same amount, or open and not paid there), else ``NO`` or ``unknown``."""
    rows = [RECONCILE_HEADER]
    for order in orders_on(session, day):
        reg = session.get(Registration, order.registration_id)
        try:
            trade = query(order.out_trade_no)
        except OSError:
            trade, status, amount, match = None, "unreachable", "", "unknown"
        else:
            status = trade.trade_status if trade is not None else "none"
            amount = trade.total_amount if trade is not None else ""
            paid_there = status in PAID_STATES
            match = "yes" if (paid_there == (order.status == "paid")
                              and (not paid_there or amount == amount_text(order.amount_cents))) else "NO"
        rows.append([order.out_trade_no, reg.id, reg.name, amount_text(order.amount_cents), order.status,
                     order.paid_at.isoformat(sep=" ", timespec="seconds") if order.paid_at else "",
                     order.trade_no, status, amount, match])
    return rows
