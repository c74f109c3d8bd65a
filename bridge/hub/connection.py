"""One kiosk socket's outgoing side: a bounded queue drained by its own sender.

Everything that talks to a kiosk (the socket's own handler, a bus notification, a fence
from a newer hello) only enqueues, so nobody ever blocks on a slow peer. A peer that lets
``QUEUE_SIZE`` messages pile up is closed (it reconnects and gets its commands again from
the database). The sender is a thread: a greenlet under ``exambridge serve`` (monkey-patched),
a real thread under the threaded test server.
"""
from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from typing import Any, Optional

from kiosk_agent.protocol import ERROR, Envelope

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
_CLOSE = object()


class Connection:
    def __init__(self, ws, address: str, worker: str) -> None:
        self.id = secrets.token_hex(8)
        self.ws = ws
        self.address = address
        self.worker = worker
        self.kiosk_id: Optional[int] = None
        self.holder = None  # presence.Holder once welcomed
        self.closing = False
        self.close_reason = ""
        # what the database last heard (devices.record_presence), and when
        self.persisted: tuple = ()
        self.persisted_at = 0.0
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=QUEUE_SIZE)
        self._sender = threading.Thread(target=self._send_loop, name=f"kiosk-send-{self.id}", daemon=True)
        self._sender.start()

    # --- enqueue ------------------------------------------------------------------------
    def send(self, envelope: Envelope | str) -> bool:
        """Queue a message; False when the socket is closing or its queue overflowed."""
        if self.closing:
            return False
        text = envelope if isinstance(envelope, str) else envelope.encode()
        try:
            self._queue.put_nowait(text)
            return True
        except queue.Full:
            log.warning("kiosk %s (%s): send queue full, closing the socket", self.kiosk_id, self.address)
            self.close("send queue overflow", drain=True)
            return False

    def error(self, ref: str | None, code: str, message: str) -> None:
        self.send(Envelope(type=ERROR, payload={"ref": ref, "code": code, "message": message}))

    def close(self, reason: str = "", *, drain: bool = False) -> None:
        """Close after the messages already queued (``drain``: drop them)."""
        if self.closing:
            return
        self.closing = True
        self.close_reason = reason
        if drain:
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
        try:
            self._queue.put_nowait(_CLOSE)
        except queue.Full:  # pragma: no cover - drained above or room left
            pass

    def fence(self, message: str) -> None:
        """A newer hello of the same kiosk took over: say so and close."""
        self.error(None, "fenced", message)
        self.close("fenced")

    def stop(self, timeout: float = 2.0) -> None:
        """From the handler's ``finally``: end the sender (the socket is closed by then)."""
        self.closing = True
        try:
            self._queue.put_nowait(_CLOSE)
        except queue.Full:
            pass
        self._sender.join(timeout)

    # --- the sender ---------------------------------------------------------------------
    def _send_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _CLOSE:
                break
            try:
                self.ws.send(item)
            except Exception:  # ConnectionClosed, OSError: the handler notices on receive
                self.closing = True
                break
        try:
            if self.ws.connected:
                self.ws.close(reason=1000, message=self.close_reason[:100] or None)
        except Exception:
            pass


def now() -> float:
    return time.time()
