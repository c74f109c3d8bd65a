"""Proctor console pages: HTTP only (``bridge.services.proctoring.console`` holds the rules)."""
from __future__ import annotations

import re

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from bridge import clock
from bridge.extensions import transaction
from bridge.errors import DomainError, Invalid
from bridge.extensions import db
from bridge.i18n import N_
from bridge.models.devices import Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession
from bridge.models.sittings import Sitting
from bridge.services.people import access, accounts
from bridge.services.proctoring import authcodes, console
from bridge.services.proctoring import mock_acts
from bridge.services.proctoring import resumes
from bridge.services.proctoring import incidents
from bridge.services.proctoring import boards
from bridge.services.proctoring import basics
from bridge.services.exams import sitting_state
from bridge.web.auth import current_actor, current_user, require_staff


def _admin():
    """The signed-in staff member (the scope of each sitting is checked before the view,
    ``bridge.web.console.scope``, and again by the services)."""
    require_staff()
    return current_user()


def _number(value: str | None) -> int | None:
    """A whole number from a form field (ASCII digits, at most 9), else None."""
    value = (value or "").strip()
    return int(value) if re.fullmatch(r"[0-9]{1,9}", value) else None


def _actor(user) -> str:
    return current_actor()


def _sitting(sitting_id: int) -> Sitting:
    return basics.sitting_of(db.session, sitting_id, current_actor())


def home():
    user = _admin()
    rows = db.session.execute(select(Sitting, ExamSession, Exam.title, Room.code)
                              .join(ExamSession, ExamSession.id == Sitting.session_id)
                              .join(Exam, Exam.id == ExamSession.exam_id).join(Room, Room.id == Sitting.room_id)
                              .order_by(ExamSession.starts_at.desc(), Room.code).limit(1000)).all()
    actor = current_actor()
    rows = [r for r in rows if access.may_sitting(db.session, actor, r[0])][:200]
    sittings = [{"id": s.id, "room": code, "session": sess.name, "exam": title, "starts_at": sess.starts_at,
                 "state": sitting_state.state(s, sess)} for s, sess, title, code in rows]
    return render_template("console/home.html", user=user, sittings=sittings)


def show(sitting_id: int, error=None, status=200, request_info=None):
    user = _admin()
    sitting = _sitting(sitting_id)
    board = boards.board(db.session, sitting.id, actor=current_actor())
    if not sitting.staff:
        return render_template("console/enter.html", user=user, board=board, error=error), status
    from bridge.models.venues import Site

    site = db.session.get(Site, sitting.site_id) if sitting.site_id else None
    return render_template("console/board.html", user=user, board=board, room_id=sitting.room_id,
                           mock=site is not None and site.mode == "mock",
                           catalogue=incidents.catalogue(db.session), free_extra=current_app.config["FREE_EXTRA_SECONDS"],
                           open_requests=authcodes.open_requests(db.session, room_id=sitting.room_id),
                           request_info=request_info, now=clock.utcnow_naive(), error=error), status


def _act(sitting_id: int, fn, done):
    """``fn(session, actor)`` in a transaction, then back to the board; a refusal shows the
    board with its reason."""
    user = _admin()
    _sitting(sitting_id)
    try:
        with transaction() as s:
            result = fn(s, _actor(user))
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return show(sitting_id, error=exc.translated(), status=exc.http_status)
    flash(done(result) if callable(done) else done)
    return redirect(url_for("console.show", sitting_id=sitting_id))


def enter(sitting_id: int):
    form = request.form
    proctors = [{"name": n, "phone": p} for n, p in zip(form.getlist("proctor_name"), form.getlist("proctor_phone"))]
    return _act(sitting_id, lambda s, actor: console.enter(
        s, sitting_id, admin_name=form.get("admin_name", ""), admin_phone=form.get("admin_phone", ""),
        proctors=proctors, actor=actor), _("Welcome to the room's console."))


def board_json(sitting_id: int):
    _admin()
    _sitting(sitting_id)
    return jsonify(boards.board(db.session, sitting_id, actor=current_actor()).as_dict())


def _request_id():
    return _number(request.form.get("request_id"))


def allow_login(sitting_id: int):
    return _act(sitting_id, lambda s, actor: console.allow_login(s, sitting_id, actor=actor), _("Login allowed."))


def allow_start(sitting_id: int):
    return _act(sitting_id, lambda s, actor: console.allow_start(
        s, sitting_id, secret_key=current_app.config["SECRET_KEY"], request_id=_request_id(),
        code=request.form.get("code", ""), actor=actor), _("Start allowed: the countdown runs."))


