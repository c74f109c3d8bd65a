"""Candidate pages: HTTP only; the attempt's rules live in bridge.services.delivery.attempts."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from bridge.extensions import transaction
from bridge.errors import DomainError
from bridge.extensions import db
from bridge.models.attempts import Attempt, InfoFormResponse
from bridge.models.bank import Question, QuestionMedia
from bridge.models.papers import ExamSession, Paper
from bridge.services.delivery import attempt_steps as steps, attempts, standing
from bridge.services.exams import exams
from bridge.services.delivery.attempts import StartNotOpen, TooManyTries
from bridge.web.auth import current_user, require_user
from bridge.web.media import file_response
from bridge.runtime.writer import get_writer


def _own(attempt_id: int) -> Attempt:
    user = require_user()
    attempt = db.session.get(Attempt, attempt_id)
    if attempt is None:
        abort(404)
    if attempt.user_id != user.id:
        abort(403)
    return attempt


def _addr() -> str:
    return request.remote_addr or ""


def _step(fn, *args) -> dict:
    """A candidate's step through the group writer (``bridge.services.delivery.attempt_steps``)."""
    db.session.close()  # give the read connection back: the request waits on the writer next
    return get_writer(current_app).submit(fn, *args)


def sit(exam_id: int):
    user = require_user()
    exams.get_exam(db.session, exam_id)  # 404 for an unknown exam
    state = _step(steps.log_in, exam_id, user.id, _addr())
    return redirect(url_for("delivery.attempt", attempt_id=state["id"]))


def code():
    user = require_user()
    if request.method == "GET":
        return render_template("delivery/code.html", error=None)
    try:
        with transaction() as s:
            attempt = attempts.enter_by_code(s, request.form.get("code", ""), user.id, address=_addr())
            attempt_id = attempt.id
    except TooManyTries as exc:
        return render_template("delivery/code.html", error=exc.message), 429
    except DomainError as exc:
        return render_template("delivery/code.html", error=exc.message), exc.http_status
    return redirect(url_for("delivery.attempt", attempt_id=attempt_id))


def attempt(attempt_id: int):
    a = _own(attempt_id)
    if a.status in ("in_exam", "locked") and attempts.remaining_ms(a) == 0:  # time is up: submit what is stored
        _step(steps.settle, attempt_id)
        a = _own(attempt_id)
    paper = db.session.scalars(select(Paper).where(Paper.exam_id == a.exam_id)).first()
    exam = exams.get_exam(db.session, a.exam_id)
    sitting = db.session.get(ExamSession, a.session_id)
    ctx = dict(attempt=a, exam=exam, paper=paper, sitting=sitting, standing=standing.of(db.session, exam, a.user_id))
    if a.status == "submitted":
        return render_template("delivery/submitted.html", **ctx)
    if a.status in ("absent", "voided"):
        return render_template("delivery/closed.html", **ctx)
    if a.status == "logged_in":
        needs_info = paper.info_form and db.session.scalars(select(InfoFormResponse).where(
            InfoFormResponse.attempt_id == a.id)).first() is None
        return render_template("delivery/info.html" if needs_info else "delivery/rules.html", errors=None, **ctx)
    if a.status == "rules_read":
        g = attempts.start_gate(db.session, a)
        return render_template("delivery/waiting.html", gate=g,
                               ends_at=g.starts_at + dt.timedelta(minutes=exam.duration_minutes), **ctx)
    questions = {q.id: q for q in db.session.scalars(select(Question).where(
        Question.id.in_([i["question_id"] for i in a.items])))}
    from flask import session as web_session

    from bridge.services.delivery.forwarding import mint_forward_token  # the kiosk agent forwards with it (docs/kiosk.md)

    # the token names the epoch of this sign-in: a page of the old seat after a resume stays fenced
    token = mint_forward_token(db.session, current_app.config["SECRET_KEY"], a.id,
                               signed_in_at=web_session.get("signed_in_at"))
    return render_template("delivery/exam.html", questions=questions, remaining_ms=attempts.remaining_ms(a),
                           forward_token=token,
                           # a remote sitting (exam code) has no exam PCs: no probe of 127.0.0.1 there
                           kiosk_agent_url="" if sitting.exam_code else current_app.config.get("KIOSK_AGENT_URL") or "",
                           **ctx)


