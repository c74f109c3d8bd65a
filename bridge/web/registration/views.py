"""The registration itself, the candidate's pages: HTTP only
(``bridge.services.registration.registrations`` and ``periods``). Anyone signed in may
register: a learner launched from the LMS, or a public candidate whose email is verified."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge.errors import DomainError
from bridge.extensions import db, transaction
from bridge.models.registration import EDITABLE_STATES, GENDERS
from bridge.services.registration import (accounts, documents, identity, payments, periods, registrations, review,
                                         tickets)
from bridge.web.auth import current_user

DETAIL_FIELDS = ("name", "gender", "birth_date", "id_type", "id_number", "phone", "email", "address")


def _registrant():
    """The signed-in person, unless they signed in with admission number and ID number, which
    open their exam and nothing of their registration (its personal data, photo, payments)."""
    from flask import session as web_session

    return None if web_session.get("exam_only") else current_user()


def _candidate():
    """(user, None) for someone who may register; (None, redirect) otherwise."""
    user = _registrant()
    if user is None:
        return None, redirect(url_for("registration.sign_in"))
    account = accounts.account_of_user(db.session, user.id)
    if account is not None and account.verified_at is None:
        flash(_("Confirm your email first: open the link we mailed to %(email)s.", email=account.email), "error")
        return None, redirect(url_for("registration.home"))
    return user, None


def home():
    user = _registrant()
    account = accounts.account_of_user(db.session, user.id) if user else None
    mine = registrations.by_period(db.session, user.id) if user is not None else {}
    return render_template("registration/home.html", user=user, account=account,
                           periods=periods.open_periods(db.session), mine=mine,
                           all_periods={pid: reg.period for pid, reg in mine.items()},
                           state_labels=registrations.STATE_LABELS)


def period(period_id: int):
    user, away = _candidate()
    if away:
        return away
    p = periods.get_period(db.session, period_id)
    reg = registrations.of_user(db.session, p.id, user.id)
    if reg is None:
        return render_template("registration/agreement.html", user=user, period=p, is_open=periods.is_open(p))
    site_names = {ps.site_id: site for ps, site in periods.sites_of(db.session, p)}
    return render_template("registration/status.html", user=user, period=p, reg=reg, site_names=site_names,
                           editable=reg.status in EDITABLE_STATES and periods.is_open(p),
                           duplicates=registrations.duplicates(db.session, reg),
                           reviews=registrations.site_reviews(db.session, reg) if reg.site_id else False,
                           has_photo=registrations.has_photo(db.session, reg), fee_text=periods.fee_text,
                           id_labels=identity.ID_TYPE_LABELS, state_labels=registrations.STATE_LABELS,
                           payable=_payable(reg), fees=payments.fees(reg), ticket_note=_ticket_note(reg))


def _ticket_note(reg) -> str | None:
    """Why the admission ticket cannot be printed yet (None: it can)."""
    if reg.status not in ("paid", "confirmed"):
        return None
    try:
        tickets.check_printable(db.session, reg)
    except DomainError as exc:
        return exc.translated()
    return None


def _payable(reg) -> bool:
    try:
        payments.check_payable(db.session, reg)
    except DomainError:
        return False
    return True


def agree(period_id: int):
    user, away = _candidate()
    if away:
        return away
    p = periods.get_period(db.session, period_id)
    if request.form.get("decision") != "agree":
        flash(_("You did not agree to the terms, so the registration stops here. You can come back while "
                "registration is open."))
        return redirect(url_for("registration.home"))
    try:
        with transaction() as s:
            registrations.start(s, s.merge(p), s.merge(user), agreed=request.form.get("agreed") == "1")
    except DomainError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("registration.period", period_id=period_id))
    return redirect(url_for("registration.details", period_id=period_id))


def _registration(period_id: int):
    user, away = _candidate()
    if away:
        return None, None, away
    p = periods.get_period(db.session, period_id)
    reg = registrations.of_user(db.session, p.id, user.id)
    if reg is None:
        return None, None, redirect(url_for("registration.period", period_id=period_id))
    return user, reg, None


def details(period_id: int):
    user, reg, away = _registration(period_id)
    if away:
        return away
    if request.method == "GET":
        form = {"name": reg.name, "gender": reg.gender, "birth_date": reg.birth_date.isoformat() if reg.birth_date
                else "", "id_type": reg.id_type or "prc_id", "id_number": "", "phone": reg.phone,
                "email": reg.email, "address": reg.address}
        return _details_page(user, reg, form, None)
    form = {k: request.form.get(k, "").strip() for k in DETAIL_FIELDS}
    try:
        birth = dt.date.fromisoformat(form["birth_date"]) if form["birth_date"] else None
    except ValueError:
        return _details_page(user, reg, form, _("The date of birth is a date like 2001-09-30."), 422)
    data = registrations.PersonalData(name=form["name"], gender=form["gender"], birth_date=birth,
                                      id_type=form["id_type"], id_number=form["id_number"], phone=form["phone"],
                                      email=form["email"], address=form["address"])
    try:
        with transaction() as s:
            registrations.save_details(s, s.merge(reg), data, secret=current_app.config["SECRET_KEY"])
    except registrations.MissingFields as exc:
        return _details_page(user, reg, form, _("Fill in the required fields: %(fields)s.",
                                                fields=", ".join(_(f) for f in exc.fields)), 422)
    except DomainError as exc:
        return _details_page(user, reg, form, exc.translated(), exc.http_status)
    return redirect(url_for("registration.subjects", period_id=period_id))


def _details_page(user, reg, form, error, status=200):
    return render_template("registration/details.html", user=user, reg=reg, period=reg.period, form=form,
                           error=error, genders=GENDERS, id_types=identity.ID_TYPE_LABELS), status


def subjects(period_id: int):
    user, reg, away = _registration(period_id)
    if away:
        return away
    p = reg.period
    site_id = request.values.get("site") or reg.site_id
    if request.method == "POST":
        chosen = [int(v) for v in request.form.getlist("offer") if v.isdigit()]
        try:
            with transaction() as s:
                registrations.choose_subjects(s, s.merge(reg), site_id or "", chosen)
        except DomainError as exc:
            return _subjects_page(user, reg, p, site_id, chosen, exc.translated(), exc.http_status)
        return redirect(url_for("registration.period", period_id=period_id) + "#submit")
    chosen = [s.offer_id for s in reg.subjects] if site_id == reg.site_id else []
    return _subjects_page(user, reg, p, site_id, chosen, None)


def _subjects_page(user, reg, p, site_id, chosen, error, status=200):
    return render_template("registration/subjects.html", user=user, reg=reg, period=p, site_id=site_id,
                           sites=periods.sites_of(db.session, p), chosen=chosen, error=error,
                           offers=periods.offers_at(db.session, p, site_id) if site_id else [],
                           fee_text=periods.fee_text), status


def submit(period_id: int):
    user, reg, away = _registration(period_id)
    if away:
        return away
    try:
        with transaction() as s:
            registrations.submit(s, s.merge(reg), guaranteed=request.form.get("guarantee") == "1")
    except DomainError as exc:
        flash(exc.translated(), "error")
    else:
        flash(_("Your registration is submitted."))
    return redirect(url_for("registration.period", period_id=period_id))


MAX_UPLOAD = 2 * 1024 * 1024  # far above the photo's 200 KB: the checker says what is wrong with it


def photo_page(period_id: int):
    user, reg, away = _registration(period_id)
    if away:
        return away
    if request.method == "GET":
        return _photo_page(user, reg, None)
    upload = request.files.get("photo")
    data = upload.read(MAX_UPLOAD + 1) if upload else b""
    if not data:
        return _photo_page(user, reg, _("Choose a photo file to upload."), 422)
    if len(data) > MAX_UPLOAD:
        return _photo_page(user, reg, _("This file is far larger than 200 KB; choose the photo itself."), 422)
    try:
        with transaction() as s:
            registrations.save_photo(s, s.merge(reg), data)
    except DomainError as exc:
        return _photo_page(user, reg, exc.translated(), exc.http_status)
    flash(_("Photo saved. Check the preview: this is how it prints on your admission ticket."))
    return redirect(url_for("registration.photo", period_id=period_id))


def _photo_page(user, reg, error, status=200):
    return render_template("registration/photo.html", user=user, reg=reg, period=reg.period, error=error,
                           has_photo=registrations.has_photo(db.session, reg),
                           editable=reg.status in EDITABLE_STATES and periods.is_open(reg.period)), status


def photo_file(period_id: int):
    """The candidate's own photo: never at a public address, never cached by a shared cache."""
    user, reg, away = _registration(period_id)
    if away:
        return away
    row = registrations.photo_of(db.session, reg)
    if row is None:
        abort(404)
    return row.jpeg, 200, {"Content-Type": "image/jpeg", "Cache-Control": "private, no-store",
                           "X-Content-Type-Options": "nosniff"}


