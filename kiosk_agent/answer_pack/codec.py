"""Build and open ``.epack`` files (docs/answer-pack.md has the byte layout).

Version 1::

    MAGIC (8) | version u16 | manifest_len u32 | manifest | eph_pub (32) | nonce (12)
              | ct_len u32 | ciphertext (AES-256-GCM, tag included) | signature (64)

* ``manifest``: canonical JSON, readable by anyone, bound to the ciphertext as AES-GCM
  associated data (everything from MAGIC to the end of the manifest is the AAD).
* the events: canonical JSON ``{"events": [...]}``, encrypted under
  HKDF-SHA256(X25519(ephemeral, bridge pack key), salt = eph_pub ‖ bridge_pub,
  info = "exambridge-epack-v1 events") — only the holder of the bridge's private pack key
  can read them; the kiosk keeps no key that opens its own pack.
* ``signature``: Ed25519 by the device key (its public half is ``manifest.device_key``) over
  ``"exambridge-epack-v1\\0"`` ‖ every byte before the signature.

Readers dispatch on the version; an unknown one is refused, never guessed.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any, Callable, Mapping

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk_agent.answer_pack import model
from kiosk_agent.answer_pack.errors import (ForeignKey, Malformed, NotAPack, PackError, SignatureInvalid,
                                            Truncated, UnsupportedVersion)

_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
KeyLike = Any  # a key object, its raw 32 bytes, or base64url text of them


# --- keys ---------------------------------------------------------------------------------
def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_bridge_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def generate_device_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw(value: KeyLike) -> bytes:
    if isinstance(value, str):
        value = unb64url(value)
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise ValueError("a key is 32 bytes")
        return bytes(value)
    if isinstance(value, (X25519PublicKey, Ed25519PublicKey)):
        return value.public_bytes(*_RAW)
    if isinstance(value, (X25519PrivateKey, Ed25519PrivateKey)):
        return value.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                   serialization.NoEncryption())
    raise TypeError(f"not a key: {type(value).__name__}")


def _x25519_private(value: KeyLike) -> X25519PrivateKey:
    return value if isinstance(value, X25519PrivateKey) else X25519PrivateKey.from_private_bytes(_raw(value))


def _x25519_public(value: KeyLike) -> X25519PublicKey:
    if isinstance(value, X25519PrivateKey):
        return value.public_key()
    return value if isinstance(value, X25519PublicKey) else X25519PublicKey.from_public_bytes(_raw(value))


def _ed25519_private(value: KeyLike) -> Ed25519PrivateKey:
    return value if isinstance(value, Ed25519PrivateKey) else Ed25519PrivateKey.from_private_bytes(_raw(value))


def public_key_b64(key: KeyLike) -> str:
    """The raw public key of an X25519 or Ed25519 key (private or public), base64url."""
    if isinstance(key, (X25519PrivateKey, Ed25519PrivateKey)):
        key = key.public_key()
    return b64url(_raw(key))


def key_id(bridge_public_key: KeyLike) -> str:
    """The pack key's id: the first 16 hex digits of sha256 of its raw public bytes."""
    return hashlib.sha256(_x25519_public(bridge_public_key).public_bytes(*_RAW)).hexdigest()[:16]


def _derive(shared: bytes, eph_pub: bytes, bridge_pub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pub + bridge_pub,
                info=model.HKDF_INFO).derive(shared)


# --- build --------------------------------------------------------------------------------
def build_pack(*, manifest: Mapping[str, Any], events: list[dict], device_private_key: KeyLike,
               bridge_public_key: KeyLike, ephemeral_private_key: KeyLike | None = None,
               nonce: bytes | None = None) -> bytes:
    """The ``.epack`` bytes for ``events`` of one attempt (each with ``prev`` and ``hash``
    as the journal keeps them, in journal order). ``manifest`` gives exam_id, session_id,
    attempt_id, created (seconds since the epoch) and optionally admission_number, seat,
    kiosk_id, acked, deadline, epoch, agent_version; the codec fills writers, event_count,
    heads, device_key and pack_key_id. ``ephemeral_private_key`` and ``nonce`` are for
    golden files only (fixed values make the output reproducible); leave them out."""
    body = {name: manifest.get(name) for name in model.REQUIRED_FIELDS + model.OPTIONAL_FIELDS}
    unknown = set(manifest) - set(body) - set(model.COMPUTED_FIELDS)
    if unknown:
        raise PackError(f"unknown manifest field(s): {', '.join(sorted(unknown))}")
    missing = [name for name in model.REQUIRED_FIELDS if body[name] is None]
    if missing:
        raise PackError(f"the manifest needs {', '.join(missing)}")
    clean = [_clean_event(e) for e in events]
    try:
        heads = model.chain_heads(body["attempt_id"], clean)
    except ValueError as exc:
        raise Malformed(f"the journal's events do not form a chain: {exc}") from None
    device = _ed25519_private(device_private_key)
    bridge_pub = _x25519_public(bridge_public_key)
    body.update(format=model.FORMAT_NAME, version=model.FORMAT_VERSION, writers=sorted(heads),
                event_count=len(clean), heads=heads, device_key=public_key_b64(device),
                pack_key_id=key_id(bridge_pub))
    return _seal(body, clean, device, bridge_pub, ephemeral_private_key, nonce)


