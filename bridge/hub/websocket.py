"""Server-side WebSockets (RFC 6455) read by the request's own handler.

Why not simple-websocket (flask-sock): it runs a reader greenlet per socket on a duplicate
of the socket (two descriptors), parses frames with wsproto's event machinery and hands
every message to the handler through an ``Event`` with a ``Timeout``. At 5,000 kiosks that
was most of the bridge's CPU per heartbeat besides the system calls, and ~10 KiB per socket.
Here the handler greenlet (or thread, under the threaded test server) reads the socket
itself: ``receive`` parses whole frames from one ``recv`` into the next message, ``send``
writes one frame. No extension (permessage-deflate) and no subprotocol is negotiated; a
client that breaks the protocol (unmasked frames, reserved bits or opcodes, a bad close
code, text that is not UTF-8, a message over ``max_message_size``) gets a close frame with
the RFC's code and the socket ends.

Use ``websocket_response(environ, handler)`` from a Flask view: it checks the upgrade
request (a plain ``HandshakeError`` for the caller to answer 400/426), answers 101 on the
socket, runs ``handler(ws)`` and returns the WSGI response that writes nothing more.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import socket
import struct
import threading
import time
from typing import Any, Callable, Optional

from flask import Response

log = logging.getLogger(__name__)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RECV_BYTES = 16384
#: Close codes (RFC 6455 §7.4.1).
NORMAL, GOING_AWAY, PROTOCOL_ERROR, UNSUPPORTED, INVALID_DATA, POLICY, TOO_BIG = 1000, 1001, 1002, 1003, 1007, 1008, 1009
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_EMPTY = b""


class HandshakeError(Exception):
    """Not a WebSocket upgrade this server can accept; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def _tokens(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


def check_upgrade(environ: dict) -> str:
    """The client's ``Sec-WebSocket-Key`` for a valid version-13 upgrade, else HandshakeError."""
    if environ.get("REQUEST_METHOD") != "GET":
        raise HandshakeError("A WebSocket upgrade is a GET request.")
    if "websocket" not in _tokens(environ.get("HTTP_UPGRADE", "")) \
            or "upgrade" not in _tokens(environ.get("HTTP_CONNECTION", "")):
        raise HandshakeError("This address speaks WebSocket only (Upgrade: websocket).")
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != "13":
        raise HandshakeError("Only WebSocket version 13 is supported.", status=426)
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except ValueError:
        raise HandshakeError("Sec-WebSocket-Key is not a base64-encoded 16-byte value.") from None
    return key


def raw_socket(environ: dict) -> tuple[Any, str]:
    """The connection's socket and the server kind ("gevent" or "werkzeug")."""
    sock = environ.get("exambridge.socket")  # bridge.runtime.server's handler puts it there
    if sock is not None:
        return sock, "gevent"
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        return sock, "werkzeug"
    raise HandshakeError("This server cannot hand over its socket for a WebSocket.", status=500)


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return _EMPTY
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (the server's side)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def _valid_close_code(code: int) -> bool:
    return 1000 <= code <= 1014 and code not in (1004, 1005, 1006) or 3000 <= code <= 4999


class WebSocket:
    """One accepted WebSocket. ``receive`` belongs to the handler alone; ``send`` and
    ``close`` may come from any greenlet/thread (writes are serialised)."""

    __slots__ = ("sock", "mode", "connected", "max_message_size", "close_code", "close_message", "_buf",
                 "_parts", "_parts_opcode", "_parts_len", "_timeout", "_write_lock", "deadline", "pending")

    def __init__(self, sock, mode: str, *, max_message_size: int | None = None) -> None:
        self.sock = sock
        self.mode = mode
        self.connected = True
        self.max_message_size = max_message_size
        self.close_code: Optional[int] = None
        self.close_message = ""
        self._buf: bytes | bytearray = _EMPTY
        self._parts: Optional[list[bytes]] = None  # a fragmented message being assembled
        self._parts_opcode = 0
        self._parts_len = 0
        self._timeout: Any = False  # what sock.settimeout was last given (False: never set)
        self._write_lock = threading.Lock()
        #: ``time.monotonic()`` after which ``receive`` returns None whatever its timeout (a
        #: kiosk's handshake: ``bridge.hub.connection``); None: no such deadline
        self.deadline: Optional[float] = None
        #: the server's ``bridge.runtime.server.PendingConnections`` (None under other servers)
        self.pending: Any = None

    # --- writing -------------------------------------------------------------------------
    def send(self, data: str | bytes) -> None:
        """Send one text (str) or binary (bytes) message; ConnectionError when closed."""
        if not self.connected:
            raise ConnectionError("the WebSocket is closed")
        if isinstance(data, str):
            self._write(frame(_TEXT, data.encode("utf-8")))
        else:
            self._write(frame(_BINARY, bytes(data)))

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            self.sock.sendall(data)

    def try_send(self, data: str | bytes, spawn: Callable[[Callable[[], None]], Any]) -> bool:
        """Send one message only if the socket takes it without waiting: for a sender that
        must never block on a slow peer (a broadcast to thousands of sockets). True when it
        went (a rest that did not fit is finished by ``spawn(fn)``, which holds the write
        lock till then); False when nothing was written (the caller queues it instead).
        ConnectionError when closed."""
        if not self.connected:
            raise ConnectionError("the WebSocket is closed")
        payload = frame(_TEXT, data.encode("utf-8")) if isinstance(data, str) else frame(_BINARY, bytes(data))
        if not self._write_lock.acquire(blocking=False):
            return False
        try:
            sent = self._send_nowait(payload)
        except BaseException:
            self._write_lock.release()
            raise
        if sent == len(payload):
            self._write_lock.release()
            return True
        if sent == 0:
            self._write_lock.release()
            return False
        rest = payload[sent:]

        def finish() -> None:
            try:
                self.sock.sendall(rest)
            except OSError:
                self.connected = False
            finally:
                self._write_lock.release()
        spawn(finish)
        return True

    def _send_nowait(self, payload: bytes) -> int:
        """Bytes the socket took at once (0 when its buffer is full)."""
        if self.mode != "gevent":
            # a plain socket with a timeout polls for room before it sends, even with
            # MSG_DONTWAIT: the threaded test server always queues instead
            return 0
        try:  # gevent's socket: timeout 0.0 is one non-blocking attempt
            return self.sock.send(payload, 0, timeout=0.0)
        except (BlockingIOError, InterruptedError):
            return 0

    def close(self, reason: int = NORMAL, message: str | None = None) -> None:
        """Send a close frame and end the connection (the handler's ``receive`` returns None)."""
        if not self.connected:
            return
        self.connected = False
        self.close_code = reason
        payload = struct.pack("!H", reason) + (message or "").encode("utf-8")[:123]
        try:
            self._write(frame(_CLOSE, payload))
        except OSError:
            pass
        self._shutdown()

    def _shutdown(self) -> None:
        # the server closes the TCP connection first (RFC 6455 §7.1.1); this also wakes a
        # handler blocked in recv
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _fail(self, code: int, message: str) -> None:
        log.info("WebSocket closed (%d): %s", code, message)
        self.close(code, message)

    # --- reading -------------------------------------------------------------------------
    def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next message; None when ``timeout`` passed first or the socket is closed
        (then ``connected`` is False). ``timeout`` and ``deadline`` are absolute for the
        whole message: bytes trickled one at a time never extend them."""
        end = None if timeout is None else time.monotonic() + timeout
        if self.deadline is not None:
            end = self.deadline if end is None else min(end, self.deadline)
        wait = timeout if self.deadline is None else None  # the first read: the cached timeout
        while True:
            if self._buf:
                message = self._parse()
                if message is not None:
                    return message
            if not self.connected:
                return None
            if wait is None and end is not None:
                wait = end - time.monotonic()
                if wait <= 0:
                    return None
            if wait != self._timeout:
                self.sock.settimeout(wait)
                self._timeout = wait
            wait = None  # later reads of this message: what is left until ``end``
            try:
                data = self.sock.recv(RECV_BYTES)
            except socket.timeout:
                return None
            except OSError:
                data = _EMPTY
            if not data:
                self.connected = False
                if self.close_code is None:
                    self.close_code = 1006
                return None
            if self._buf:
                if not isinstance(self._buf, bytearray):
                    self._buf = bytearray(self._buf)
                self._buf += data
            else:
                self._buf = data

    def _parse(self) -> str | bytes | None:
        """Consume whole frames from the buffer until a message is complete (or more
        bytes are needed: None)."""
        while self.connected:
            buf = self._buf
            have = len(buf)
            if have < 2:
                return None
            b0, b1 = buf[0], buf[1]
            opcode, length, pos = b0 & 0x0F, b1 & 0x7F, 2
            if length == 126:
                if have < 4:
                    return None
                length, pos = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if have < 10:
                    return None
                length, pos = int.from_bytes(buf[2:10], "big"), 10
            if b0 & 0x70:
                return self._fail(PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)")
            if not b1 & 0x80:
                return self._fail(PROTOCOL_ERROR, "a client's frames must be masked")
            final = b0 & 0x80
            if opcode >= 8:
                if length > 125 or not final:
                    return self._fail(PROTOCOL_ERROR, "control frames are final and at most 125 bytes")
            elif self.max_message_size is not None and self._parts_len + length > self.max_message_size:
                return self._fail(TOO_BIG, "message too big")
            end = pos + 4 + length
            if have < end:
                return None
            payload = _unmask(bytes(buf[pos + 4:end]), bytes(buf[pos:pos + 4]))
            self._buf = buf[end:] if have > end else _EMPTY
            if opcode >= 8:
                self._control(opcode, payload)
                continue
            message = self._data(opcode, final, payload)
            if message is not None:
                return message
        return None

    def _data(self, opcode: int, final: int, payload: bytes) -> str | bytes | None:
        if opcode == _CONTINUATION:
            if self._parts is None:
                return self._fail(PROTOCOL_ERROR, "continuation frame without a message to continue")
            self._parts.append(payload)
            self._parts_len += len(payload)
            if not final:
                return None
            opcode, payload = self._parts_opcode, b"".join(self._parts)
            self._parts, self._parts_len = None, 0
        elif opcode in (_TEXT, _BINARY):
            if self._parts is not None:
                return self._fail(PROTOCOL_ERROR, "a new message began inside a fragmented one")
            if not final:
                self._parts, self._parts_opcode, self._parts_len = [payload], opcode, len(payload)
                return None
        else:
            return self._fail(PROTOCOL_ERROR, f"reserved opcode {opcode}")
        if opcode == _BINARY:
            return payload
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(INVALID_DATA, "a text message that is not UTF-8")

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == _PING:
            try:
                self._write(frame(_PONG, payload))
            except OSError:
                self.connected = False
        elif opcode == _CLOSE:
            code, message = NORMAL, ""
            if len(payload) == 1:
                return self._fail(PROTOCOL_ERROR, "a close frame's code is two bytes")
            if len(payload) >= 2:
                code = struct.unpack("!H", payload[:2])[0]
                try:
                    message = payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    return self._fail(INVALID_DATA, "a close reason that is not UTF-8")
                if not _valid_close_code(code):
                    return self._fail(PROTOCOL_ERROR, f"close code {code} may not be sent")
            self.close_message = message
            self.close(code if payload else NORMAL)  # echo it, then end
        elif opcode != _PONG:
            self._fail(PROTOCOL_ERROR, f"reserved control opcode {opcode}")


class _Upgraded(Response):
    """The view's answer once the socket is done: nothing more to write (gevent: the 101 went
    out on the socket; pywsgi closes an upgraded connection when the app returns).

    A Flask ``Response`` so that Flask takes it as it is: any other callable is run as a WSGI
    app at once to make it one (``force_type``), and this one calls no ``start_response``
    under gevent, so every socket's end was logged as "Exception on /ws/…"."""

    def __init__(self, mode: str) -> None:
        super().__init__(status=101)
        self.mode = mode

    def __call__(self, environ, start_response):
        if self.mode == "werkzeug":
            # werkzeug's handler needs a response; the peer is gone, so writing it fails
            # quietly (BrokenPipe is one of the errors it expects)
            start_response("101 Switching Protocols", [])
        return []


def websocket_response(environ: dict, handler: Callable[[WebSocket], None], *,
                       max_message_size: int | None = None) -> _Upgraded:
    """Accept the upgrade in ``environ`` (HandshakeError if it is not one), run
    ``handler(ws)`` until it returns, close, and return the WSGI response to hand back."""
    key = check_upgrade(environ)
    sock, mode = raw_socket(environ)
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept_key(key).encode("ascii") + b"\r\n\r\n")
    ws = WebSocket(sock, mode, max_message_size=max_message_size)
    ws.pending = environ.get("exambridge.pending")  # bridge.runtime.server's handler puts it there
    try:
        handler(ws)
    finally:
        ws.close(GOING_AWAY if ws.connected else NORMAL)
    return _Upgraded(mode)
