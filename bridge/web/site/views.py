"""Site console pages: HTTP only (services: venues, seats)."""
from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from bridge import clock
from bridge.extensions import transaction
from bridge.errors import DomainError
from bridge.extensions import db
from bridge.exports import csv_export
from bridge.services.venue import seats, venues
from bridge.services.proctoring.basics import OFFLINE_AFTER
from bridge.web.auth import current_actor, require_staff

MODE_LABELS = {"formal": "formal exam", "mock": "mock exam"}


def _admin():
    """The signed-in site admin (or admin); which sites they hold is checked before every
    view (``bridge.web.site.scope``) and again by the services."""
    from bridge.web.auth import current_user

    require_staff("site_admin")
    return current_user()


def _int(name: str):
    value = request.form.get(name, "").strip()
    return int(value) if value.isdigit() else (None if value == "" else value)


_KEPT = "site_form"  # a refused form's reason and what was typed, for the page it goes back to


def _refused(target: str, error: str, form: dict | None = None):
    """After a refused POST, back to the page (303) with the reason and what was typed: a
    reload then shows the page again instead of posting again (or asking a POST-only
    address for a page: 405)."""
    session[_KEPT] = {"target": target, "error": error, "form": form or {}}
    return redirect(target, code=303)


def _kept() -> tuple[str | None, dict]:
    """The reason and the typed values ``_refused`` left for this page (once)."""
    state = session.pop(_KEPT, None)
    if not state or state.get("target") != request.path:
        return None, {}
    return state.get("error"), state.get("form") or {}


def list_sites(form=None, error=None, status=200):
    user = _admin()
    kept_error, kept_form = _kept()
    return render_template("site/sites.html", user=user, sites=venues.list_sites(db.session, actor=current_actor()),
                           is_admin=current_actor().admin,
                           form=form or kept_form, error=error or kept_error), status


def create_site():
    user = _admin()
    form = {k: request.form.get(k, "").strip() for k in ("code", "name", "mode")}
    try:
        with transaction() as s:
            site = venues.create_site(s, code=form["code"], name=form["name"], mode=form["mode"] or "formal",
                                      actor=current_actor())
    except DomainError as exc:
        return _refused(url_for("site.list_sites"), _(exc.message), form)
    flash(_("Site %(code)s created.", code=site.code))
    return redirect(url_for("site.show_site", site_id=site.id))


def show_site(site_id: str):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    error, form = _kept()
    rooms = venues.site_rooms(db.session, site_id, actor=current_actor())
    return render_template("site/site.html", user=user, site=site, rooms=rooms,
                           error=error, form=form)


def update_site(site_id: str):
    user = _admin()
    try:
        with transaction() as s:
            venues.update_site(s, site_id, name=request.form.get("name", ""), mode=request.form.get("mode", ""),
                               address=request.form.get("address"), actor=current_actor())
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return _refused(url_for("site.show_site", site_id=site_id), _(exc.message),
                        {"site_name": request.form.get("name", ""), "site_mode": request.form.get("mode", ""),
                         "site_address": request.form.get("address", "")})
    flash(_("Site saved."))
    return redirect(url_for("site.show_site", site_id=site_id))


def add_room(site_id: str):
    user = _admin()
    try:
        with transaction() as s:
            room, code = venues.add_room(s, site_id, code=request.form.get("code", ""),
                                         name=request.form.get("name", ""), capacity=_int("capacity"),
                                         secret_key=current_app.config["SECRET_KEY"], actor=current_actor())
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return _refused(url_for("site.show_site", site_id=site_id), _(exc.message),
                        {k: request.form.get(k, "") for k in ("code", "name", "capacity")})
    flash(_("Room %(code)s created. Kiosk enrolment code: %(enrolment)s (the seat page shows it again).",
            code=room.code, enrolment=code))
    return redirect(url_for("site.show_site", site_id=site_id))


# --- seats --------------------------------------------------------------------------------
def _room(site_id: str):
    site = venues.get_site(db.session, site_id, actor=current_actor())
    return site, venues.room_of(db.session, site_id=site.id, room_id=request.view_args["room_id"])


def show_seats(site_id: str, room_id: int, report=None, error=None, status=200):
    from bridge.services.kiosks import devices

    user = _admin()
    site, room = _room(site_id)
    kept_error, form = _kept()
    return render_template(
        "site/seats.html", user=user, site=site, room=venues.room_summary(db.session, room.id, actor=current_actor()),
        seats=seats.plan(db.session, room.id, actor=current_actor()),
        unassigned=seats.unassigned(db.session, room.id, actor=current_actor()),
        enrolment=devices.enrolment_code(db.session, room.id, secret_key=current_app.config["SECRET_KEY"]),
        orders=seats.SCAN_ORDERS, report=report, error=error or kept_error, form=form,
        now=clock.utcnow_naive(), online_within=OFFLINE_AFTER), status


