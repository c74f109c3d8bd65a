"""What an answer pack holds, and the hash chain it shares with the bridge.

The chain is the bridge's (``bridge/services/delivery/answers.py``), implemented here again because
the agent never imports the bridge; ``tests/kiosk/test_journal_chain.py`` checks that both
give the same hashes::

    payload_hash = sha256(canonical({"question_id": q, "response": r}))
    hash         = sha256(canonical([prev_hash or "", attempt_id, writer, seq, epoch, payload_hash]))

canonical = JSON with sorted keys, no spaces, ``ensure_ascii=False``, UTF-8.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

MAGIC = b"\x89EPACK\r\n"  # 8 bytes; a text-mode copy or a stray file fails here
FORMAT_NAME = "exambridge-answer-pack"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
SIGNATURE_CONTEXT = b"exambridge-epack-v1\x00"
HKDF_INFO = b"exambridge-epack-v1 events"
MAX_MANIFEST_BYTES = 64 * 1024
MAX_CIPHERTEXT_BYTES = 64 * 1024 * 1024

#: Manifest fields the codec fills in (callers' values are replaced).
COMPUTED_FIELDS = ("format", "version", "writers", "event_count", "heads", "device_key", "pack_key_id")
#: Manifest fields the caller must give.
REQUIRED_FIELDS = ("exam_id", "session_id", "attempt_id", "created")
#: Manifest fields the caller may give (None when unknown).
OPTIONAL_FIELDS = ("admission_number", "seat", "kiosk_id", "acked", "deadline", "epoch", "agent_version")
#: Fields of each event inside a pack.
EVENT_FIELDS = ("writer", "seq", "question_id", "response", "client_time", "epoch", "prev", "hash", "at")


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def payload_hash(question_id: int, response: dict) -> str:
    return hashlib.sha256(canonical({"question_id": question_id, "response": response})).hexdigest()


def event_hash(prev_hash: str | None, attempt_id: int, writer: str, seq: int, epoch: int,
               payload: str) -> str:
    return hashlib.sha256(canonical([prev_hash or "", attempt_id, writer, seq, epoch, payload])).hexdigest()


def chain_event(prev_hash: str | None, attempt_id: int, event: dict) -> str:
    """The hash of ``event`` following ``prev_hash`` (``epoch`` None counts as 1, the bridge's
    first epoch; the agent always journals the epoch the page sent)."""
    epoch = event.get("epoch") or 1
    return event_hash(prev_hash, attempt_id, event["writer"], event["seq"], epoch,
                      payload_hash(event["question_id"], event["response"]))


def chain_heads(attempt_id: int, events: Iterable[dict]) -> dict[str, dict[str, Any]]:
    """Check each writer's chain in ``events`` (in order) and return {writer: {"seq", "head"}}
    with the highest seq and the last hash. Raises ValueError naming the first broken link."""
    heads: dict[str, dict[str, Any]] = {}
    for event in events:
        writer = event["writer"]
        head = heads.get(writer)
        prev = head["head"] if head else ""
        if (event.get("prev") or "") != prev:
            raise ValueError(f"writer {writer!r} seq {event['seq']}: prev does not name the hash before it")
        if event.get("hash") != chain_event(prev, attempt_id, event):
            raise ValueError(f"writer {writer!r} seq {event['seq']}: hash does not match its content")
        heads[writer] = {"seq": max(event["seq"], head["seq"] if head else 0), "head": event["hash"]}
    return heads