def request_code(sitting_id: int):
    """Ask the authority for a code: the page then shows the request code to read out."""
    user = _admin()
    sitting = _sitting(sitting_id)
    sess = db.session.get(ExamSession, sitting.session_id)
    form = request.form
    numbers = [n for n in form.getlist("admission_number") if n]
    value = _number(form.get("parameter", "0") or "0")
    try:
        if value is None:
            raise Invalid(N_("The value asked for must be a whole number of 0 or more."))
        with transaction() as s:
            made = authcodes.request(s, room_id=sitting.room_id, session_id=sess.id, subject=sess.exam_id,
                                     action=form.get("action", ""), candidates=numbers, parameter=value,
                                     actor=_actor(user))
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return show(sitting_id, error=exc.translated(), status=exc.http_status)
    return show(sitting_id, request_info=made)


def violations(sitting_id: int):
    user = _admin()
    _sitting(sitting_id)
    if request.method == "POST":
        form = request.form
        return _act(sitting_id, lambda s, actor: incidents.register_violation(
            s, sitting_id, _number(form.get("attempt_id")) or 0, code=form.get("code", ""),
            description=form.get("description", ""), actor=actor), _("Violation registered."))
    return render_template("console/violations.html", user=user, board=boards.board(db.session, sitting_id,
                                                                                     actor=current_actor()),
                           rows=incidents.violations(db.session, sitting_id, include_cancelled=True,
                                                   actor=current_actor()))


def cancel_violation(sitting_id: int, violation_id: int):
    return _act(sitting_id, lambda s, actor: incidents.cancel_violation(
        s, sitting_id, violation_id, reason=request.form.get("reason", ""), actor=actor), _("Violation cancelled."))


def extra_time(sitting_id: int):
    form = request.form
    return _act(sitting_id, lambda s, actor: incidents.extra_time(
        s, sitting_id, _number(form.get("attempt_id")) or 0, seconds=_number(form.get("seconds")) or 0,
        reason=form.get("reason", ""), secret_key=current_app.config["SECRET_KEY"], request_id=_request_id(),
        code=form.get("code", ""), actor=actor, free_seconds=int(current_app.config["FREE_EXTRA_SECONDS"])),
        lambda added: _("Extra time given: %(added)s s actually added.", added=added))


def absent(sitting_id: int):
    users = [n for n in map(_number, request.form.getlist("user_id")) if n is not None]
    return _act(sitting_id, lambda s, actor: incidents.register_absent(s, sitting_id, users, actor=actor),
                lambda count: _("%(count)s candidate(s) registered absent.", count=count))


def end(sitting_id: int):
    """End of the exam: the blockers listed; the room's system admin signs again."""
    user = _admin()
    sitting = _sitting(sitting_id)
    blockers = console.end_blockers(db.session, sitting.id, actor=current_actor())
    if request.method == "GET":
        return render_template("console/end.html", user=user, board=boards.board(db.session, sitting.id,
                                                                                  actor=current_actor()),
                               blockers=blockers, error=None)
    if not accounts.check_password(user, request.form.get("password", "")):
        return render_template("console/end.html", user=user, board=boards.board(db.session, sitting.id,
                                                                                  actor=current_actor()),
                               blockers=blockers, error=_("Your password is wrong; ending the exam needs it again.")), 403
    return _act(sitting_id, lambda s, actor: console.end_exam(s, sitting_id, actor=actor), _("The exam has ended."))


def _notify(command_ids: list[int]) -> None:
    from bridge.hub import notify_commands

    if command_ids:
        notify_commands(current_app._get_current_object(), command_ids)


def resume(sitting_id: int):
    form = request.form
    users = [n for n in map(_number, form.getlist("user_id")) if n is not None]
    user = _admin()
    _sitting(sitting_id)
    try:
        with transaction() as s:
            done = resumes.resume(s, sitting_id, users, reason=form.get("reason", ""),
                                  description=form.get("description", ""), secret_key=current_app.config["SECRET_KEY"],
                                  request_id=_request_id(), code=form.get("code", ""), actor=_actor(user))
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return show(sitting_id, error=exc.translated(), status=exc.http_status)
    _notify(done.close_on)
    flash(_("%(count)s candidate(s) may continue on any seat; time lost: %(lost)s s.", count=len(done.attempt_ids),
            lost=", ".join(str(v) for v in done.lost_seconds.values())))
    return redirect(url_for("console.show", sitting_id=sitting_id))


def lock_screen(sitting_id: int):
    form = request.form
    user = _admin()
    _sitting(sitting_id)
    unlock = form.get("unlock") == "1"
    try:
        with transaction() as s:
            if unlock:
                ids = incidents.unlock_screen(s, sitting_id, _number(form.get("attempt_id")) or 0, actor=_actor(user))
            else:
                ids = incidents.lock_screen(s, sitting_id, _number(form.get("attempt_id")) or 0,
                                          message=form.get("message", ""), actor=_actor(user))
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return show(sitting_id, error=exc.translated(), status=exc.http_status)
    _notify(ids)
    flash(_("The candidate's screen is unlocked.") if unlock else _("The candidate's screen is locked with your message."))
    return redirect(url_for("console.show", sitting_id=sitting_id))


