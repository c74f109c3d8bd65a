"""RSA key generation and JWKS building for the tool's own keys (joserfc)."""
from __future__ import annotations

import secrets
from typing import Iterable

from joserfc.jwk import RSAKey


def generate() -> tuple[str, str, dict]:
    """Return (kid, private PEM, public JWK) for a new 2048-bit RSA signing key."""
    kid = secrets.token_hex(8)
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"},
                              private=True)
    pem = key.as_pem(private=True).decode("ascii")
    public = key.as_dict(private=False)
    public.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return kid, pem, public


def load_private(pem: str, kid: str) -> RSAKey:
    return RSAKey.import_key(pem, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def jwks(public_keys: Iterable[dict]) -> dict:
    return {"keys": [dict(k) for k in public_keys]}
