"""The one submit: a candidate's (or the locks', the deadline's, a proctor's) submission of an
attempt, idempotent on its key, alone or as a batch on the group writer; the submitted
attempt is then scored (``bridge.runtime.scorer``, or at once when asked)."""
from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import logging
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import DomainError, Invalid, NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt
from bridge.services.delivery import answer_store
from bridge.services.delivery.answers import _INSERT_LOG, NotInExam, TooEarly, _attempts, _iso, _lock_attempt


SUBMIT_REASONS = ("candidate", "locks", "deadline", "proctor")


log = logging.getLogger(__name__)
_SUBMIT = (update(_attempts).where(_attempts.c.id == bindparam("attempt_id"))
           .values(status="submitted", submitted_at=bindparam("now"), submit_reason=bindparam("reason")))


@dataclass(frozen=True)
class SubmitResult:
    status: str
    submitted_at: str  # ISO 8601, UTC
    reason: str
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- submit -------------------------------------------------------------------------------
def submit(session: Session, attempt_id: int, *, reason: str, idempotency_key: str | None,
           actor: str = "", address: str = "") -> SubmitResult:
    """Submit the attempt once. A second submit (a retry, another tab) returns the first
    result with ``duplicate=True`` and changes nothing. Scores objective items when the
    scoring service is installed (``bridge.services.delivery.scoring``)."""
    if reason not in SUBMIT_REASONS:
        raise Invalid(N_("Unknown reason for submitting."))
    if idempotency_key is not None and (not isinstance(idempotency_key, str) or len(idempotency_key) > 100):
        raise Invalid(N_("The submit key must be a text of at most 100 characters."))
    conn = session.connection()
    attempt = _lock_attempt(conn, attempt_id)
    if attempt.status == "submitted":
        return SubmitResult("submitted", _iso(attempt.submitted_at), attempt.submit_reason, True)
    if attempt.status not in ("in_exam", "locked"):
        raise NotInExam(N_("This exam is not in progress, so it cannot be submitted."))
    now = clock.utcnow_naive()
    if reason == "candidate":
        _check_early_submission(session, attempt_id, now)
    conn.execute(_SUBMIT, {"attempt_id": attempt_id, "now": now, "reason": reason})
    conn.execute(_INSERT_LOG, {"attempt_id": attempt_id, "at": now, "action": "submit", "actor": actor or reason,
                               "address": address, "detail": {"reason": reason, "key": idempotency_key}})
    _score(session, attempt_id)
    return SubmitResult("submitted", _iso(now), reason, False)


def submit_many(session: Session, items: Sequence[tuple[int, dict]]) -> list[SubmitResult | DomainError]:
    """The candidates' own submits, a batch at a time (the group writer's grouped path): each
    ``(attempt_id, {"key", "actor", "address"})`` gets what ``submit(reason="candidate")``
    would give, in a constant number of statements per batch. Scoring is left to the caller
    (``bridge.runtime.scorer`` scores right after the commit; the sweeper catches what a crash left
    unscored), so a burst of submits is stored first."""
    results: list[Any] = [None] * len(items)
    wanted = []
    for index, (attempt_id, fields) in enumerate(items):
        key = fields.get("key")
        if key is not None and (not isinstance(key, str) or len(key) > 100):
            results[index] = Invalid(N_("The submit key must be a text of at most 100 characters."))
            continue
        wanted.append((index, attempt_id, fields))
    if not wanted:
        return results
    conn = session.connection()
    store = answer_store.store_for(conn)
    states = store.load_for_submit(conn, sorted({attempt_id for _i, attempt_id, _f in wanted}))
    now = clock.utcnow_naive()
    done: dict[int, SubmitResult] = {}
    logs: list[dict] = []
    for index, attempt_id, fields in wanted:
        state = states.get(attempt_id)
        if attempt_id in done:
            results[index] = SubmitResult("submitted", _iso(now), "candidate", True)
        elif state is None:
            results[index] = NotFound(N_("That attempt does not exist."))
        elif state.status == "submitted":
            results[index] = SubmitResult("submitted", _iso(state.submitted_at), state.submit_reason, True)
        elif state.status not in ("in_exam", "locked"):
            results[index] = NotInExam(N_("This exam is not in progress, so it cannot be submitted."))
        elif state.early_submit_minutes and now < state.starts_at + dt.timedelta(minutes=state.early_submit_minutes):
            results[index] = TooEarly(N_("Submitting opens %(n)d minutes after the start; keep working until then.")
                                      % {"n": state.early_submit_minutes})
        else:
            done[attempt_id] = results[index] = SubmitResult("submitted", _iso(now), "candidate", False)
            logs.append({"attempt_id": attempt_id, "at": now, "action": "submit",
                         "actor": fields.get("actor") or "candidate", "address": fields.get("address") or "",
                         "detail": {"reason": "candidate", "key": fields.get("key")}})
    if done:
        store.mark_submitted(conn, sorted(done), now, "candidate")
        store.insert_logs(conn, logs)
    return results


def _check_early_submission(session: Session, attempt_id: int, now: dt.datetime) -> None:
    """The paper's early-submission time (C3): a candidate submits no earlier than that many
    minutes after the session's start. Locks, the deadline and the proctor are not bound by it."""
    from bridge.models.papers import ExamSession, Paper

    row = session.execute(select(ExamSession.starts_at, Paper.early_submit_minutes)
                          .join(Attempt, Attempt.session_id == ExamSession.id)
                          .join(Paper, Paper.exam_id == Attempt.exam_id)
                          .where(Attempt.id == attempt_id)).first()
    if row is None or not row.early_submit_minutes:
        return
    opens = row.starts_at + dt.timedelta(minutes=row.early_submit_minutes)
    if now < opens:
        raise TooEarly(N_("Submitting opens %(n)d minutes after the start; keep working until then.")
                       % {"n": row.early_submit_minutes})


@functools.lru_cache(maxsize=1)
def _scoring_module():
    """``bridge.services.delivery.scoring`` if installed, looked up once (a miss scans sys.path)."""
    if importlib.util.find_spec("bridge.services.delivery.scoring") is None:
        return None
    return importlib.import_module("bridge.services.delivery.scoring")


def _score(session: Session, attempt_id: int) -> None:
    """Objective scoring belongs to ``bridge.services.delivery.scoring`` (another module, maybe not
    installed yet). A scoring failure never undoes the submission: it is logged and the
    attempt stays unscored for a later run."""
    scoring = _scoring_module()
    if scoring is None:
        return

    try:
        with session.begin_nested():
            attempt = session.get(Attempt, attempt_id, populate_existing=True)
            scoring.score_attempt(session, attempt)
    except Exception:
        log.exception("scoring attempt %s failed; the submission stands", attempt_id)
