"""The kiosk ⇄ bridge message envelope, shared by both sides (docs/protocol.md).

Every message is one JSON object: ``{"v": 1, "type": str, "id": str, "ts": float,
"payload": object}``. Readers reject unknown versions and malformed envelopes with
``ProtocolError``; they never guess. Message types are added by the kiosk issue.
"""
from __future__ import annotations

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


@dataclass(frozen=True)
class Envelope:
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts: float = field(default_factory=time.time)
    v: int = PROTOCOL_VERSION

    def encode(self) -> str:
        return json.dumps({"v": self.v, "type": self.type, "id": self.id, "ts": self.ts,
                           "payload": self.payload}, ensure_ascii=False, separators=(",", ":"))


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
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"message is not JSON: {exc.msg}") from None
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
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        raise ProtocolError("message ts must be a number (seconds since the epoch)")
    if not isinstance(payload, dict):
        raise ProtocolError("message payload must be a JSON object")
    return Envelope(type=kind, payload=payload, id=mid, ts=float(ts), v=v)
