"""Keys derived from the bridge's secret, sealed codes and the signed files a site exchanges
(exam data, exam authorization, site information: V4–V6).

A site's key is HKDF(authority key, site id) (DESIGN "Authorization codes"), so a file
signed for one site never opens another. A signed file is canonical JSON::

    {"format": "exambridge-<kind>", "version": 1, "site_id": ..., "payload": {...},
     "sha256": <hash of the canonical payload>, "signature": <HMAC-SHA256 under the site key>}

``sha256`` is the integrity hash people compare (shown on the page and printed); the
signature is what proves the file came from this bridge. ``read`` says which of the two
failed, so a site admin knows whether the file was damaged or is not theirs.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from bridge.errors import Invalid
from bridge.i18n import N_

VERSION = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def derive(secret: bytes | str, purpose: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"exambridge {purpose}".encode()).derive(raw)


def site_key(secret_key: str, site_id: str) -> bytes:
    return derive(derive(secret_key, "authority"), f"site {site_id}")


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def code_hash(secret_key: str, purpose: str, context: str, code: str) -> str:
    normalized = code.replace("-", "").replace(" ", "").upper()
    return hmac.new(derive(secret_key, f"{purpose} hash"), f"{context}\n{normalized}".encode(),
                    hashlib.sha256).hexdigest()


def seal(secret_key: str, purpose: str, context: str, text: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    return (nonce + AESGCM(derive(secret_key, f"{purpose} seal")).encrypt(nonce, text.encode(), context.encode())).hex()


def unseal(secret_key: str, purpose: str, context: str, sealed: str) -> str | None:
    """The sealed text, or None when the bridge's secret changed since (or it was damaged)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = bytes.fromhex(sealed)
        return AESGCM(derive(secret_key, f"{purpose} seal")).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except (InvalidTag, ValueError):
        return None


def _signature(secret_key: str, site_id: str, kind: str, payload: Any) -> str:
    return hmac.new(site_key(secret_key, site_id), kind.encode() + b"\n" + canonical(payload), hashlib.sha256).hexdigest()


def sign(secret_key: str, site_id: str, kind: str, payload: dict) -> dict:
    return {"format": f"exambridge-{kind}", "version": VERSION, "site_id": site_id, "payload": payload,
            "sha256": digest(payload), "signature": _signature(secret_key, site_id, kind, payload)}


def dumps(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def read(secret_key: str, raw: bytes | dict, kind: str, *, site_id: str | None = None) -> dict:
    """The checked document of ``kind`` (``site_id``: the site it must be for). Raises
    ``Invalid`` with what is wrong: not such a file, for another site, damaged (hash), or
    not signed by this bridge."""
    document = raw if isinstance(raw, dict) else loads(raw)
    if not isinstance(document, dict) or document.get("format") != f"exambridge-{kind}" \
            or not isinstance(document.get("payload"), dict):
        raise Invalid(N_("This is not the right kind of ExamBridge file. Choose the file the bridge exported."))
    if document.get("version") != VERSION:
        raise Invalid(N_("This file was made by another version of ExamBridge."))
    if site_id is not None and document.get("site_id") != site_id:
        raise Invalid(N_("This file is for another site."))
    payload = document["payload"]
    try:
        actual = digest(payload)
        expected = _signature(secret_key, str(document.get("site_id")), kind, payload)
    except (RecursionError, ValueError, TypeError):
        raise Invalid(N_("This is not an ExamBridge file (it is not JSON). Choose the file the bridge exported."))
    if not _same(document.get("sha256"), actual):
        raise Invalid(N_("The file's integrity hash does not match its content: it was changed or damaged "
                         "after it was exported. Export it again."))
    if not _same(document.get("signature"), expected):
        raise Invalid(N_("The file's signature is not valid: it was not made by this bridge for this site, "
                         "or it was changed."))
    return document


def _same(given: Any, expected: str) -> bool:
    """Constant-time comparison of a hex digest from a file with ours (anything that is not
    64 hex digits is simply wrong)."""
    return isinstance(given, str) and bool(_HEX64.match(given)) and hmac.compare_digest(given.encode(),
                                                                                         expected.encode())


def loads(raw: bytes | str) -> Any:
    """JSON from a file someone uploaded: ``Invalid`` for anything that is not."""
    try:
        return json.loads(raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid(N_("This is not an ExamBridge file (it is not JSON). Choose the file the bridge exported."))
