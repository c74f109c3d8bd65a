"""The tool's signing keys in the database: made on first use, rotated with a grace period."""
from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.services import audit
from lms_plugin.core import keys as key_core
from lms_plugin.models import ToolKey


def _grace() -> dt.timedelta:
    try:
        days = current_app.config["EXAMBRIDGE_KEY_ROTATION_GRACE_DAYS"]
    except (RuntimeError, KeyError):
        days = 7
    return dt.timedelta(days=days)


def _create(session: Session) -> ToolKey:
    kid, pem, public = key_core.generate()
    row = ToolKey(kid=kid, private_pem=pem, public_jwk=public)
    session.add(row)
    session.flush()
    return row


def _current(session: Session) -> ToolKey | None:
    return session.scalars(select(ToolKey).where(ToolKey.retired_at.is_(None))
                           .order_by(ToolKey.created_at.desc()).limit(1)).first()


def ensure(engine) -> str:
    """Make the first key if there is none, in a transaction of its own, and return the
    current kid. ``serve`` calls this at start. A key made inside a caller's transaction
    would be invisible to the JWKS endpoint until that commit, yet a platform fetches the
    JWKS in the middle of that very transaction (to check our client assertion)."""
    with Session(engine) as s, s.begin():
        row = _current(s) or _create(s)
        return row.kid


def signing_key(session: Session) -> ToolKey:
    """The newest unretired key (made, committed, on first use)."""
    row = _current(session)
    if row is None:
        kid = ensure(session.get_bind())
        row = session.get(ToolKey, kid)
    return row


def rotate(session: Session, *, actor: str) -> ToolKey:
    now = clock.utcnow_naive()
    old = list(session.scalars(select(ToolKey).where(ToolKey.retired_at.is_(None))))
    for row in old:
        row.retired_at = now
    new = _create(session)
    audit.record(session, "keys.rotate", actor=actor, target=new.kid,
                 detail={"retired": [r.kid for r in old]})
    return new


def published(session: Session) -> list[dict]:
    """Public JWKs to publish: the signing key and retired keys still inside their grace."""
    if _current(session) is None:
        ensure(session.get_bind())
    cutoff = clock.utcnow_naive() - _grace()
    rows = session.scalars(select(ToolKey).where(
        (ToolKey.retired_at.is_(None)) | (ToolKey.retired_at > cutoff)).order_by(ToolKey.created_at))
    return [r.public_jwk for r in rows]
