"""Single-use tickets that carry something into a new top-level window (L6).

Inside the LMS iframe the tool's cookies are partitioned under the LMS's site (or blocked), so
a window of its own starts without them. A ticket carries either a login initiation (the
cookie check's "continue in a new window") or a signed-in person (the exam breaking out of
the frame) across, once: only its SHA-256 is stored, it expires after a few minutes, and a
redeemed ticket is spent by one conditional update.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import update
from sqlalchemy.orm import Session

from bridge import clock
from lms_plugin.models import LaunchTicket

LOGIN = "login"      # params: the login initiation's parameters
SESSION = "session"  # params: kind, user_id, next and the session's LTI context
LIFETIME = dt.timedelta(minutes=5)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, params: dict, *, kind: str = LOGIN) -> str:
    """A new ticket for ``params``; returns the token (the only copy). Flushes."""
    token = secrets.token_urlsafe(24)
    body = dict(params)
    if kind != LOGIN:
        body["kind"] = kind
    session.add(LaunchTicket(token_hash=_hash(token), params=body,
                             expires_at=clock.utcnow_naive() + LIFETIME))
    session.flush()
    return token


def redeem(session: Session, token: str, *, kind: str = LOGIN) -> dict | None:
    """The ticket's params, spending it; None when unknown, used, expired or of another kind."""
    if not token:
        return None
    row = session.get(LaunchTicket, _hash(token))
    now = clock.utcnow_naive()
    if row is None or row.used_at is not None or row.expires_at < now:
        return None
    if (row.params or {}).get("kind", LOGIN) != kind:
        return None
    spent = session.execute(update(LaunchTicket).where(LaunchTicket.token_hash == row.token_hash,
                                                       LaunchTicket.used_at.is_(None))
                            .values(used_at=now), execution_options={"synchronize_session": False})
    if spent.rowcount != 1:
        return None
    params = dict(row.params)
    params.pop("kind", None)
    return params
