"""The candidate's own steps (log in, pre-exam form, rules, start, lock, unlock, settle) as
units of work for the group writer (``bridge.runtime.writer``), taking ids and returning plain
values.

Why: at the start of an exam a whole room logs in, confirms the rules and starts within
seconds, and each step writes. On SQLite a write made on the gevent loop waits there for
the write lock while the writer's batch holds it, stalling every request of the process;
through the writer these steps share the autosaves' batches, off the loop. The rules stay in
``bridge.services.delivery.attempts``.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt, InfoFormResponse
from bridge.services.delivery import attempts
from bridge.services.exams import exams


def _attempt(session: Session, attempt_id: int) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound(N_("That attempt does not exist."))
    return attempt


def _state(attempt: Attempt) -> dict[str, Any]:
    return {"id": attempt.id, "status": attempt.status, "lock_count": attempt.lock_count}


def log_in(session: Session, exam_id: int, user_id: int, address: str) -> dict[str, Any]:
    return _state(attempts.log_in(session, exams.get_exam(session, exam_id), user_id, address=address))


def save_info(session: Session, attempt_id: int, data: dict) -> dict[str, Any]:
    """The pre-exam form's answers, stored once (C2)."""
    attempt = _attempt(session, attempt_id)
    if session.scalars(select(InfoFormResponse).where(InfoFormResponse.attempt_id == attempt_id)).first() is None:
        session.add(InfoFormResponse(attempt_id=attempt_id, data=data))
        session.flush()
    return _state(attempt)


def settle(session: Session, attempt_id: int) -> dict[str, Any]:
    return _state(attempts.settle(session, _attempt(session, attempt_id)))


def read_rules(session: Session, attempt_id: int, address: str) -> dict[str, Any]:
    return _state(attempts.read_rules(session, _attempt(session, attempt_id), address=address))


def start(session: Session, attempt_id: int, address: str) -> dict[str, Any]:
    return _state(attempts.start(session, _attempt(session, attempt_id), address=address))


def lock(session: Session, attempt_id: int, why: str, address: str) -> dict[str, Any]:
    return _state(attempts.lock(session, _attempt(session, attempt_id), why=why, address=address))


def page_unloaded(session: Session, attempt_id: int, why: str, address: str) -> dict[str, Any]:
    return _state(attempts.page_unloaded(session, _attempt(session, attempt_id), why=why, address=address))


def unlock_by_code(session: Session, attempt_id: int, code: str, address: str,
                   counted: str | None = None) -> dict[str, Any]:
    """A refused code raises ``attempts.UnlockRefused``, whose candidate-log line the writer
    keeps; ``counted``: what ``attempts.count_unlock_try`` returned before this step."""
    return _state(attempts.unlock(session, _attempt(session, attempt_id), actor="candidate", code=code,
                                  address=address, counted=counted))
