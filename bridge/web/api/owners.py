"""Whose attempt this is: the one owner check of the exam page's API, used by the Flask views
and by the autosave fast path alike (``fast.py``). An attempt never changes hands, so its
owner is cached per app once read; when a room's first saves arrive after a restart, one read
of every attempt in progress answers them all (at most every ``BULK_OWNER_SECONDS``)."""
from __future__ import annotations

import time

from sqlalchemy import bindparam, select

from bridge.models.attempts import Attempt

_SELECT_OWNER = select(Attempt.user_id).where(Attempt.id == bindparam("attempt_id"))
_SELECT_OWNERS_IN_PROGRESS = select(Attempt.id, Attempt.user_id).where(Attempt.status.in_(("in_exam", "locked")))
BULK_OWNER_SECONDS = 10.0
_CACHE = "exambridge_attempt_owners"
_BULK_AT = "exambridge_attempt_owners_bulk_at"


def owner_of(app, engine, attempt_id: int) -> int | None:
    """The user id of the attempt's candidate (None: no such attempt), read through ``engine``
    with no session (the request may wait on the group writer next)."""
    owners = app.extensions.setdefault(_CACHE, {})
    owner = owners.get(attempt_id)
    if owner is not None:
        return owner
    if len(owners) > 200_000:
        owners.clear()
    now = time.monotonic()
    with engine.connect() as conn:
        if now - app.extensions.get(_BULK_AT, -BULK_OWNER_SECONDS) > BULK_OWNER_SECONDS:
            app.extensions[_BULK_AT] = now
            owners.update(conn.execute(_SELECT_OWNERS_IN_PROGRESS).all())
            owner = owners.get(attempt_id)
        if owner is None:
            owner = conn.execute(_SELECT_OWNER, {"attempt_id": attempt_id}).scalar()
    if owner is not None:
        owners[attempt_id] = owner
    return owner
