"""Site console upkeep (V9): backup, restore, init with its guards, and the password.
HTTP only; the rules live in ``bridge.services.venue.site_backup`` and ``accounts``."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge import clock
from bridge.extensions import transaction
from bridge.errors import DomainError
from bridge.extensions import db
from bridge.web.auth import current_actor
from bridge.services.people import accounts
from bridge.services.venue import site_backup, venues
from bridge.web.site.readiness import _download, _upload
from bridge.web.site.views import _admin, list_sites


def show_upkeep(site_id: str, error=None, status=200):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    return render_template("site/upkeep.html", user=user, site=site,
                           blockers=site_backup.init_blockers(db.session, site.id, actor=current_actor()),
                           error=error), status


def download_backup(site_id: str):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    with transaction() as s:
        body = site_backup.backup(s, site.id, secret_key=current_app.config["SECRET_KEY"],
                                  note=request.form.get("note", ""), actor=current_actor())
    return _download(body, f"site-{site.code}-{clock.utcnow_naive():%Y%m%d-%H%M}.bak", "application/gzip")


def restore_backup():
    """From the sites page: after a reinstall there is no site page yet."""
    user = _admin()
    try:
        with transaction() as s:
            report = site_backup.restore(s, _upload(site_backup.MAX_BYTES), secret_key=current_app.config["SECRET_KEY"],
                                         actor=current_actor())
    except DomainError as exc:
        return list_sites(error=exc.translated(), status=exc.http_status)
    skipped = sum(report.skipped.values())
    flash(_("Site %(code)s restored.", code=report.code) + (" " + _(
        "%(count)s record(s) that belong to exam sessions this bridge does not hold were left out.",
        count=skipped) if skipped else ""))
    return redirect(url_for("site.show_site", site_id=report.site_id))


def init_site(site_id: str):
    """Init: the typed site code, the box ticked, and the acting user's password again."""
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    form = request.form
    if form.get("understood") != "1":
        return show_upkeep(site_id, error=_("Tick the box to say you understand that init deletes the site's data."),
                           status=422)
    if not accounts.check_password(user, form.get("password", "")):
        return show_upkeep(site_id, error=_("Your password is wrong; init needs it again."), status=403)
    try:
        with transaction() as s:
            site_backup.init(s, site.id, confirm_code=form.get("confirm_code", ""), actor=current_actor())
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return show_upkeep(site_id, error=exc.translated(), status=exc.http_status)
    flash(_("Site %(code)s initialized: its rooms, seats, registrations, exam data and checks are gone.",
            code=site.code))
    return redirect(url_for("site.list_sites"))


def password(error=None, status=200):
    """Any staff member's own password (the scope check lets every staff role in)."""
    from bridge.web.auth import current_user, home_for

    user = current_user()
    if request.method == "POST":
        try:
            with transaction() as s:
                accounts.change_password(s, user.id, current=request.form.get("current", ""),
                                         new=request.form.get("new", ""), confirm=request.form.get("confirm", ""),
                                         remote_addr=request.remote_addr or "")
        except DomainError as exc:
            return render_template("site/password.html", user=user, error=exc.translated()), exc.http_status
        flash(_("Password changed."))
        return redirect(url_for(home_for(current_actor())))
    return render_template("site/password.html", user=user, error=error), status
