"""One kiosk socket's outgoing side: a bounded queue, drained on demand.

The socket's own handler answers directly (``send(..., direct=True)``) when nothing is
queued: no hand-over, no extra wake-up on the hot path (a heartbeat and its ack). Everybody
else (a bus notification, a fence from a newer hello, a broadcast) writes at once only what
the socket takes without waiting (``WebSocket.try_send``: a broadcast reaches thousands of
idle sockets in one pass, no greenlet each) and otherwise enqueues, so nobody ever blocks
on a slow peer; a drainer (a greenlet under ``exambridge serve``, a thread under
the threaded test server) is started when the queue gets its first message and ends when
it is empty, so an idle socket costs no sender of its own (memory: 5,000 kiosks per
process). A peer that lets ``QUEUE_SIZE`` messages pile up is closed (it reconnects and
gets its commands again from the database).

Until the kiosk has proven its key (``kiosk_id`` is set), the socket is one of the server's
pending connections (``bridge.runtime.server.PendingConnections``): capped per address and in all,
and ended at an absolute handshake deadline (``WebSocket.deadline``) however its bytes trickle.
"""
from __future__ import annotations

import collections
import logging
import secrets
import threading
import time
from typing import Any, Optional

from kiosk_agent.protocol import ERROR, Envelope

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
#: Seconds from the 101 to the kiosk's proven key where the server sets no other value
#: (``EXAMBRIDGE_KIOSK_HANDSHAKE_SECONDS``); the hub's own handshake limit is 30 s too.
HANDSHAKE_SECONDS = 30.0
_CLOSE = object()
_EMPTY: "collections.deque[Any]" = collections.deque(maxlen=0)  # shared, stays empty (an idle socket)


def _spawner():
    """``gevent.spawn`` when the process is monkey-patched, else a daemon thread."""
    from bridge.runtime.writer import gevent_active

    if gevent_active():
        import gevent

        return gevent.spawn

    def spawn(fn):
        thread = threading.Thread(target=fn, daemon=True)
        thread.start()
        return thread
    return spawn


