"""A protocol-level kiosk client (websocket-client + ``kiosk_agent.protocol``), blocking.

Not the agent: it speaks the wire protocol of docs/protocol.md and nothing else, so tests
and the kiosk benchmark can drive ``/ws/kiosk`` message by message. The real agent lives in
``kiosk_agent``.
"""
from __future__ import annotations

import hashlib
import time
from typing import Any, Callable

import websocket
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent import protocol as P


class ClientError(AssertionError):
    pass


class KioskClient:
    def __init__(self, url: str, *, key: Ed25519PrivateKey | None = None, headers: list[str] | None = None,
                 timeout: float = 10.0) -> None:
        self.url = url
        self.key = key or Ed25519PrivateKey.generate()
        self.public_key = P.public_key_text(self.key)
        self.machine = hashlib.sha256(self.public_key.encode()).hexdigest()
        self.timeout = timeout
        self.ws = websocket.create_connection(url, header=headers or [], timeout=timeout)
        self.stash: list[P.Envelope] = []
        self.kiosk_id: int | None = None
        self.welcome: dict[str, Any] | None = None
        self.challenge = self.wait_for(lambda e: e.type == P.CHALLENGE, "challenge")
        self.nonce = self.challenge.payload["nonce"]

    # --- plumbing -----------------------------------------------------------------------
    def send_raw(self, text: str | bytes) -> None:
        if isinstance(text, bytes):
            self.ws.send_binary(text)
        else:
            self.ws.send(text)

    def send(self, type_: str, payload: dict[str, Any] | None = None) -> P.Envelope:
        envelope = P.Envelope(type=type_, payload=payload or {})
        self.ws.send(envelope.encode())
        return envelope

    def recv(self, timeout: float | None = None) -> P.Envelope:
        self.ws.settimeout(timeout or self.timeout)
        raw = self.ws.recv()
        if not raw:
            raise ClientError("the bridge closed the socket")
        return P.decode(raw)

    def wait_for(self, match: Callable[[P.Envelope], bool], what: str, timeout: float | None = None) -> P.Envelope:
        for i, envelope in enumerate(self.stash):
            if match(envelope):
                return self.stash.pop(i)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientError(f"no {what} within {timeout or self.timeout:g} s; stashed: "
                                  f"{[e.type for e in self.stash]}")
            try:
                envelope = self.recv(left)
            except websocket.WebSocketTimeoutException:
                continue
            if match(envelope):
                return envelope
            self.stash.append(envelope)

    def request(self, type_: str, payload: dict[str, Any] | None = None, timeout: float | None = None) -> P.Envelope:
        """Send and return the bridge's answer naming it (its ``ref``)."""
        sent = self.send(type_, payload)
        return self.wait_for(lambda e: e.payload.get("ref") == sent.id, f"answer to {type_}", timeout)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass

    # --- the handshake ------------------------------------------------------------------
    def register(self, room: str, code: str) -> P.Envelope:
        answer = self.request(P.REGISTER, {
            "room": room, "code": code, "public_key": self.public_key, "machine": self.machine,
            "hostname": "test-pc", "agent_version": "test", "platform": "linux",
            "signature": P.sign(self.key, self.nonce, self.public_key)})
        self._welcomed(answer)
        return answer

    def hello(self, kiosk_id: int, *, agent_version: str = "test") -> P.Envelope:
        answer = self.request(P.HELLO, {"kiosk_id": kiosk_id, "agent_version": agent_version,
                                        "signature": P.sign(self.key, self.nonce, kiosk_id)})
        self._welcomed(answer)
        return answer

    def _welcomed(self, answer: P.Envelope) -> None:
        if answer.type == P.WELCOME:
            self.welcome = answer.payload
            self.kiosk_id = answer.payload["kiosk_id"]

    def heartbeat(self, **fields: Any) -> P.Envelope:
        body = {"status": "idle", "seat": None, "candidate": None, "attempt_id": None, "journal": {},
                "free_disk_mb": 10_000, "battery_pct": None, "focus": True, "lockdown": "monitor"}
        body.update(fields)
        return self.request(P.HEARTBEAT, body)

    def command(self, timeout: float | None = None) -> P.Envelope:
        return self.wait_for(lambda e: e.type == P.COMMAND, "command", timeout)
