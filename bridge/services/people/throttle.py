"""Failure counters: in fixed windows (exam-code guessing, per code, account and address),
and with a growing delay (sign-in, per user name and per address: ``backoff_*``). The
counts live in the database, so every worker of a scale-out bridge sees the same ones."""
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


def backoff_wait(session: Session, key: str, *, free: int, first: dt.timedelta, cap: dt.timedelta,
                 forget: dt.timedelta) -> float:
    """Seconds ``key`` must still wait before its next try: nothing for the first ``free``
    failures in a row, then ``first`` after the last failure, doubling with each further
    failure up to ``cap``. Failures are forgotten after ``forget`` without one."""
    row = session.get(ThrottleCounter, key[:200], populate_existing=True)
    now = clock.utcnow_naive()
    if row is None or row.count < free or now - row.window_start >= forget:
        return 0.0
    delay = min(cap, first * 2 ** min(row.count - free, 30))
    return max(0.0, (row.window_start + delay - now).total_seconds())


def backoff_fail(session: Session, key: str, *, forget: dt.timedelta) -> int:
    """One more failure in a row for ``key`` (its row keeps the count and the time of the
    last failure), committed at once in a transaction of its own like ``fail``."""
    now = clock.utcnow_naive()
    with Session(session.get_bind()) as own, own.begin():
        row = own.get(ThrottleCounter, key[:200], with_for_update=True)
        if row is None:
            row = ThrottleCounter(key=key[:200], window_start=now, count=0)
            own.add(row)
        elif now - row.window_start >= forget:
            row.count = 0
        row.count += 1
        row.window_start = now
        return row.count


def clear(session: Session, key: str) -> None:
    """Forget ``key``'s failures (in the caller's transaction)."""
    row = session.get(ThrottleCounter, key[:200])
    if row is not None:
        session.delete(row)
        session.flush()
