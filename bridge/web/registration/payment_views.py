"""Paying for a registration, the candidate's side and the provider's (R5): **Pay** opens the
order and sends the candidate to the provider; the provider's signed notification confirms
the payment (``notify``, answered ``success``); the return only brings the candidate back;
"I have paid, refresh" asks the provider. HTTP only (``bridge.services.registration.payments``)."""
from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge.errors import DomainError
from bridge.extensions import db, transaction
from bridge.payments import configured_provider
from bridge.services.registration import payments
from bridge.web.auth import current_user
from bridge.web.registration.views import _registration

log = logging.getLogger(__name__)


def _paying(period_id: int):
    """(registration, provider, None), or (None, None, the answer) when the person may not
    pay here or payment is not set up."""
    _user, reg, away = _registration(period_id)
    if away:
        return None, None, away
    provider = configured_provider(current_app, request.host_url)
    if provider is None:
        flash(_("Payment is not set up yet; the site will tell you when you can pay."), "error")
        return None, None, redirect(url_for("registration.period", period_id=period_id))
    return reg, provider, None


def pay(period_id: int):
    reg, provider, away = _paying(period_id)
    if away:
        return away
    try:
        with transaction() as s:
            order = payments.open_order(s, s.merge(reg), provider=provider.name)
            out_trade_no, amount = order.out_trade_no, payments.amount_text(order.amount_cents)
            subject = f"{reg.period.name} · {reg.name}"[:120]
    except DomainError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("registration.period", period_id=period_id))
    try:
        checkout = provider.checkout(out_trade_no=out_trade_no, amount=amount, subject=subject,
                                     return_url=url_for("registration.payment_return", _external=True),
                                     notify_url=url_for("registration.payment_notify", _external=True))
    except OSError as exc:
        log.warning("payment order %s not taken by the provider: %s", out_trade_no, exc)
        flash(_("The payment service cannot be reached just now. Try again in a few minutes."), "error")
        return redirect(url_for("registration.period", period_id=period_id))
    if checkout.kind == "redirect":
        return redirect(checkout.target)
    from bridge.exports import qr

    return render_template("registration/pay_scan.html", user=current_user(), reg=reg, period=reg.period, amount=amount,
                           code_uri=qr.svg_data_uri(checkout.target), code_url=checkout.target)


def refresh(period_id: int):
    """"I have paid, refresh": ask the provider about each open order of the registration."""
    reg, provider, away = _paying(period_id)
    if away:
        return away
    outcome = None
    for order in payments.open_orders(db.session, reg):
        try:
            trade = provider.query(order.out_trade_no)
        except OSError as exc:
            log.warning("payment query for %s failed: %s", order.out_trade_no, exc)
            flash(_("The payment service cannot be reached just now. Try again in a few minutes."), "error")
            return redirect(url_for("registration.period", period_id=period_id))
        if trade is None:
            continue
        try:
            with transaction() as s:
                outcome = payments.apply(s, payments.Notice(app_id=trade.app_id, out_trade_no=trade.out_trade_no,
                                                            total_amount=trade.total_amount,
                                                            trade_status=trade.trade_status, trade_no=trade.trade_no),
                                         app_id=provider.app_id, source=f"query:{provider.name}")
        except payments.PaymentRefused:
            outcome = None
    if outcome == "held":
        flash(_("A payment arrived for an earlier order whose fees no longer match your subjects: the site will "
                "refund it. Pay the fees shown now."), "error")
    else:
        flash(_("Payment received: your registration is paid.") if outcome in ("paid", "duplicate")
              else _("No payment found yet. If you have just paid, wait a minute and refresh again."))
    return redirect(url_for("registration.period", period_id=period_id))


def notify():
    """The provider's asynchronous notification: answered as the provider expects (Alipay's
    ``success``, WeChat Pay's 200) once it is applied (or was already); refused for anything
    that is not a signed notice about an order of ours."""
    provider = configured_provider(current_app, request.host_url)
    if provider is None:
        return "failure", 400, {"Content-Type": "text/plain"}
    form = request.form.to_dict()
    trade = provider.read_notification(headers=request.headers, body=request.get_data(), form=form)
    if trade is None:
        log.warning("payment notification refused: the signature does not hold")
        return provider.answer(False)
    notice = payments.Notice(app_id=trade.app_id, out_trade_no=trade.out_trade_no, total_amount=trade.total_amount,
                             trade_status=trade.trade_status, trade_no=trade.trade_no)
    try:
        with transaction() as s:
            payments.apply(s, notice, app_id=provider.app_id, source=f"notify:{provider.name}")
    except payments.PaymentRefused as exc:
        log.warning("payment notification refused: %s", exc.detail)
        return provider.answer(False)
    return provider.answer(True)


def payment_return():
    """Back from the provider: nothing changes here (only a notification or a query pays);
    the candidate is taken to their registration."""
    provider = configured_provider(current_app, request.host_url)
    data = provider.verify(request.args.to_dict()) if provider is not None else None
    if data is not None:
        try:
            order = payments.get_order(db.session, data.get("out_trade_no", ""))
            flash(_("Payment received: your registration is paid.") if order.status == "paid" else
                  _("Thank you. The payment shows here as soon as the payment service confirms it."))
            return redirect(url_for("registration.period", period_id=order.registration.period_id))
        except DomainError:
            pass
    return redirect(url_for("registration.home"))
