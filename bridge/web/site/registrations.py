"""The site's review of registrations (R4): the queue with photos and data, filters, bulk
approval, rejection with a reason. HTTP only (``bridge.services.registration.review``)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge.errors import DomainError
from bridge.extensions import db, transaction
from bridge.services.registration import enrolment, identity, periods, registrations, review, tickets
from bridge.services.venue import venues
from bridge.web.auth import current_actor
from bridge.web.site.views import _admin


def registrations_page(site_id: str):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    status = request.args.get("status", "pending_review")
    period = request.args.get("period", "")
    try:
        with transaction() as s:  # the read is audited
            rows = review.queue(s, current_actor(), site_id, status=status,
                                period_id=int(period) if period.isdigit() else None)
            rows = [(r.registration.id, r.has_photo, r.duplicate) for r in rows]
    except DomainError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("site.registrations", site_id=site_id))
    regs = [(registrations.get(db.session, rid), has_photo, dup) for rid, has_photo, dup in rows]
    return render_template("site/registrations.html", user=user, site=site, rows=regs, status=status,
                           period=period, periods=periods.all_periods(db.session), filters=review.REVIEW_FILTERS,
                           state_labels=registrations.STATE_LABELS, id_labels=identity.ID_TYPE_LABELS,
                           fee_text=periods.fee_text)


def approve(site_id: str):
    _admin()
    ids = [int(v) for v in request.form.getlist("registration") if v.isdigit()]
    try:
        with transaction() as s:
            n = review.approve(s, current_actor(), site_id, ids)
    except DomainError as exc:
        flash(exc.translated(), "error")
    else:
        flash(_("%(n)d registrations approved: each candidate may now pay within the payment window.", n=n))
    return redirect(url_for("site.registrations", site_id=site_id))


def show(site_id: str, registration_id: int, error=None, status=200, scanned=False):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    with transaction() as s:  # the read is audited
        reg_id = review.for_staff(s, current_actor(), site_id, registration_id).id
    reg = registrations.get(db.session, reg_id)
    return render_template("site/registration.html", user=user, site=site, reg=reg, error=error, scanned=scanned,
                           has_photo=registrations.has_photo(db.session, reg), period=reg.period,
                           placements=enrolment.placements(db.session, reg),
                           duplicates=registrations.duplicates(db.session, reg),
                           state_labels=registrations.STATE_LABELS, id_labels=identity.ID_TYPE_LABELS,
                           fee_text=periods.fee_text), status


def reject(site_id: str, registration_id: int):
    _admin()
    try:
        with transaction() as s:
            review.reject(s, current_actor(), site_id, registration_id, request.form.get("reason", ""))
    except DomainError as exc:
        return show(site_id, registration_id, error=exc.translated(), status=exc.http_status)
    flash(_("Registration not approved; the candidate sees the reason."))
    return redirect(url_for("site.registrations", site_id=site_id))


def photo(site_id: str, registration_id: int):
    _admin()
    with transaction() as s:
        row = review.photo_for_staff(s, current_actor(), site_id, registration_id)
        body = row.jpeg if row is not None else None
    if body is None:
        abort(404)
    return body, 200, {"Content-Type": "image/jpeg", "Cache-Control": "private, no-store"}


def verify_ticket(site_id: str, token: str):
    """Where a scanned admission ticket or registration form lands (its QR code): the photo,
    the data and the status, to check the person at the door or confirm them on site."""
    _admin()
    registration_id = tickets.registration_id_of(current_app.config["SECRET_KEY"], token)
    return show(site_id, registration_id, scanned=True)


def confirm_onsite(site_id: str, registration_id: int):
    _admin()
    try:
        with transaction() as s:
            review.confirm_onsite(s, current_actor(), site_id, registration_id)
    except DomainError as exc:
        return show(site_id, registration_id, error=exc.translated(), status=exc.http_status)
    flash(_("Confirmed on site: the candidate joins the exam data and may print the admission ticket."))
    return redirect(url_for("site.show_registration", site_id=site_id, registration_id=registration_id))
