"""Registration periods, the admin's pages: open a period, add the sites taking part and
the subjects each offers. HTTP only (``bridge.services.registration.periods``)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge import timezones
from bridge.errors import DomainError, Invalid
from bridge.extensions import db, transaction
from bridge.i18n import N_
from bridge.services import audit
from bridge.services.registration import periods
from bridge.services.venue import venues
from bridge.web.admin.views import _require_admin
from bridge.web.auth import current_actor

PERIOD_FIELDS = ("name", "opens_at", "closes_at", "subject_limit", "payment_hours", "agreement")


def registration_periods(form=None, error=None, status=200):
    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    rows = periods.all_periods(db.session)
    return render_template("admin/registration.html", user=user, periods=rows, form=form or {}, error=error,
                           sites=venues.list_sites(db.session), exams=periods.offerable_exams(db.session),
                           site_names={p.id: dict((ps.site_id, s) for ps, s in periods.sites_of(db.session, p))
                                       for p in rows},
                           taken={p.id: periods.taken(db.session, [o.id for o in p.offers]) for p in rows},
                           fee_text=periods.fee_text), status


def _when(raw: str, label: str):
    try:
        return timezones.parse_local_input(raw)
    except ValueError:
        raise Invalid(N_("%(field)s is a date and time like 2027-03-01 09:00."), params={"field": label}) from None


def _whole(raw: str, message: str) -> int:
    if not raw.strip().isdigit():
        raise Invalid(message)
    return int(raw)


def create_period():
    if _require_admin() is None:
        return redirect(url_for("admin.login"))
    form = {k: request.form.get(k, "").strip() for k in PERIOD_FIELDS}
    try:
        values = dict(name=form["name"], opens_at=_when(form["opens_at"], _("Opens")),
                      closes_at=_when(form["closes_at"], _("Closes")),
                      subject_limit=_whole(form["subject_limit"] or "3",
                                           N_("The subject limit per person must be between 1 and 20.")),
                      payment_hours=_whole(form["payment_hours"] or "24",
                                           N_("The payment window after approval must be between 1 hour and 14 days.")),
                      onsite_confirmation=request.form.get("onsite_confirmation") == "1", agreement=form["agreement"])
        with transaction() as s:
            period = periods.create_period(s, actor=current_actor(), **values)
            name = period.name
    except DomainError as exc:
        return registration_periods(form=form, error=exc.translated(), status=exc.http_status)
    flash(_("Registration period %(name)s opened. Add the sites taking part and their subjects.", name=name))
    return redirect(url_for("admin.registration_periods"))


def add_site(period_id: int):
    if _require_admin() is None:
        return redirect(url_for("admin.login"))
    try:
        with transaction() as s:
            periods.add_site(s, periods.get_period(s, period_id), request.form.get("site", ""),
                             reviews=request.form.get("reviews") == "1", actor=current_actor())
    except DomainError as exc:
        return registration_periods(error=exc.translated(), status=exc.http_status)
    flash(_("Site added to the period."))
    return redirect(url_for("admin.registration_periods") + f"#period-{period_id}")


def add_offer(period_id: int):
    if _require_admin() is None:
        return redirect(url_for("admin.login"))
    try:
        try:
            fee = Decimal(request.form.get("fee", "0").strip() or "0")
        except InvalidOperation:
            raise Invalid(N_("The fee is an amount like 80 or 80.50.")) from None
        if fee != fee.quantize(Decimal("0.01")):
            raise Invalid(N_("The fee is an amount like 80 or 80.50."))
        exam = request.form.get("exam", "")
        with transaction() as s:
            periods.add_offer(s, periods.get_period(s, period_id), request.form.get("site", ""),
                              _whole(exam, N_("Choose the exam to offer.")),
                              capacity=_whole(request.form.get("capacity", ""),
                                              N_("The capacity must be a whole number from 1 to 100000.")),
                              fee_cents=int(fee * 100), actor=current_actor())
    except DomainError as exc:
        return registration_periods(error=exc.translated(), status=exc.http_status)
    flash(_("Subject offered."))
    return redirect(url_for("admin.registration_periods") + f"#period-{period_id}")


def reconciliation(fmt: str):
    """The day's payment orders beside the provider's records, as CSV or XLSX (the admin's
    daily reconciliation)."""
    import datetime as dt

    from bridge import clock
    from bridge.exports import csv_export, xlsx
    from bridge.payments import configured_provider
    from bridge.services.registration import payments

    if _require_admin() is None:
        return redirect(url_for("admin.login"))
    raw = request.args.get("day", "")
    try:
        day = dt.date.fromisoformat(raw) if raw else clock.utcnow_naive().date()
    except ValueError:
        return registration_periods(error=_("The day is a date like 2027-03-01."), status=422)
    provider = configured_provider(current_app, request.host_url)
    if provider is None:
        return registration_periods(error=_("No payment provider is set up, so there is nothing to reconcile."),
                                    status=409)
    with transaction() as s:
        rows = payments.reconcile(s, day, provider.query)
        audit.record(s, "payment.reconcile", actor=str(current_actor()), target=f"day:{day.isoformat()}",
                     detail={"orders": len(rows) - 1})
    name = f"payments-{day.isoformat()}.{fmt}"
    if fmt == "xlsx":
        return xlsx.workbook(rows, sheet="payments"), 200, {
            "Content-Type": xlsx.MIME, "Content-Disposition": f'attachment; filename="{name}"'}
    return csv_export.encoded(rows), 200, {
        "Content-Type": f"{csv_export.MIME}; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}"'}
