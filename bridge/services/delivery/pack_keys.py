"""The bridge's answer-pack key (K5): the X25519 key pair kiosks seal their packs to.

Made on first use and kept in ``pack_keys``. The private half is stored sealed: AES-256-GCM
under HKDF-SHA256(SECRET_KEY, info "exambridge pack key seal"), with the key id as
associated data. No page shows it; losing SECRET_KEY makes the packs sealed to this key
unreadable, so back the secret up with the database (docs/answer-pack.md).

The active key is the oldest one not retired; every key (retired ones too) still opens the
packs sealed to it. Kiosks learn the public key in ``welcome.pack_key``
(``public_key_b64``).

The functions take ``secret_key``; left out, they use the current Flask app's SECRET_KEY.
A key made here is only flushed: the caller's transaction must commit (``exambridge pack
key`` does; so does the hub when it sends ``welcome``), or kiosks would seal packs to a key
the bridge never kept.
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import InvalidState
from bridge.i18n import N_
from bridge.models.packs import PackKey
from kiosk_agent.answer_pack.codec import b64url, key_id, unb64url


class PackKeyUnavailable(InvalidState):
    code = "pack_key_unavailable"


def _secret(secret_key: str | None) -> str:
    """The bridge's secret, which seals the private keys: callers pass it (services read no
    app configuration)."""
    if not secret_key:
        raise ValueError("the bridge's secret key is needed to seal or open pack keys")
    return secret_key


def _seal_key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"exambridge pack key seal").derive(secret_key.encode("utf-8"))


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def _create(session: Session, secret_key: str) -> PackKey:
    return import_key(session, _raw_private(X25519PrivateKey.generate()), secret_key)


def active_key(session: Session, secret_key: str | None = None) -> PackKey:
    """The key new packs are sealed to, made (and flushed) when there is none."""
    row = session.scalars(select(PackKey).where(PackKey.retired_at.is_(None)).order_by(PackKey.id).limit(1)).first()
    return row if row is not None else _create(session, _secret(secret_key))


def public_key_b64(session: Session, secret_key: str | None = None) -> str:
    """The active key's raw X25519 public key, base64url (no padding): ``welcome.pack_key``."""
    return active_key(session, secret_key).public_key


def private_keys(session: Session, secret_key: str | None = None) -> dict[str, X25519PrivateKey]:
    """{key id: private key} of every pack key this bridge has (retired ones too)."""
    secret = _seal_key(_secret(secret_key))
    keys: dict[str, X25519PrivateKey] = {}
    for row in session.scalars(select(PackKey).order_by(PackKey.id)):
        raw = unb64url(row.private_sealed)
        try:
            private = AESGCM(secret).decrypt(raw[:12], raw[12:], row.key_id.encode("ascii"))
        except (InvalidTag, ValueError):
            raise PackKeyUnavailable(N_("The bridge's answer-pack key cannot be unsealed: SECRET_KEY is not the "
                                        "one it was made with. Restore the previous SECRET_KEY to read packs."),
                                     detail=row.key_id) from None
        keys[row.key_id] = X25519PrivateKey.from_private_bytes(private)
    return keys


def import_key(session: Session, private_raw: bytes, secret_key: str | None = None) -> PackKey:
    """Add an existing X25519 private key (32 raw bytes), e.g. restored from another
    bridge's backup, so the packs sealed to it open here. Not made active over an older key."""
    private = X25519PrivateKey.from_private_bytes(private_raw)
    kid = key_id(private.public_key())
    existing = session.scalars(select(PackKey).where(PackKey.key_id == kid)).first()
    if existing is not None:
        return existing
    nonce = os.urandom(12)
    sealed = AESGCM(_seal_key(_secret(secret_key))).encrypt(nonce, private_raw, kid.encode("ascii"))
    row = PackKey(key_id=kid, public_key=b64url(private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)), private_sealed=b64url(nonce + sealed))
    session.add(row)
    session.flush()
    return row