def save_info(attempt_id: int):
    a = _own(attempt_id)
    paper = db.session.scalars(select(Paper).where(Paper.exam_id == a.exam_id)).first()
    try:
        data = attempts.validate_info_form(paper.info_form or [], request.form)
    except DomainError as exc:
        return render_template("delivery/info.html", attempt=a, paper=paper, exam=exams.get_exam(db.session, a.exam_id),
                               errors=exc.message, form=request.form), 422
    _step(steps.save_info, attempt_id, data)
    return redirect(url_for("delivery.attempt", attempt_id=attempt_id))


def read_rules(attempt_id: int):
    a = _own(attempt_id)
    if request.form.get("confirm") != "1":
        return redirect(url_for("delivery.attempt", attempt_id=a.id))
    _step(steps.read_rules, a.id, _addr())
    return redirect(url_for("delivery.attempt", attempt_id=attempt_id))


def gate(attempt_id: int):
    """GET → the waiting page's one clock: whether the start is open by the server's time,
    why not ("time", "proctor", "authorization") and the milliseconds left."""
    a = _own(attempt_id)
    if a.status != "rules_read":
        return jsonify(status=a.status, open=a.status in ("in_exam", "locked"), reason=None, remaining_ms=0)
    g = attempts.start_gate(db.session, a)
    return jsonify(status=a.status, open=g.open, reason=None if g.open else g.reason, remaining_ms=g.remaining_ms)


def start(attempt_id: int):
    """A start that comes too early (or before the proctor's "allow start") goes back to the
    waiting page, which counts down again or waits for the proctor: never an error page."""
    _own(attempt_id)
    try:
        _step(steps.start, attempt_id, _addr())
    except StartNotOpen:
        flash(_("The exam is not open yet. This page opens it by itself as soon as it starts."))
    return redirect(url_for("delivery.attempt", attempt_id=attempt_id))


def page_unloaded(attempt_id: int):
    """The exam page is going away (reload, close, navigation): the page's beacon. Not a lock."""
    _own(attempt_id)
    why = str(request.form.get("why") or (request.get_json(silent=True) or {}).get("why") or "unload")[:80]
    _step(steps.page_unloaded, attempt_id, why, _addr())
    return ("", 204)


def candidate_globals() -> dict:
    """``candidate_standing(exam)`` for the course page and the exam's page (main blueprint):
    the signed-in person's standing in that exam (``bridge.services.delivery.standing``)."""
    def candidate_standing(exam):
        user = current_user()
        return standing.of(db.session, exam, user.id) if user is not None else None

    return {"candidate_standing": candidate_standing}


def lock(attempt_id: int):
    """The page reports that the candidate left it (blur, tab switch, fullscreen exit)."""
    _own(attempt_id)
    why = str((request.get_json(silent=True) or {}).get("why", "left the page"))
    state = _step(steps.lock, attempt_id, why, _addr())
    return jsonify(status=state["status"], lock_count=state["lock_count"])


def unlock(attempt_id: int):
    a = _own(attempt_id)
    code = str((request.get_json(silent=True) or {}).get("code", ""))
    counted = attempts.count_unlock_try(db.session, a)  # committed before the writer compares the code
    try:
        state = _step(steps.unlock_by_code, attempt_id, code, _addr(), counted)  # a refusal stays in the log
    except DomainError as exc:
        return jsonify(error=exc.code, message=_(exc.message)), exc.http_status
    return jsonify(status=state["status"])


def media(attempt_id: int, question_id: int, name: str):
    a = _own(attempt_id)
    if a.status not in ("in_exam", "locked", "submitted") or question_id not in {i["question_id"] for i in a.items}:
        abort(404)
    row = db.session.scalars(select(QuestionMedia).where(QuestionMedia.question_id == question_id,
                                                         QuestionMedia.name == name)).first()
    if row is None:
        abort(404)
    return file_response(row.data, name=row.name)  # an image inline by its bytes, else a download


def upload(attempt_id: int, question_id: int):
    """An operation task's file (C4); the page then saves an answer event naming it."""
    a = _own(attempt_id)
    f = request.files.get("file")
    if f is None or not f.filename:
        return jsonify(error="invalid", message=_("Choose a file to upload.")), 422
    data = f.read()
    try:
        with transaction() as s:
            row = attempts.store_upload(s, a, question_id, name=f.filename, mime=f.mimetype or "", data=data)
            body = {"sha256": row.sha256, "name": row.name, "size": row.size}
    except DomainError as exc:
        return jsonify(error=exc.code, message=_(exc.message)), exc.http_status
    return jsonify(body)
