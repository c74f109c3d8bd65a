"""The one submit: a candidate's (or the locks', the deadline's, a proctor's) submission of an
attempt, idempotent on its key, alone or as a batch on the group writer; the submitted
attempt is then scored (by ``bridge.runtime.scorer`` after a batch, in the same unit of work
alone), always through ``scoring.score_submitted``."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import DomainError, Invalid, NotFound
from bridge.i18n import N_
from bridge.services.delivery import answer_store
from bridge.services.delivery import scoring
from bridge.services.delivery.answers import NotInExam, TooEarly, _iso


SUBMIT_REASONS = ("candidate", "locks", "deadline", "proctor")


log = logging.getLogger(__name__)


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
    """Submit the attempt once, and score it in the same unit of work: the locks', the
    deadline's and the proctor's submits, which have no scorer behind them. A second submit
    (a retry, another tab) returns the first result with ``duplicate=True`` and changes
    nothing. The same implementation as the candidates' batched submits (``submit_many``)."""
    result = submit_many(session, [(attempt_id, {"reason": reason, "key": idempotency_key,
                                                 "actor": actor, "address": address})])[0]
    if isinstance(result, DomainError):
        raise result
    if not result.duplicate:
        scoring.score_submitted(session, [attempt_id])
    return result


def submit_many(session: Session, items: Sequence[tuple[int, dict]]) -> list[SubmitResult | DomainError]:
    """The one submit, a batch at a time (the group writer's grouped path for the candidates'
    own submits): each ``(attempt_id, {"reason", "key", "actor", "address"})`` is submitted
    once, in a constant number of statements per batch; ``reason`` defaults to ``candidate``,
    and only a candidate is held to the paper's early-submission time (C3). Scoring is left to
    the caller (``bridge.runtime.scorer`` scores right after the commit; the sweeper catches
    what a crash left unscored), so a burst of submits is stored first."""
    results: list[Any] = [None] * len(items)
    wanted = []
    for index, (attempt_id, fields) in enumerate(items):
        key = fields.get("key")
        if fields.get("reason", "candidate") not in SUBMIT_REASONS:
            results[index] = Invalid(N_("Unknown reason for submitting."))
        elif key is not None and (not isinstance(key, str) or len(key) > 100):
            results[index] = Invalid(N_("The submit key must be a text of at most 100 characters."))
        else:
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
        state, reason = states.get(attempt_id), fields.get("reason", "candidate")
        if attempt_id in done:
            results[index] = SubmitResult("submitted", done[attempt_id].submitted_at, done[attempt_id].reason, True)
        elif state is None:
            results[index] = NotFound(N_("That attempt does not exist."))
        elif state.status == "submitted":
            results[index] = SubmitResult("submitted", _iso(state.submitted_at), state.submit_reason, True)
        elif state.status not in ("in_exam", "locked"):
            results[index] = NotInExam(N_("This exam is not in progress, so it cannot be submitted."))
        elif reason == "candidate" and state.early_submit_minutes \
                and now < state.starts_at + dt.timedelta(minutes=state.early_submit_minutes):
            results[index] = TooEarly(N_("Submitting opens %(n)d minutes after the start; keep working until then.")
                                      % {"n": state.early_submit_minutes})
        else:
            done[attempt_id] = results[index] = SubmitResult("submitted", _iso(now), reason, False)
            logs.append({"attempt_id": attempt_id, "at": now, "action": "submit",
                         "actor": fields.get("actor") or reason, "address": fields.get("address") or "",
                         "detail": {"reason": reason, "key": fields.get("key")}})
    for reason in SUBMIT_REASONS:
        ids = sorted(a for a, result in done.items() if result.reason == reason)
        if ids:
            store.mark_submitted(conn, ids, now, reason)
    if logs:
        store.insert_logs(conn, logs)
    return results