def _seal(manifest: dict, events: list[dict], device: Ed25519PrivateKey, bridge_pub: X25519PublicKey,
          ephemeral_private_key: KeyLike | None, nonce: bytes | None) -> bytes:
    """The version-1 bytes of ``manifest`` and ``events`` as given (no checks: tests use it
    to make signed packs with bad content)."""
    manifest_bytes = model.canonical(manifest)
    if len(manifest_bytes) > model.MAX_MANIFEST_BYTES:
        raise PackError("the manifest is larger than 64 KiB")
    head = model.MAGIC + struct.pack(">HI", model.FORMAT_VERSION, len(manifest_bytes)) + manifest_bytes
    eph = _x25519_private(ephemeral_private_key) if ephemeral_private_key is not None else X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(*_RAW)
    key = _derive(eph.exchange(bridge_pub), eph_pub, bridge_pub.public_bytes(*_RAW))
    nonce = os.urandom(12) if nonce is None else nonce
    if len(nonce) != 12:
        raise PackError("the nonce is 12 bytes")
    ciphertext = AESGCM(key).encrypt(nonce, model.canonical({"events": events}), head)
    if len(ciphertext) > model.MAX_CIPHERTEXT_BYTES:
        raise PackError("the events are larger than 64 MiB")
    signed = head + eph_pub + nonce + struct.pack(">I", len(ciphertext)) + ciphertext
    return signed + device.sign(model.SIGNATURE_CONTEXT + signed)


def _clean_event(event: Mapping[str, Any]) -> dict:
    missing = [name for name in model.EVENT_FIELDS if name not in event and name != "at"]
    if missing:
        raise PackError(f"an event lacks {', '.join(missing)}")
    return {name: event.get(name) for name in model.EVENT_FIELDS}


# --- open ---------------------------------------------------------------------------------
class _Parsed:
    __slots__ = ("version", "manifest", "aad", "eph_pub", "nonce", "ciphertext", "signed", "signature")


def _parse_v1(data: bytes) -> _Parsed:
    p = _Parsed()
    p.version = 1
    pos = len(model.MAGIC) + 2
    (manifest_len,) = _unpack(data, pos, ">I", "the manifest's length")
    pos += 4
    if manifest_len > model.MAX_MANIFEST_BYTES:
        raise NotAPack(f"the manifest claims {manifest_len} bytes (at most 64 KiB): not a valid answer pack")
    manifest_bytes = _take(data, pos, manifest_len, "the manifest")
    pos += manifest_len
    p.aad = data[:pos]
    p.eph_pub = _take(data, pos, 32, "the ephemeral key")
    p.nonce = _take(data, pos + 32, 12, "the nonce")
    pos += 44
    (ct_len,) = _unpack(data, pos, ">I", "the events' length")
    pos += 4
    if ct_len > model.MAX_CIPHERTEXT_BYTES or ct_len < 16:
        raise NotAPack(f"the encrypted events claim {ct_len} bytes: not a valid answer pack")
    p.ciphertext = _take(data, pos, ct_len, "the encrypted events")
    pos += ct_len
    p.signed = data[:pos]
    p.signature = _take(data, pos, 64, "the signature")
    pos += 64
    if len(data) != pos:
        raise NotAPack(f"{len(data) - pos} unexpected byte(s) after the signature: the file was changed "
                       "or is not one answer pack")
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        manifest = None  # the signature check below says what happened
    p.manifest = manifest
    return p


_READERS: dict[int, Callable[[bytes], _Parsed]] = {1: _parse_v1}


def _unpack(data: bytes, pos: int, fmt: str, what: str) -> tuple:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, _take(data, pos, size, what))


def _take(data: bytes, pos: int, size: int, what: str) -> bytes:
    if pos + size > len(data):
        raise Truncated(f"the file ends inside {what} ({len(data)} bytes): it is truncated; "
                        "copy the pack from the kiosk again")
    return data[pos:pos + size]


def _parse(data: bytes) -> _Parsed:
    if not isinstance(data, (bytes, bytearray)):
        raise NotAPack("an answer pack is bytes")
    data = bytes(data)
    if len(data) < len(model.MAGIC):
        if model.MAGIC.startswith(data) and data:
            raise Truncated(f"the file has only {len(data)} bytes: it is truncated")
        raise NotAPack("this file is not an answer pack (.epack): it does not start with the pack signature")
    if not data.startswith(model.MAGIC):
        raise NotAPack("this file is not an answer pack (.epack): it does not start with the pack signature")
    (version,) = _unpack(data, len(model.MAGIC), ">H", "the format version")
    reader = _READERS.get(version)
    if reader is None or version not in model.SUPPORTED_VERSIONS:
        known = ", ".join(str(v) for v in sorted(model.SUPPORTED_VERSIONS))
        raise UnsupportedVersion(f"answer pack format version {version} is not supported here (known: {known}); "
                                 "update the bridge or export the pack with a matching agent")
    return reader(data)


