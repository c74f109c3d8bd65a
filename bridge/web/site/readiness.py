"""Site console, before the exam: environment check, sessions and their exam data,
authorization, stations, sealing check and monitoring (V3–V8). HTTP only; the rules live
in the services (envchecks, exam_data, authorization, stations, sealing)."""
from __future__ import annotations

import datetime as dt

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from bridge import clock, timezones
from bridge.extensions import transaction
from bridge.errors import DomainError, Invalid
from bridge.extensions import db
from bridge.web.auth import current_actor
from bridge.i18n import N_
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession
from bridge.exports import pdf
from bridge.services.venue import authorization, envchecks, exam_data, sealing, stations, venues
from bridge.web.site.views import _admin, _room

MAX_FILE_BYTES = 8 * 1024 * 1024


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _actor(user) -> str:
    return current_actor()


def _act(fn, done, page, *page_args):
    """Run ``fn(session)`` in a transaction and flash ``done`` (or ``done(result)``):
    ``(True, result)``. A refusal gives ``(False, the page with the reason, 4xx)``."""
    try:
        with transaction() as s:
            result = fn(s)
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return False, page(*page_args, error=exc.translated(), status=exc.http_status)
    flash(done(result) if callable(done) else done)
    return True, result


def _upload(limit: int = MAX_FILE_BYTES) -> bytes:
    f = request.files.get("file")
    if f is None or not f.filename:
        raise Invalid(N_("Choose the file to import."))
    data = f.read(limit + 1)
    if len(data) > limit:
        raise Invalid(N_("This file is too large."))
    return data


def _download(body: bytes, filename: str, mimetype: str = "application/json") -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- environment check (V3) ---------------------------------------------------------------
def _exams():
    return db.session.query(Exam.id, Exam.title).order_by(Exam.title).all()


def show_envcheck(site_id: str, room_id: int, error=None, status=200):
    user = _admin()
    site, room = _room(site_id)
    report = envchecks.report(db.session, room.id, actor=current_actor())
    exam_id = request.args.get("exam_id", type=int) or (report.runs[-1]["exam_id"] if report.runs else None)
    room_info = venues.room_summary(db.session, room.id, actor=current_actor())
    return render_template("site/envcheck.html", user=user, site=site, room=room_info,
                           report=report, items=envchecks.ITEMS, exams=_exams(), exam_id=exam_id,
                           exam_requirements=envchecks.requirements_of(db.session, exam_id),
                           error=error), status


def start_envcheck(site_id: str, room_id: int):
    from bridge.hub import notify_commands

    user = _admin()
    _site, room = _room(site_id)
    exam_id = request.form.get("exam_id", type=int)
    ok, result = _act(lambda s: envchecks.start(s, room.id, exam_id=exam_id, scope=request.form.get("scope", "all"),
                                                actor=_actor(user)),
                      lambda made: _("Environment check sent to %(count)s exam PC(s).", count=len(made[1])),
                      show_envcheck, site_id, room_id)
    if not ok:
        return result
    notify_commands(current_app._get_current_object(), list(result[1].values()))
    return redirect(url_for("site.show_envcheck", site_id=site_id, room_id=room_id))


def save_requirements(site_id: str, room_id: int):
    user = _admin()
    _room(site_id)
    exam_id = request.form.get("exam_id", type=int)
    ok, result = _act(lambda s: envchecks.set_requirements(s, exam_id or 0, request.form.to_dict(), actor=_actor(user)),
                      _("Requirements saved."), show_envcheck, site_id, room_id)
    if not ok:
        return result
    return redirect(url_for("site.show_envcheck", site_id=site_id, room_id=room_id, exam_id=exam_id))


def envcheck_report(site_id: str, room_id: int):
    """The report as one self-contained HTML file (time, requirements, every seat)."""
    _admin()
    site, room = _room(site_id)
    report = envchecks.report(db.session, room.id, actor=current_actor())
    html = render_template("site/envcheck_report.html", site=site, room=room, report=report, items=envchecks.ITEMS,
                           made_at=clock.utcnow_naive())
    name = f"envcheck-{room.code}-{clock.utcnow_naive():%Y%m%d-%H%M}.html"
    if request.args.get("download") == "0":
        return html
    return _download(html.encode("utf-8"), name, "text/html")


