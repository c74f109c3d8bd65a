"""Station registration pages: HTTP only (``bridge.services.venue.stations``)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge.extensions import transaction
from bridge.errors import DomainError
from bridge.extensions import db
from bridge.services.venue import stations
from bridge.web.auth import STATION_COOKIE
from bridge.web.site.readiness import _upload

COOKIE = STATION_COOKIE
MAX_AGE = 14 * 24 * 3600


def _page(error=None, status=200, form=None):
    reg = stations.station(db.session, request.cookies.get(COOKIE), touch=False)
    return render_template("station/home.html", reg=reg, error=error, form=form or {}), status


def home():
    token = request.cookies.get(COOKIE)
    if token:
        with transaction() as s:  # the site sees the station as connected while its page is open
            stations.station(s, token)
    return _page()


def _bound(result, message: str):
    reg, token = result
    response = redirect(url_for("station.home"))
    response.set_cookie(COOKIE, token, max_age=MAX_AGE, httponly=True, samesite="Lax", secure=request.is_secure)
    flash(message)
    return response


def register():
    form = {k: request.form.get(k, "").strip() for k in ("room_code", "code")}
    try:
        with transaction() as s:
            result = stations.register(s, room_code=form["room_code"], code=form["code"],
                                       address=request.remote_addr or "", secret_key=current_app.config["SECRET_KEY"])
    except DomainError as exc:
        return _page(error=exc.translated(), status=exc.http_status, form=form)
    return _bound(result, _("This station is registered to room %(code)s.", code=result[0].room_code))


def restore():
    form = {"room_code": request.form.get("room_code", "").strip()}
    try:
        with transaction() as s:
            result = stations.restore(s, _upload(), room_code=form["room_code"], address=request.remote_addr or "",
                                      secret_key=current_app.config["SECRET_KEY"])
    except DomainError as exc:
        return _page(error=exc.translated(), status=exc.http_status, form=form)
    return _bound(result, _("Registration of room %(code)s restored from the site file.", code=result[0].room_code))