def _verify(parsed: _Parsed) -> dict:
    manifest = parsed.manifest
    device_key = manifest.get("device_key") if isinstance(manifest, dict) else None
    try:
        public = Ed25519PublicKey.from_public_bytes(unb64url(device_key))
        public.verify(parsed.signature, model.SIGNATURE_CONTEXT + parsed.signed)
    except (InvalidSignature, ValueError, TypeError):
        raise SignatureInvalid("the pack's signature does not verify: the file was changed after the kiosk "
                               "made it (or it is damaged); it is refused") from None
    _check_manifest(manifest, parsed.version)
    return manifest


def _check_manifest(manifest: dict, version: int) -> None:
    problems = []
    if manifest.get("format") != model.FORMAT_NAME or manifest.get("version") != version:
        problems.append("format/version")
    for name in ("exam_id", "session_id", "attempt_id", "event_count"):
        if type(manifest.get(name)) is not int:
            problems.append(name)
    if not isinstance(manifest.get("heads"), dict) or not isinstance(manifest.get("writers"), list):
        problems.append("heads/writers")
    if not isinstance(manifest.get("pack_key_id"), str):
        problems.append("pack_key_id")
    if type(manifest.get("created")) not in (int, float):
        problems.append("created")
    acked = manifest.get("acked")
    if acked is not None and not (isinstance(acked, dict) and all(
            isinstance(a, dict) and type(a.get("seq")) is int and a["seq"] >= 0 and isinstance(a.get("head"), str)
            for a in acked.values())):
        problems.append("acked")
    if manifest.get("kiosk_id") is not None and type(manifest.get("kiosk_id")) is not int:
        problems.append("kiosk_id")
    if problems:
        raise Malformed(f"the pack's manifest is invalid ({', '.join(problems)}): the agent that made it is faulty")


def peek_manifest(data: bytes) -> dict:
    """The manifest of a pack whose signature verifies (no key needed, nothing decrypted)."""
    return _verify(_parse(data))


def open_pack(data: bytes, bridge_private_key: KeyLike | Mapping[str, KeyLike]) -> tuple[dict, list[dict]]:
    """(manifest, events) of a pack sealed to ``bridge_private_key`` (or to one of a
    {key_id: key} mapping). Raises a PackError subclass saying what is wrong."""
    parsed = _parse(data)
    manifest = _verify(parsed)
    keys = dict(bridge_private_key) if isinstance(bridge_private_key, Mapping) else None
    if keys is None:
        private = _x25519_private(bridge_private_key)
        keys = {key_id(private): private}
    private = keys.get(manifest["pack_key_id"])
    if private is None:
        raise ForeignKey(f"this pack is sealed to pack key {manifest['pack_key_id']}, not to this bridge's key "
                         f"({', '.join(sorted(keys)) or 'none'}): import it on the bridge the kiosk was "
                         "connected to")
    private = _x25519_private(private)
    bridge_pub = private.public_key().public_bytes(*_RAW)
    try:
        key = _derive(private.exchange(X25519PublicKey.from_public_bytes(parsed.eph_pub)), parsed.eph_pub, bridge_pub)
        plain = AESGCM(key).decrypt(parsed.nonce, parsed.ciphertext, parsed.aad)
    except (InvalidTag, ValueError):
        raise SignatureInvalid("the pack's events do not decrypt with this bridge's key: the pack was "
                               "changed or sealed wrongly; it is refused") from None
    return manifest, _check_events(manifest, plain)


def _event_shape_ok(e: Any) -> bool:
    return (isinstance(e, dict) and set(e) == set(model.EVENT_FIELDS) and isinstance(e["writer"], str)
            and type(e["seq"]) is int and type(e["question_id"]) is int and isinstance(e["response"], dict)
            and isinstance(e["prev"], str) and isinstance(e["hash"], str)
            and (e["epoch"] is None or type(e["epoch"]) is int)
            and all(e[k] is None or type(e[k]) in (int, float) for k in ("client_time", "at")))


def _check_events(manifest: dict, plain: bytes) -> list[dict]:
    try:
        body = json.loads(plain.decode("utf-8"))
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not all(_event_shape_ok(e) for e in events):
            raise ValueError("wrong shape")
        heads = model.chain_heads(manifest["attempt_id"], events)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise Malformed(f"the pack's events are invalid ({exc}): the agent that made it is faulty") from None
    if len(events) != manifest["event_count"] or heads != manifest["heads"] or manifest["writers"] != sorted(heads):
        raise Malformed("the pack's events do not match its manifest (count, writers or chain heads): the agent "
                        "that made it is faulty")
    return events