class Connection:
    __slots__ = ("id", "ws", "address", "worker", "_kiosk_id", "holder", "closing", "close_reason", "persisted",
                 "persisted_at", "_queue", "_lock", "_sending", "_spawn", "_slot", "__weakref__")

    def __init__(self, ws, address: str, worker: str) -> None:
        self.id = secrets.token_hex(8)
        self.ws = ws
        self.address = address
        self.worker = worker
        self._kiosk_id: Optional[int] = None
        self.holder = None  # presence.Holder once welcomed
        self.closing = False
        self.close_reason = ""
        # what the database last heard (devices.record_presence), and when
        self.persisted: tuple = ()
        self.persisted_at = 0.0
        self._queue: collections.deque[Any] = _EMPTY  # a real deque on the first queued message
        self._lock = threading.Lock()
        self._sending = False  # a drainer or a direct send is writing to the socket
        self._spawn = _spawner()
        self._slot = None
        self._hold_pending()

    # --- before the kiosk has proven its key ------------------------------------------
    def _hold_pending(self) -> None:
        """Take a pending place (or refuse the socket: too many still opening) and set the
        handshake's absolute deadline on the socket."""
        pending = getattr(self.ws, "pending", None)
        seconds = pending.policy.handshake_seconds if pending is not None else HANDSHAKE_SECONDS
        if hasattr(self.ws, "deadline"):
            self.ws.deadline = time.monotonic() + seconds
        if pending is None:
            return
        slot = pending.admit(self.address, "kiosk socket")
        if isinstance(slot, str):
            self._refuse(slot)
        else:
            self._slot = slot

    def _refuse(self, why: str) -> None:
        from flask_babel import gettext as _

        from bridge.runtime.server import BY_ADDRESS

        message = (_("Too many connections from your address are still opening: try again in a few seconds.")
                   if why == BY_ADDRESS else
                   _("The server has too many connections that are still opening: try again in a few seconds."))
        self.closing = True
        self.close_reason = "refused"
        try:
            self.ws.close(1008, message)  # policy violation, with the reason
        except Exception:
            pass

    def _end_pending(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()

    @property
    def kiosk_id(self) -> Optional[int]:
        return self._kiosk_id

    @kiosk_id.setter
    def kiosk_id(self, value: Optional[int]) -> None:
        """Set once the kiosk proved its key: the socket is no longer pending."""
        self._kiosk_id = value
        if value is not None:
            self._end_pending()
            if getattr(self.ws, "deadline", None) is not None:
                self.ws.deadline = None

    # --- enqueue ------------------------------------------------------------------------
    def send(self, envelope: Envelope | str, *, direct: bool = False) -> bool:
        """Send or queue a message; False when the socket is closing or its queue overflowed.
        When nothing is queued the message is written at once: ``direct`` (the socket's own
        handler only) waits for the socket if it must; anybody else writes only what the
        socket takes without waiting (``try_send``) and leaves the rest to the drainer."""
        if self.closing:
            return False
        text = envelope if isinstance(envelope, str) else envelope.encode()
        with self._lock:
            now = not self._sending and not self._queue
            if now:
                self._sending = True
            elif len(self._queue) < QUEUE_SIZE:
                if self._queue is _EMPTY:
                    self._queue = collections.deque()
                self._queue.append(text)
                if not self._sending:
                    self._sending = True
                    self._spawn(self._drain)
                return True
        if not now:  # the queue is full: this peer does not read
            log.warning("kiosk %s (%s): send queue full, closing the socket", self.kiosk_id, self.address)
            self.close("send queue overflow", drain=True)
            return False
        try:
            if direct:
                self.ws.send(text)
            elif not self._try_send(text):  # the peer's buffer is full: the drainer waits for it
                with self._lock:
                    if self._queue is _EMPTY:
                        self._queue = collections.deque()
                    self._queue.appendleft(text)
            return True
        except Exception:
            self.closing = True
            return False
        finally:
            with self._lock:
                if self._queue:
                    self._spawn(self._drain)  # queued meanwhile: the drainer inherits _sending
                else:
                    self._sending = False

    def _try_send(self, text: str) -> bool:
        try_send = getattr(self.ws, "try_send", None)
        if try_send is None:  # a socket without non-blocking writes: always through the drainer
            return False
        return try_send(text, self._spawn)

    def error(self, ref: str | None, code: str, message: str, *, direct: bool = False) -> None:
        self.send(Envelope(type=ERROR, payload={"ref": ref, "code": code, "message": message}), direct=direct)

    def close(self, reason: str = "", *, drain: bool = False) -> None:
        """Close after the messages already queued (``drain``: drop them)."""
        if self.closing:
            return
        self.closing = True
        self.close_reason = reason
        with self._lock:
            if drain or self._queue is _EMPTY:
                self._queue = collections.deque()
            self._queue.append(_CLOSE)
            if not self._sending:
                self._sending = True
                self._spawn(self._drain)

    def fence(self, message: str) -> None:
        """A newer hello of the same kiosk took over: say so and close."""
        self.error(None, "fenced", message)
        self.close("fenced")

    def stop(self) -> None:
        """From the handler's ``finally``: nothing more is accepted (what is queued still goes)."""
        self.closing = True
        self._end_pending()

    # --- the drainer --------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._sending = False
                    self._queue = _EMPTY  # give the deque back: most sockets are idle
                    return
                item = self._queue.popleft()
            if item is _CLOSE:
                self._close_socket()
                with self._lock:
                    self._queue.clear()
                    self._sending = False
                return
            try:
                self.ws.send(item)
            except Exception:  # ConnectionClosed, OSError: the handler notices on receive
                self.closing = True
                with self._lock:
                    self._queue.clear()
                    self._sending = False
                return

    def _close_socket(self) -> None:
        try:
            if self.ws.connected:
                self.ws.close(reason=1000, message=self.close_reason[:100] or None)
        except Exception:
            pass
