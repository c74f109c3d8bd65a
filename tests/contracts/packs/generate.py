"""Golden answer packs (format version 1), made deterministically with fixed test keys.

    .venv/bin/python -m tests.contracts.packs.generate     # rewrites the files below

Writes, next to this script: ``keys.json`` (the fixed TEST keys: never use them anywhere
else), ``<name>.epack`` per case and ``<name>.expected.json`` (the manifest and the events
an opener must read). Agent tests rebuild each pack and compare bytes; bridge tests open
the files. A change to the format must bump the version and add new golden files, not
rewrite these.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from kiosk_agent.answer_pack import build_pack, open_pack
from kiosk_agent.answer_pack.model import chain_event

HERE = Path(__file__).resolve().parent


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"exambridge golden pack test key: {label}".encode()).digest()


KEYS = {
    "bridge_private": _seed("bridge"),
    "device_private": _seed("device"),
    "ephemeral_private": _seed("ephemeral"),
    "other_bridge_private": _seed("other bridge"),
    "nonce": _seed("nonce")[:12],
}


def _chain(attempt_id: int, events: list[dict]) -> list[dict]:
    heads: dict[str, str] = {}
    out = []
    for event in events:
        prev = heads.get(event["writer"], "")
        full = {**event, "prev": prev}
        full["hash"] = chain_event(prev, attempt_id, full)
        heads[event["writer"]] = full["hash"]
        out.append(full)
    return out


def cases() -> dict[str, dict]:
    """name → {"manifest", "events"} (the builder's input)."""
    basic_events = _chain(41, [
        {"writer": "kiosk-7:tab-1", "seq": 1, "question_id": 101, "response": {"choice": "b"},
         "client_time": 1795305600.5, "epoch": 1, "at": 1795305601.25},
        {"writer": "kiosk-7:tab-1", "seq": 2, "question_id": 104, "response": {"text": "<p>水的沸点是 100 °C。</p>",
                                                                             "format": "html"},
         "client_time": 1795305660.0, "epoch": 1, "at": 1795305660.75},
        {"writer": "kiosk-7:tab-1", "seq": 3, "question_id": 101, "response": {"choice": "c", "flagged": True},
         "client_time": 1795305720.0, "epoch": 1, "at": None},
        {"writer": "kiosk-7:tab-2", "seq": 1, "question_id": 103, "response": {"blanks": ["Paris", None]},
         "client_time": None, "epoch": 1, "at": 1795305800.0},
    ])
    manifest = {"exam_id": 3, "session_id": 5, "attempt_id": 41, "created": 1795306000.0,
                "admission_number": "2026110500107", "seat": 7, "kiosk_id": 12,
                "acked": {"kiosk-7:tab-1": {"seq": 2, "head": basic_events[1]["hash"]}},
                "deadline": {"at": 1795312800.0}, "epoch": 1, "agent_version": "0.1.0"}
    empty_manifest = {"exam_id": 3, "session_id": 5, "attempt_id": 42, "created": 1795306000.0,
                      "admission_number": None, "seat": None, "kiosk_id": None, "acked": {},
                      "deadline": None, "epoch": None, "agent_version": "0.1.0"}
    return {"v1-basic": {"manifest": manifest, "events": basic_events},
            "v1-empty": {"manifest": empty_manifest, "events": []}}


def build(name: str) -> bytes:
    case = cases()[name]
    bridge_public = X25519PrivateKey.from_private_bytes(KEYS["bridge_private"]).public_key()
    return build_pack(manifest=case["manifest"], events=case["events"], device_private_key=KEYS["device_private"],
                      bridge_public_key=bridge_public, ephemeral_private_key=KEYS["ephemeral_private"],
                      nonce=KEYS["nonce"])


def main() -> None:
    (HERE / "keys.json").write_text(json.dumps({k: v.hex() for k, v in KEYS.items()}, indent=2) + "\n")
    for name in cases():
        data = build(name)
        (HERE / f"{name}.epack").write_bytes(data)
        manifest, events = open_pack(data, KEYS["bridge_private"])
        (HERE / f"{name}.expected.json").write_text(
            json.dumps({"manifest": manifest, "events": events}, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
            encoding="utf-8")
        print(f"{name}.epack: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
