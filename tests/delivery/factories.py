"""Rows for delivery tests, written straight through the models (the same builders the
benchmark seeds with: ``bridge.bench.seed``), committed so the group writer sees them."""
from __future__ import annotations

from bridge.bench.seed import (SESSION_COOKIE, Sitting, make_attempt, make_attempts,  # noqa: F401
                               make_sitting, sample_response, session_cookie)


def sitting(session, **kw) -> Sitting:
    made = make_sitting(session, **kw)
    session.commit()
    return made


def attempt(session, sitting_: Sitting, **kw) -> tuple[int, int]:
    """(attempt id, user id) of a new candidate's attempt, committed."""
    made = make_attempt(session, sitting_, **kw)
    ids = made.id, made.user_id
    session.commit()
    return ids


def question(sitting_: Sitting, qtype: str) -> int:
    return next(qid for qid, kind in sitting_.questions if kind == qtype)


def set_status(session, attempt_id: int, status: str, **fields) -> None:
    from bridge.models.attempts import Attempt

    row = session.get(Attempt, attempt_id)
    row.status = status
    for name, value in fields.items():
        setattr(row, name, value)
    session.commit()