def _seat_action(site_id: str, room_id: int, fn, done):
    """Run ``fn(session, room_id, actor)`` in a transaction; flash ``done`` (or
    ``done(result)``) and go back to the seat page, or show the page with the refusal."""
    user = _admin()
    _site, room = _room(site_id)
    try:
        with transaction() as s:
            result = fn(s, room.id, current_actor())
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return _refused(url_for("site.show_seats", site_id=site_id, room_id=room_id), _(exc.message),
                        {k: v for k, v in request.form.items() if k != "csrf_token"})
    flash(done(result) if callable(done) else done)
    return redirect(url_for("site.show_seats", site_id=site_id, room_id=room_id))


def add_seat(site_id: str, room_id: int):
    form = request.form
    return _seat_action(site_id, room_id, lambda s, rid, actor: seats.add_seat(
        s, rid, address=form.get("address", ""), hostname=form.get("hostname", ""), note=form.get("note", ""),
        actor=actor), _("Seat added."))


def scan_seats(site_id: str, room_id: int):
    return _seat_action(site_id, room_id, lambda s, rid, actor: seats.auto_scan(
        s, rid, order=request.form.get("order", "address"), actor=actor),
        lambda found: _("%(count)s kiosk(s) seated.", count=len(found)) if found
        else _("No unassigned kiosk to seat."))


def edit_seat(site_id: str, room_id: int, seat_id: int):
    form = request.form
    return _seat_action(site_id, room_id, lambda s, rid, actor: seats.edit_seat(
        s, seat_id, number=form.get("number", ""), address=form.get("address", ""),
        hostname=form.get("hostname", ""), note=form.get("note", ""), room_id=rid, actor=actor), _("Seat saved."))


def move_seat(site_id: str, room_id: int, seat_id: int):
    return _seat_action(site_id, room_id, lambda s, rid, actor: seats.move_seat(
        s, seat_id, request.form.get("direction", ""), room_id=rid, actor=actor), _("Seat moved."))


def delete_seat(site_id: str, room_id: int, seat_id: int):
    if request.method == "GET":  # the confirmation page
        user = _admin()
        site, room = _room(site_id)
        seat = next((r for r in seats.plan(db.session, room.id, actor=current_actor()) if r.id == seat_id), None)
        if seat is None:
            abort(404)
        return render_template("site/delete_seat.html", user=user, site=site, room=room, seat=seat)
    return _seat_action(site_id, room_id, lambda s, rid, actor: seats.delete_seat(
        s, seat_id, room_id=rid, actor=actor), _("Seat deleted."))


def export_seats(site_id: str, room_id: int):
    _admin()
    site, room = _room(site_id)
    body = seats.export_csv(db.session, room.id, actor=current_actor())
    return Response(body.encode("utf-8"), mimetype=csv_export.MIME,
                    headers={"Content-Disposition": f'attachment; filename="seats-{room.code}.csv"'})


def import_seats(site_id: str, room_id: int):
    user = _admin()
    _site, room = _room(site_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return show_seats(site_id, room_id, error=_("Choose a CSV file to import."), status=422)
    data = upload.read(seats.MAX_CSV_BYTES + 1)
    with transaction() as s:
        report = seats.import_csv(s, room.id, data, actor=current_actor())
    if not report.ok:
        return show_seats(site_id, room_id, report=report, status=422)
    flash(_("Seat plan imported: %(added)s added, %(updated)s changed.", added=report.added, updated=report.updated))
    return redirect(url_for("site.show_seats", site_id=site_id, room_id=room_id))


def display_seats(site_id: str, room_id: int):
    """Show (or hide) the seat number on every seated exam PC of the room: a ``show_seat``
    (each its own seat) or ``hide_seat`` command through the hub."""
    from sqlalchemy import select

    from bridge.hub import notify_commands
    from bridge.models.devices import Kiosk
    from bridge.services.kiosks import kiosk_commands

    user = _admin()
    _site, room = _room(site_id)
    name = "show_seat" if request.form.get("action") == "show" else "hide_seat"
    kiosk_ids = list(db.session.scalars(select(Kiosk.id).where(Kiosk.room_id == room.id, Kiosk.status == "seated")))
    if not kiosk_ids:
        return show_seats(site_id, room_id, error=_("No exam PC is seated in this room yet."), status=409)
    with transaction() as s:
        ids = kiosk_commands.issue(s, kiosk_ids, name, issued_by=current_actor())
    notify_commands(current_app._get_current_object(), ids)
    flash(_("Seat numbers shown on %(count)s exam PC(s).", count=len(ids)) if name == "show_seat"
          else _("Seat numbers hidden on %(count)s exam PC(s).", count=len(ids)))
    return redirect(url_for("site.show_seats", site_id=site_id, room_id=room_id))
