"""The site's results collection page (数据回收, V10): the table per room, session and
subject, and importing a room's results file. HTTP only (``bridge.services.venue.collection``)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge.errors import DomainError
from bridge.extensions import db, transaction
from bridge.services.venue import collection, venues
from bridge.web.auth import current_actor
from bridge.web.site.views import _admin


def show_collection(site_id: str, error=None, status=200):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    rows = collection.table(db.session, site.id, actor=current_actor())
    return render_template("site/collection.html", user=user, site=site, rows=rows, error=error), status


def import_results(site_id: str):
    _admin()
    upload = request.files.get("file")
    try:
        with transaction() as s:
            row = collection.import_file(s, site_id, upload.read() if upload else b"",
                                         secret_key=current_app.config["SECRET_KEY"], actor=current_actor())
    except DomainError as exc:
        return show_collection(site_id, error=exc.translated(), status=exc.http_status)
    flash(_("Results of room %(room)s collected from its file: %(n)d candidates.", room=row.room_code,
            n=row.collected))
    return redirect(url_for("site.show_collection", site_id=site_id))
