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


def signing_key(session: Session) -> ToolKey:
    """The newest unretired key; the first call on a fresh install makes one."""
    row = session.scalars(select(ToolKey).where(ToolKey.retired_at.is_(None))
                          .order_by(ToolKey.created_at.desc()).limit(1)).first()
    return row or _create(session)


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
    signing_key(session)
    cutoff = clock.utcnow_naive() - _grace()
    rows = session.scalars(select(ToolKey).where(
        (ToolKey.retired_at.is_(None)) | (ToolKey.retired_at > cutoff)).order_by(ToolKey.created_at))
    return [r.public_jwk for r in rows]