# --- sessions: placement, exam data, authorization (V4, V6, V8) ------------------------------
def show_sessions(site_id: str, error=None, status=200, confirm_place=None):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    sittings = exam_data.site_sittings(db.session, site.id, actor=current_actor())
    sessions = {}
    for x in sittings:
        sessions.setdefault(x.session_id, []).append(x)
    windows = {sid: authorization.window(db.session, db.session.get(ExamSession, sid)) for sid in sessions}
    auth = {sid: {"authorized": all(x.authorized for x in rows),
                  "at": max((x.authorized_at for x in rows if x.authorized_at), default=None),
                  "methods": sorted({x.authorization_method for x in rows if x.authorization_method}),
                  "verified": all(x.verified_at for x in rows),
                  "verified_at": max((x.verified_at for x in rows if x.verified_at), default=None)}
            for sid, rows in sessions.items()}
    return render_template("site/sessions.html", user=user, site=site, sessions=sessions, windows=windows, auth=auth,
                           rooms=venues.site_rooms(db.session, site.id, actor=current_actor()),
                           placeable=exam_data.placeable_sessions(db.session), now=clock.utcnow_naive(),
                           verify_lead=authorization.VERIFY_LEAD, error=error, confirm_place=confirm_place), status


def _on_sessions(site_id: str, fn, done):
    """An action of the sessions page: ``fn(session, site, actor)``; back to the page."""
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    ok, result = _act(lambda s: fn(s, site, _actor(user)), done, show_sessions, site_id)
    return redirect(url_for("site.show_sessions", site_id=site_id)) if ok else result


def place_session(site_id: str):
    session_id, room_id = request.form.get("session_id", type=int) or 0, request.form.get("room_id", type=int) or 0
    confirmed = request.form.get("confirm_started") == "1"

    def ask_first(*args, error=None, status=200):
        """A session already sat by some: the page warns and asks for an explicit confirmation."""
        asks = status == exam_data.StartedSession.http_status and not confirmed and _started_with_submitted(session_id)
        return show_sessions(*args, error=error, status=status,
                             confirm_place={"session_id": session_id, "room_id": room_id} if asks else None)

    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    ok, result = _act(lambda s: exam_data.place(s, site.id, session_id, room_id, actor=_actor(user),
                                                confirm_started=confirmed),
                      _("Session placed in the room."), ask_first, site_id)
    return redirect(url_for("site.show_sessions", site_id=site_id)) if ok else result


def _started_with_submitted(session_id: int) -> bool:
    sess = db.session.get(ExamSession, session_id)
    return bool(sess and sess.starts_at <= clock.utcnow_naive() and exam_data.submitted_in(db.session, sess))


def _release_at() -> dt.datetime | None:
    raw = request.form.get("release_at", "").strip()
    if not raw:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(N_("Give the release time as a date and time."))
    if moment.tzinfo is not None:  # an offset given is honoured
        return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return timezones.from_local(moment)  # typed in the institution's zone, as the page says


def build_data(site_id: str, sitting_id: int):
    def build(s, site, actor):
        exam_data.sitting_of(s, sitting_id, site.id)
        return exam_data.build(s, sitting_id, secret_key=_secret(), release_at=_release_at(),
                               seat_order=request.form.get("seat_order", "in_order"), actor=actor)
    return _on_sessions(site_id, build, lambda made: _("Exam data built for %(count)s candidate(s). Hash: %(hash)s",
                                                       count=made.candidates, hash=made.data_hash[:16]))


def export_data(site_id: str, sitting_id: int):
    _admin()
    info = exam_data.info(db.session, sitting_id, site_id)
    body = exam_data.export(db.session, sitting_id, site_id, actor=current_actor())
    return _download(body, f"examdata-{info.room_code}-session{info.session_id}.json")


def load_data(site_id: str, sitting_id: int):
    def load(s, site, actor):
        exam_data.sitting_of(s, sitting_id, site.id)
        raw = _upload() if request.form.get("from") == "file" else None
        return exam_data.load(s, sitting_id, secret_key=_secret(), raw=raw, actor=actor)
    return _on_sessions(site_id, load, lambda made: _("Exam data loaded and verified (hash %(hash)s).",
                                                      hash=made.data_hash[:16]))


def seating_chart(site_id: str, sitting_id: int):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    try:
        chart = exam_data.seating_chart(db.session, sitting_id, site.id, actor=current_actor())
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return show_sessions(site_id, error=exc.translated(), status=exc.http_status)
    html = render_template("site/seating_chart.html", user=user, site=site, chart=chart)
    if request.path.endswith(".pdf"):
        body = pdf.html_to_pdf(html)
        return _download(body, f"seating-{chart['room']['code']}-session{chart['session']['id']}.pdf",
                         "application/pdf")
    return html