def import_pack(sitting_id: int):
    """P6: an answer pack exported from a kiosk (USB), merged: newer data wins, nothing older
    overwrites newer."""
    from bridge.runtime.writer import get_writer
    from bridge.services.delivery import packs

    user = _admin()
    _sitting(sitting_id)
    f = request.files.get("file")
    if f is None or not f.filename:
        return show(sitting_id, error=_("Choose the answer pack file to import."), status=422)
    data = f.read(packs.MAX_PACK_BYTES + 1)
    override = request.form.get("override") == "1"
    try:
        report = packs.import_pack(get_writer(current_app), data, actor=_actor(user),
                                   secret_key=current_app.config["SECRET_KEY"], allow_unregistered=override,
                                   reason=request.form.get("reason", ""))
    except DomainError as exc:
        return show(sitting_id, error=exc.translated(), status=exc.http_status)
    flash(_("Answer pack imported for attempt %(attempt)s: %(accepted)s answers stored, %(duplicate)s already held, "
            "%(refused)s refused.", attempt=report.attempt_id, accepted=report.accepted, duplicate=report.duplicate,
            refused=report.refused))
    return redirect(url_for("console.show", sitting_id=sitting_id))


def remote(sitting_id: int):
    """P13: the chosen seats (list view) or every PC of the room, after the page's confirmation."""
    user = _admin()
    _sitting(sitting_id)
    form = request.form
    seats_ = None if form.get("scope") == "all" else [n for n in map(_number, form.getlist("seat")) if n is not None]
    try:
        with transaction() as s:
            ids = console.remote(s, sitting_id, seats_, form.get("action", ""), actor=_actor(user))
    except DomainError as exc:
        if exc.http_status == 404:
            raise
        return show(sitting_id, error=exc.translated(), status=exc.http_status)
    _notify(ids)
    flash(_("Sent to %(count)s exam PC(s).", count=len(ids)))
    return redirect(url_for("console.show", sitting_id=sitting_id))


def re_exam(sitting_id: int):
    """P8: the page's box ticked, the code, and the browser's second confirmation."""
    form = request.form
    return _act(sitting_id, lambda s, actor: console.re_exam(
        s, sitting_id, _number(form.get("attempt_id")) or 0, understood=form.get("understood") == "1",
        confirmed=form.get("confirmed") == "1", request_id=_request_id(), code=form.get("code", ""),
        secret_key=current_app.config["SECRET_KEY"], actor=actor),
        _("Re-exam opened: the candidate logs in again and starts from an empty paper."))


def collect(sitting_id: int):
    return _act(sitting_id, lambda s, actor: console.collect(s, sitting_id,
                                                             _number(request.form.get("attempt_id")) or 0,
                                                             actor=actor), _("Submitted from the answer pack."))


def mock(sitting_id: int, act: str):
    """P14: a mock exam's extras (refused at a formal site)."""
    acts = {"login": (mock_acts.mock_login, _("%(count)s candidate(s) logged in.")),
            "answer": (mock_acts.mock_answer, _("%(count)s objective answer(s) given.")),
            "collect": (mock_acts.mock_collect, _("%(count)s attempt(s) collected."))}
    fn, message = acts[act]
    return _act(sitting_id, lambda s, actor: fn(s, sitting_id, actor=actor), lambda count: message % {"count": count})


def violation_codes():
    """The violation catalogue (P3): add a code, change its text, make it inactive."""
    user = _admin()
    error, status = None, 200
    if request.method == "POST":
        form = request.form
        try:
            with transaction() as s:
                incidents.save_violation_code(s, form.get("code", ""), form.get("text", ""),
                                            active=form.get("active") == "1", actor=_actor(user))
            flash(_("Violation code saved."))
            return redirect(url_for("console.violation_codes"))
        except DomainError as exc:
            error, status = exc.translated(), exc.http_status
    with transaction() as s:
        codes = [(c.code, c.text, c.active) for c in incidents.catalogue(s)]
    return render_template("console/violation_codes.html", user=user, codes=codes, error=error), status


def cancel_request(sitting_id: int, request_id: int):
    """Withdraw an open authorization request of this room (a mistaken one blocks a place)."""
    sitting = _sitting(sitting_id)

    def cancel(s, actor):
        from bridge.models.authcodes import AuthRequest

        row = s.get(AuthRequest, request_id)
        if row is None or row.room_id != sitting.room_id:
            from bridge.errors import NotFound
            raise NotFound(N_("There is no request with this request code."))
        authcodes.cancel(s, request_id, actor=actor)
    return _act(sitting_id, cancel, _("Request withdrawn."))
