"""Failure counters in fixed windows (exam-code guessing, per code, account and address)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.attempts import ThrottleCounter


def blocked(session: Session, key: str, *, limit: int, window: dt.timedelta) -> bool:
    row = session.get(ThrottleCounter, key[:200], populate_existing=True)
    return row is not None and clock.utcnow_naive() - row.window_start < window and row.count >= limit


def fail(session: Session, key: str, *, window: dt.timedelta) -> int:
    """Count one failure for ``key`` and commit it at once, in a transaction of its own: the
    caller's transaction is about to roll back (the request failed), and the count must stay."""
    now = clock.utcnow_naive()
    with Session(session.get_bind()) as own, own.begin():
        row = own.get(ThrottleCounter, key[:200], with_for_update=True)
        if row is None:
            row = ThrottleCounter(key=key[:200], window_start=now, count=0)
            own.add(row)
        elif now - row.window_start >= window:
            row.window_start, row.count = now, 0
        row.count += 1
        count = row.count
    return count
