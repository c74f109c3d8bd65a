"""Failure counters in fixed windows (exam-code guessing, per code, account and address)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.attempts import ThrottleCounter


def blocked(session: Session, key: str, *, limit: int, window: dt.timedelta) -> bool:
    row = session.get(ThrottleCounter, key[:200], populate_existing=True)
    return row is not None and clock.utcnow_naive() - row.window_start < window and row.count >= limit


def count(session: Session, key: str, *, window: dt.timedelta) -> int:
    """The failures (or tries) counted for ``key`` in its current window."""
    row = session.get(ThrottleCounter, key[:200], populate_existing=True)
    return row.count if row is not None and clock.utcnow_naive() - row.window_start < window else 0


def fail(session: Session, key: str, *, window: dt.timedelta) -> int:
    """Count one failure for ``key`` and commit it at once, in a transaction of its own: the
    caller's transaction is about to roll back (the request failed), and the count must stay."""
    with Session(session.get_bind()) as own, own.begin():
        return add(own, key, window=window)


def add(session: Session, key: str, *, window: dt.timedelta) -> int:
    """Count one for ``key`` in the caller's transaction (``fail`` commits on its own)."""
    now = clock.utcnow_naive()
    row = session.get(ThrottleCounter, key[:200], with_for_update=True, populate_existing=True)
    if row is None:
        row = ThrottleCounter(key=key[:200], window_start=now, count=0)
        session.add(row)
    elif now - row.window_start >= window:
        row.window_start, row.count = now, 0
    row.count += 1
    session.flush()
    return row.count