def authorize_session(site_id: str, session_id: int):
    return _on_sessions(site_id, lambda s, site, actor: authorization.authorize(
        s, session_id, site_id=site.id, actor=actor), _("Session authorized."))


def import_authorization(site_id: str):
    return _on_sessions(site_id, lambda s, site, actor: authorization.import_file(
        s, _upload(), site_id=site.id, secret_key=_secret(), actor=actor), _("Authorization imported."))


def export_authorization(site_id: str, session_id: int):
    """The authority's side (an administrator): the signed file for an offline site."""
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    with transaction() as s:
        body = authorization.export_file(s, session_id, site_id=site.id, secret_key=_secret(), actor=_actor(user))
    return _download(body, f"authorization-{site.code}-session{session_id}.json")


def verify_session(site_id: str, session_id: int):
    return _on_sessions(site_id, lambda s, site, actor: authorization.verify(
        s, session_id, site_id=site.id, actor=actor), _("Authorization verified."))


# --- sealing check and monitoring (V7, V8) ------------------------------------------------
def show_sealing(site_id: str, session_id: int, error=None, status=200):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    sess = db.session.get(ExamSession, session_id)
    rooms = [x for x in exam_data.site_sittings(db.session, site.id,
                                                actor=current_actor()) if x.session_id == session_id]
    if sess is None or not rooms:
        abort(404)
    return render_template("site/sealing.html", user=user, site=site, sess=sess, rooms=rooms,
                           latest=sealing.latest(db.session, site.id, session_id, actor=current_actor()),
                           conditions=dict(sealing.CONDITIONS),
                           error=error), status


def run_sealing(site_id: str, session_id: int):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    ok, result = _act(lambda s: sealing.check(s, site.id, session_id, secret_key=_secret(), actor=_actor(user)),
                      lambda row: _("Sealing check passed: the site is ready.") if row.passed
                      else _("Sealing check: not ready; see the conditions below."), show_sealing, site_id, session_id)
    return redirect(url_for("site.show_sealing", site_id=site_id, session_id=session_id)) if ok else result


def show_monitor(site_id: str, session_id: int):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    table = sealing.monitor(db.session, site.id, session_id, secret_key=_secret(), actor=current_actor())
    if not table["rows"]:
        abort(404)
    return render_template("site/monitor.html", user=user, site=site, table=table)


# --- stations (V5) ------------------------------------------------------------------------
def show_stations(site_id: str, error=None, status=200):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    return render_template("site/stations.html", user=user, site=site,
                           rooms=stations.site_registrations(db.session, site.id, secret_key=_secret(),
                                                             actor=current_actor()),
                           counts=stations.counts(db.session, site.id, actor=current_actor()), error=error), status


def new_station_code(site_id: str, room_id: int):
    user = _admin()
    _site, room = _room(site_id)
    ok, result = _act(lambda s: stations.issue_code(s, room.id, secret_key=_secret(), actor=_actor(user)),
                      _("New registration code made."), show_stations, site_id)
    return redirect(url_for("site.show_stations", site_id=site_id)) if ok else result


def revoke_station(site_id: str, room_id: int):
    user = _admin()
    site, room = _room(site_id)
    if request.method == "GET":  # the confirmation page
        reg = stations.current(db.session, room.id, secret_key=_secret())
        return render_template("site/revoke_station.html", user=user, site=site, room=room, reg=reg)
    ok, result = _act(lambda s: stations.revoke(s, room.id, actor=_actor(user), secret_key=_secret()),
                      _("Registration revoked; the room has a new registration code."), show_stations, site_id)
    return redirect(url_for("site.show_stations", site_id=site_id)) if ok else result


def site_info(site_id: str):
    """For people: the rooms with their codes, to hand to each room."""
    user = _admin()
    sheet = stations.info_sheet(db.session, site_id, secret_key=_secret(), actor=current_actor())
    return render_template("site/site_info.html", user=user, **sheet)


def site_file(site_id: str):
    user = _admin()
    site = venues.get_site(db.session, site_id, actor=current_actor())
    with transaction() as s:
        body = stations.export_site_file(s, site.id, secret_key=_secret(), actor=_actor(user))
    return _download(body, f"site-{site.code}.ebsite")