def ask_review(period_id: int):
    user, reg, away = _registration(period_id)
    if away:
        return away
    try:
        with transaction() as s:
            review.request_review(s, s.merge(reg))
    except DomainError as exc:
        flash(exc.translated(), "error")
    else:
        flash(_("The site will review your registration. Its answer appears on this page."))
    return redirect(url_for("registration.period", period_id=period_id))


def registration_form(period_id: int):
    """The registration form, as a page to print or (``form.pdf``) a PDF to download."""
    from bridge.exports import pdf

    user, reg, away = _registration(period_id)
    if away:
        return away
    try:
        form = documents.registration_form(db.session, reg)
    except DomainError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("registration.period", period_id=period_id))
    from bridge.exports import qr

    verify_url = url_for("site.verify_ticket", site_id=reg.site_id,
                         token=tickets.token(current_app.config["SECRET_KEY"], reg), _external=True)
    html = render_template("registration/form_print.html", form=form, id_labels=identity.ID_TYPE_LABELS,
                           fee_text=periods.fee_text, qr_uri=qr.svg_data_uri(verify_url))
    if not request.path.endswith(".pdf"):
        return html
    return pdf.html_to_pdf(html), 200, {
        "Content-Type": "application/pdf", "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="registration-form-{reg.id:08d}.pdf"'}
