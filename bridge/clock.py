"""The only source of "now" for services.

Tests and rehearsals may offset the clock (``EXAMBRIDGE_CLOCK_OFFSET_SECONDS`` or
``set_offset``); production refuses an offset at start-up (see ``bridge.config``).
"""
from __future__ import annotations

import datetime as _dt
import time as _time

_offset_seconds: float = 0.0


def set_offset(seconds: float) -> None:
    global _offset_seconds
    _offset_seconds = float(seconds)


def offset() -> float:
    return _offset_seconds


def timestamp() -> float:
    """Seconds since the epoch, offset applied."""
    return _time.time() + _offset_seconds


def now() -> _dt.datetime:
    """Timezone-aware UTC now, offset applied."""
    return _dt.datetime.fromtimestamp(timestamp(), tz=_dt.timezone.utc)


def utcnow_naive() -> _dt.datetime:
    """Naive UTC now, for columns stored without a zone (SQLite keeps none)."""
    return now().replace(tzinfo=None)
