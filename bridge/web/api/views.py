"""Thin views: check who is asking, hand the work to the group writer, render JSON."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request, session

from bridge import clock
from bridge.errors import Forbidden, Invalid, NotFound, Unauthorized
from bridge.extensions import db
from bridge.i18n import N_
from bridge.models.attempts import Attempt
from bridge.services.delivery import answers
from bridge.services.delivery import submits
from bridge.web.api import owners
from bridge.web.auth import signed_in_user_id
from bridge.runtime.scorer import get_scorer
from bridge.runtime.writer import get_writer

log = logging.getLogger(__name__)

MAX_EVENTS = 100


def _require_owner(attempt_id: int) -> int:
    """The signed-in user's id, if they are the attempt's candidate (401 / 404 / 403 otherwise)."""
    user_id = signed_in_user_id()
    if user_id is None:
        raise Unauthorized(N_("Your sign-in has expired. Open the exam again from your course."))
    owner = owners.owner_of(current_app, db.engine, attempt_id)
    if owner is None:
        raise NotFound(N_("That attempt does not exist."))
    if owner != user_id:
        raise Forbidden(N_("This attempt belongs to another candidate."))
    return user_id


def _json_object() -> dict:
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        return {}
    if not isinstance(body, dict):
        raise Invalid(N_("The request body must be a JSON object."))
    return body


def save_answers(attempt_id: int):
    """POST {"events": [...]} → {"acks": [...]}: one entry per event, in order, either an
    ack or {"seq", "error", "message"}."""
    _require_owner(attempt_id)
    events = _json_object().get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise Invalid(N_("Send {\"events\": [...]} with 1 to 100 events."))
    # the session's sign-in stamps the epoch (DESIGN "Epochs"), never the events' own field
    carrier = answers.Carrier(signed_in_at=session.get("signed_in_at"))
    results = get_writer(current_app).submit_grouped(answers.append_many,
                                                     [(attempt_id, event, carrier) for event in events])
    outcomes = [answers.outcome(event, result) for event, result in zip(events, results)]
    return jsonify(acks=outcomes)


def submit_attempt(attempt_id: int):
    """POST {"key": "..."} → {"status": "submitted", "submitted_at", "reason", "duplicate"}.
    Stored first, scored right after by the scorer (``bridge.runtime.scorer``)."""
    user_id = _require_owner(attempt_id)
    fields = {"key": _json_object().get("key"), "actor": f"user:{user_id}", "address": request.remote_addr or ""}
    result = get_writer(current_app).submit_grouped(submits.submit_many, [(attempt_id, fields)])[0]
    if isinstance(result, BaseException):
        raise result
    if not result.duplicate:
        get_scorer(current_app).enqueue(attempt_id)
    return jsonify(result.as_dict())


def attempt_state(attempt_id: int):
    """GET → status, remaining_ms (deadline − now, by the server's clock), epoch, the
    current answers and each writer's highest seq and chain head."""
    _require_owner(attempt_id)
    attempt = db.session.get(Attempt, attempt_id)
    remaining = None
    if attempt.deadline_at is not None:
        remaining = max(0, int((attempt.deadline_at - clock.utcnow_naive()).total_seconds() * 1000))
    current = answers.current_answers(db.session, attempt_id)
    return jsonify(status=attempt.status, remaining_ms=remaining, epoch=attempt.epoch,
                   answers={str(q): r for q, r in current.items()},
                   writers=answers.writer_heads(db.session, attempt_id))
