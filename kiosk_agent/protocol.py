"""The kiosk ⇄ bridge message envelope, shared by both sides (docs/protocol.md).

Every message is one JSON object: ``{"v": 1, "type": str, "id": str, "ts": float,
"payload": object}``. Readers reject unknown versions and malformed envelopes with
``ProtocolError``; they never guess. Message types are added by the kiosk issue.
"""
from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
MAX_MESSAGE_BYTES = 1 << 20


class ProtocolError(ValueError):
    """A message that cannot be accepted; the text says why."""


_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def new_id() -> str:
    """A message id unique to this sender: a random prefix drawn once per process and a
    counter (32 hex digits, like a uuid4, at a fraction of the cost: a hub sends thousands
    a second)."""
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


@dataclass(frozen=True, slots=True)
class Envelope:
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    ts: float = field(default_factory=time.time)
    v: int = PROTOCOL_VERSION

    def encode(self) -> str:
        return _ENCODER.encode({"v": self.v, "type": self.type, "id": self.id, "ts": self.ts,
                                "payload": self.payload})


def decode(raw: str | bytes) -> Envelope:
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("message is not UTF-8") from None
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        obj = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"message is not JSON: {exc.msg}") from None
    except ProtocolError:
        raise
    except RecursionError:
        raise ProtocolError("message is nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits (int_max_str_digits)
        raise ProtocolError(f"message has a number out of range: {str(exc)[:80]}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("message is not a JSON object")
    v = obj.get("v")
    if v not in SUPPORTED_VERSIONS:
        raise ProtocolError(f"protocol version {v!r} is not supported (supported: {sorted(SUPPORTED_VERSIONS)})")
    kind, mid, ts, payload = obj.get("type"), obj.get("id"), obj.get("ts"), obj.get("payload", {})
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("message has no type")
    if not isinstance(mid, str) or not 1 <= len(mid) <= 64:
        raise ProtocolError("message id must be a string of 1 to 64 characters")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool) or not -1e13 < ts < 1e13:
        raise ProtocolError("message ts must be a number (seconds since the epoch)")
    if not isinstance(payload, dict):
        raise ProtocolError("message payload must be a JSON object")
    return Envelope(type=kind, payload=payload, id=mid, ts=float(ts), v=v)


def _no_constant(name: str):
    raise ProtocolError(f"message contains {name}, which is not JSON")


# --- message types (docs/protocol.md, "Messages (version 1)") ----------------------------
# bridge → agent
CHALLENGE = "challenge"
WELCOME = "welcome"
HEARTBEAT_ACK = "heartbeat_ack"
REPORT_ACK = "report_ack"
ACKS = "acks"
COMMAND = "command"
COMMAND_RESULT_ACK = "command_result_ack"
ERROR = "error"
# agent → bridge
REGISTER = "register"
HELLO = "hello"
HEARTBEAT = "heartbeat"
REPORT = "report"
EVENTS = "events"
COMMAND_RESULT = "command_result"

AGENT_TYPES = frozenset({REGISTER, HELLO, HEARTBEAT, REPORT, EVENTS, COMMAND_RESULT})
BRIDGE_TYPES = frozenset({CHALLENGE, WELCOME, HEARTBEAT_ACK, REPORT_ACK, ACKS, COMMAND,
                          COMMAND_RESULT_ACK, ERROR})

AGENT_STATUSES = ("idle", "ready", "in_exam", "locked", "offline_tail")
REPORT_KINDS = ("focus_lost", "forbidden_process", "lockdown_failed", "env_check", "disk_low", "journal_damaged")
COMMAND_NAMES = ("show_seat", "hide_seat", "lock", "unlock", "start_client", "close_client", "restart",
                 "shutdown", "wipe", "export_pack", "env_check")
COMMAND_OUTCOMES = ("done", "refused", "failed")
MAX_EVENTS = 100
HEARTBEAT_SECONDS = 5

#: Stable ``error`` codes (payload ``{ref, code, message}``).
ERROR_CODES = ("bad_message", "unexpected", "bad_enrolment_code", "key_in_use", "unknown_kiosk",
               "bad_signature", "duplicate_connection", "fenced", "not_welcomed", "bad_token",
               "not_found", "unavailable", "overloaded")


# --- identity: the Ed25519 proof of hello and register ----------------------------------
SIGNATURE_CONTEXT = "exambridge-kiosk-v1"


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded (or padded) base64url; ProtocolError when it is not."""
    import base64
    import binascii

    if not isinstance(text, str) or not text or len(text) > 4096:
        raise ProtocolError("expected a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ProtocolError("not valid base64url") from None


def signing_input(nonce: str, subject: str | int) -> bytes:
    """The bytes a kiosk signs: ``"exambridge-kiosk-v1\\n" + nonce + "\\n" + subject`` where
    subject is the kiosk id in decimal (hello) or the public key (register)."""
    return f"{SIGNATURE_CONTEXT}\n{nonce}\n{subject}".encode("utf-8")


def sign(private_key, nonce: str, subject: str | int) -> str:
    """Sign the proof with an ``Ed25519PrivateKey``; base64url of the 64-byte signature."""
    return b64url(private_key.sign(signing_input(nonce, subject)))


def public_key_text(private_key) -> str:
    """The raw 32-byte public key of an ``Ed25519PrivateKey``, base64url (what ``register`` sends)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return b64url(private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def verify_signature(public_key: str, nonce: str, subject: str | int, signature: str) -> bool:
    """True when ``signature`` is the key's Ed25519 signature of the proof; never raises."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(b64url_decode(public_key))
        key.verify(b64url_decode(signature), signing_input(nonce, subject))
        return True
    except (ProtocolError, ValueError, InvalidSignature):
        return False


# --- payload validators -----------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(payload: dict, name: str, *, limit: int = 255, required: bool = True) -> str:
    value = payload.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise ProtocolError(f"payload.{name} must be a {'non-empty ' if required else ''}string "
                            f"of at most {limit} characters")
    return value


def _int(payload: dict, name: str, *, nullable: bool = False, minimum: int = 0) -> int | None:
    value = payload.get(name)
    if value is None and nullable:
        return None
    if not _is_int(value) or value < minimum or value > 2**31 - 1:
        raise ProtocolError(f"payload.{name} must be an integer ≥ {minimum}{' or null' if nullable else ''}")
    return value


def _register(p: dict) -> dict:
    public_key = _text(p, "public_key", limit=64)
    if len(b64url_decode(public_key)) != 32:
        raise ProtocolError("payload.public_key must be a raw 32-byte Ed25519 key, base64url")
    return {"room": _text(p, "room", limit=32), "code": _text(p, "code", limit=64),
            "public_key": public_key, "machine": _text(p, "machine", limit=64),
            "hostname": _text(p, "hostname", required=False), "agent_version": _text(p, "agent_version", limit=64,
                                                                                      required=False),
            "platform": _text(p, "platform", limit=100, required=False),
            "signature": _text(p, "signature", limit=128)}


def _hello(p: dict) -> dict:
    return {"kiosk_id": _int(p, "kiosk_id", minimum=1),
            "agent_version": _text(p, "agent_version", limit=64, required=False),
            "signature": _text(p, "signature", limit=128)}


def _heartbeat(p: dict) -> dict:
    status = p.get("status")
    if status not in AGENT_STATUSES:
        raise ProtocolError(f"payload.status must be one of {', '.join(AGENT_STATUSES)}")
    journal = p.get("journal", {})
    if not isinstance(journal, dict) or len(journal) > 64 or not all(
            isinstance(k, str) and len(k) <= 64 and _is_int(v) for k, v in journal.items()):
        raise ProtocolError("payload.journal must be an object {writer: highest seq}")
    candidate = p.get("candidate")
    if candidate is not None and (not isinstance(candidate, str) or len(candidate) > 100):
        raise ProtocolError("payload.candidate must be a string of at most 100 characters, or null")
    focus = p.get("focus", True)
    if not isinstance(focus, bool):
        raise ProtocolError("payload.focus must be true or false")
    return {"status": status, "seat": _int(p, "seat", nullable=True), "candidate": candidate,
            "attempt_id": _int(p, "attempt_id", nullable=True, minimum=1), "journal": journal,
            "free_disk_mb": _int(p, "free_disk_mb", nullable=True),
            "battery_pct": _int(p, "battery_pct", nullable=True), "focus": focus,
            "lockdown": _text(p, "lockdown", limit=50, required=False)}


def _report(p: dict) -> dict:
    if p.get("kind") not in REPORT_KINDS:
        raise ProtocolError(f"payload.kind must be one of {', '.join(REPORT_KINDS)}")
    detail = p.get("detail", {})
    if not isinstance(detail, dict):
        raise ProtocolError("payload.detail must be an object")
    return {"kind": p["kind"], "detail": detail}


def _events(p: dict) -> dict:
    events = p.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise ProtocolError(f"payload.events must be a list of 1 to {MAX_EVENTS} events")
    if not all(isinstance(e, dict) for e in events):
        raise ProtocolError("each event must be an object {writer, seq, question_id, response, client_time, epoch}")
    return {"attempt_id": _int(p, "attempt_id", minimum=1), "token": _text(p, "token", limit=200),
            "events": events}


def _command_result(p: dict) -> dict:
    if p.get("outcome") not in COMMAND_OUTCOMES:
        raise ProtocolError(f"payload.outcome must be one of {', '.join(COMMAND_OUTCOMES)}")
    detail = p.get("detail", {})
    if not isinstance(detail, dict):
        raise ProtocolError("payload.detail must be an object")
    return {"command_id": _int(p, "command_id", minimum=1), "outcome": p["outcome"], "detail": detail}


def _command(p: dict) -> dict:
    if p.get("name") not in COMMAND_NAMES:
        raise ProtocolError(f"payload.name must be one of {', '.join(COMMAND_NAMES)}")
    args = p.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError("payload.args must be an object")
    return {"command_id": _int(p, "command_id", minimum=1), "name": p["name"], "args": args,
            "issued_at": p.get("issued_at")}


def _challenge(p: dict) -> dict:
    return {"nonce": _text(p, "nonce", limit=64), "server_time": p.get("server_time")}


def _error(p: dict) -> dict:
    return {"ref": p.get("ref"), "code": _text(p, "code", limit=50), "message": _text(p, "message", limit=2000,
                                                                                        required=False)}


_VALIDATORS = {REGISTER: _register, HELLO: _hello, HEARTBEAT: _heartbeat, REPORT: _report, EVENTS: _events,
               COMMAND_RESULT: _command_result, COMMAND: _command, CHALLENGE: _challenge, ERROR: _error}


def validate(envelope: Envelope) -> dict[str, Any]:
    """The payload of a known message type, checked and normalised (unknown optional fields
    dropped); ``ProtocolError`` saying which field is wrong. Types without a validator
    (acks, welcome) are returned as they are."""
    check = _VALIDATORS.get(envelope.type)
    if check is None:
        if envelope.type in AGENT_TYPES or envelope.type in BRIDGE_TYPES:
            return dict(envelope.payload)
        raise ProtocolError(f"unknown message type {envelope.type!r}")
    return check(envelope.payload)


def message(type_: str, payload: dict[str, Any] | None = None, *, ref: str | None = None) -> Envelope:
    """An envelope of ``type_``; with ``ref`` the payload names the request it answers."""
    body = dict(payload or {})
    if ref is not None:
        body["ref"] = ref
    return Envelope(type=type_, payload=body)
