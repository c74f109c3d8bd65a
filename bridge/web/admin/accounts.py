"""Staff accounts page: HTTP only (``bridge.services.people.staff``)."""
from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge import clock, timezones
from bridge.extensions import transaction
from bridge.errors import DomainError, Invalid
from bridge.extensions import db
from bridge.i18n import N_
from bridge.services.people import staff
from bridge.services.venue import exam_data, venues
from bridge.web.admin.views import _require_admin
from bridge.web.auth import current_actor

FIELDS = ("username", "name", "role", "site", "room", "sitting", "day")


def _grant_fields(form) -> dict:
    """The grant's place from the form: codes as typed, the sitting and the day parsed."""
    sitting = form.get("sitting", "").strip()
    day = form.get("day", "").strip()
    if sitting and not sitting.isdigit():
        raise Invalid(N_("Choose a sitting from the list."))
    try:
        valid_on = dt.date.fromisoformat(day) if day else None
    except ValueError:
        raise Invalid(N_("The day is a date like 2026-12-07.")) from None
    return {"site": form.get("site", "").strip(), "room": form.get("room", "").strip(),
            "sitting_id": int(sitting) if sitting else None, "valid_on": valid_on,
            "station_only": form.get("station_only") == "1"}


def accounts(form=None, error=None, status=200):
    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    rooms = sorted({(r.code, r.name) for site in venues.list_sites(db.session)
                    for r in venues.site_rooms(db.session, site.id)})
    sittings = [s for site in venues.list_sites(db.session) for s in exam_data.site_sittings(db.session, site.id)]
    return render_template("admin/accounts.html", user=user, people=staff.list_staff(db.session),
                           sites=venues.list_sites(db.session), rooms=rooms, sittings=sittings,
                           labels=staff.ROLE_LABELS, form=form or {}, error=error,
                           today=timezones.to_local(clock.utcnow_naive()).date().isoformat()), status


def create_account():
    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    form = {k: request.form.get(k, "").strip() for k in FIELDS}
    try:
        with transaction() as s:
            made = staff.create_staff(s, username=form["username"], password=request.form.get("password", ""),
                                      name=form["name"], role=form["role"], actor=current_actor(),
                                      **_grant_fields(request.form))
            name = made.username
    except DomainError as exc:
        return accounts(form=form, error=exc.translated(), status=exc.http_status)
    flash(_("Account %(name)s created. Give them the password in person; they can change it after signing in.",
            name=name))
    return redirect(url_for("admin.accounts"))


def add_grant(user_id: int):
    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    try:
        with transaction() as s:
            staff.add_grant(s, user_id, role=request.form.get("role", ""), actor=current_actor(),
                            **_grant_fields(request.form))
    except DomainError as exc:
        return accounts(error=exc.translated(), status=exc.http_status)
    flash(_("Role added."))
    return redirect(url_for("admin.accounts"))


def remove_grant(grant_id: int):
    user = _require_admin()
    if user is None:
        return redirect(url_for("admin.login"))
    try:
        with transaction() as s:
            staff.remove_grant(s, grant_id, actor=current_actor())
    except DomainError as exc:
        return accounts(error=exc.translated(), status=exc.http_status)
    flash(_("Role removed: it no longer opens anything."))
    return redirect(url_for("admin.accounts"))
