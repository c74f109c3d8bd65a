"""The tool's signing keys in the database: made at first start, rotated safely.

Rotation follows "publish before you sign": ``rotate`` publishes the new key at once but
signs with it only after ``ACTIVATION`` (longer than the JWKS cache lifetime we announce,
``Cache-Control: max-age=300``), so a platform holding our cached JWKS never sees a kid it
does not know. The old key keeps signing until then, and stays published for the grace
period (``EXAMBRIDGE_KEY_ROTATION_GRACE_DAYS``) after it stops.

The private key is stored sealed like every secret of the bridge (``bridge.services.signing``:
AES-256-GCM under a key derived from SECRET_KEY for "tool key", the kid as associated data),
so a copy of the database alone cannot sign as the tool. ``private_pem`` unseals it for the
moment a launch response or a service token is signed. The functions take ``secret_key``;
left out, they use the current Flask app's SECRET_KEY.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import InvalidState
from bridge.i18n import N_
from bridge.services import audit, signing
from lms_plugin.core import keys as key_core
from lms_plugin.models import ToolKey

JWKS_MAX_AGE = 300
ACTIVATION = dt.timedelta(seconds=JWKS_MAX_AGE + 60)
PURPOSE = "tool key"


class ToolKeyUnavailable(InvalidState):
    code = "tool_key_unavailable"


def _secret(secret_key: str | None) -> str:
    return secret_key or current_app.config["SECRET_KEY"]


def seal(secret_key: str, kid: str, pem: str) -> str:
    return signing.seal(secret_key, PURPOSE, kid, pem)


def unseal(secret_key: str, kid: str, sealed: str) -> str | None:
    return signing.unseal(secret_key, PURPOSE, kid, sealed)


def private_pem(row: ToolKey, secret_key: str | None = None) -> str:
    """The key's private PEM, unsealed for one signature; never stored or logged."""
    pem = unseal(_secret(secret_key), row.kid, row.private_sealed)
    if pem is None:
        raise ToolKeyUnavailable(N_("The tool's LTI signing key cannot be unsealed: SECRET_KEY is not the one it "
                                    "was made with. Restore the previous SECRET_KEY, or rotate the keys."),
                                 detail=row.kid)
    return pem


def _grace() -> dt.timedelta:
    try:
        days = current_app.config["EXAMBRIDGE_KEY_ROTATION_GRACE_DAYS"]
    except (RuntimeError, KeyError):
        days = 7
    return dt.timedelta(days=days)


def _create(session: Session, secret_key: str | None = None) -> ToolKey:
    kid, pem, public = key_core.generate()
    row = ToolKey(kid=kid, private_sealed=seal(_secret(secret_key), kid, pem), public_jwk=public,
                  created_at=clock.utcnow_naive())
    session.add(row)
    session.flush()
    return row


def _current(session: Session) -> ToolKey | None:
    """The newest key that may sign now: not retired yet and, unless it is the only one,
    published for at least ``ACTIVATION``."""
    now = clock.utcnow_naive()
    usable = list(session.scalars(select(ToolKey).where(or_(ToolKey.retired_at.is_(None), ToolKey.retired_at > now))
                                  .order_by(ToolKey.created_at.desc())))
    for row in usable:
        if row.created_at <= now - ACTIVATION:
            return row
    return usable[-1] if usable else None  # a fresh install: its first key signs at once


def ensure(engine) -> str:
    """Make the first key if there is none, in a transaction of its own, and return the
    current kid. ``serve`` calls this at start. A key made inside a caller's transaction
    would be invisible to the JWKS endpoint until that commit, yet a platform fetches the
    JWKS in the middle of that very transaction (to check our client assertion)."""
    with Session(engine) as s, s.begin():
        row = _current(s) or _create(s)
        return row.kid


def signing_key(session: Session) -> ToolKey:
    """The key that signs now (made, committed, on first use)."""
    row = _current(session)
    if row is None:
        kid = ensure(session.get_bind())
        row = session.get(ToolKey, kid)
    return row


def rotate(session: Session, *, actor: str) -> ToolKey:
    """Publish a new key now; it starts signing after ``ACTIVATION``, when the keys in use
    today retire (and stay published for the grace period)."""
    now = clock.utcnow_naive()
    old = list(session.scalars(select(ToolKey).where(ToolKey.retired_at.is_(None))))
    new = _create(session)
    for row in old:
        row.retired_at = now + ACTIVATION
    audit.record(session, "keys.rotate", actor=actor, target=new.kid,
                 detail={"retiring": [r.kid for r in old], "signs_from": (now + ACTIVATION).isoformat()})
    return new


def published(session: Session) -> list[dict]:
    """Public JWKs to publish: every key that signs or will, and retired keys inside the grace."""
    if _current(session) is None:
        ensure(session.get_bind())
    cutoff = clock.utcnow_naive() - _grace()
    rows = session.scalars(select(ToolKey).where(
        (ToolKey.retired_at.is_(None)) | (ToolKey.retired_at > cutoff)).order_by(ToolKey.created_at))
    return [r.public_jwk for r in rows]
