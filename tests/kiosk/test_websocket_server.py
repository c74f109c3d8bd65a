"""``bridge.hub.websocket``: the hub's own RFC 6455 server side, over real sockets.

A small Flask app (echo, hold, blast) served two ways: by the production gevent server
(``bridge.runtime.server.make_server`` in a monkey-patched subprocess) and by the threaded werkzeug
server the in-process tests use. A raw-socket client writes the frames itself, so the tests
can send what a well-behaved library never would: unmasked frames, reserved bits and
opcodes, bad close codes, text that is not UTF-8, oversized messages, fragments with
control frames between them.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path

import pytest
from flask import Flask, Response, request

from bridge.hub.websocket import GUID, HandshakeError, check_upgrade, websocket_response

MAX = 4096

APP_SCRIPT = r'''
import json, sys
from gevent import monkey; monkey.patch_all()
import gevent
from tests.kiosk.test_websocket_server import make_app
from bridge.runtime.runner import write_port_file
from bridge.runtime.server import listen, make_server

sock = listen("127.0.0.1", 0)
server = make_server(make_app(gevent.spawn), sock)
server.start()
write_port_file(sys.argv[1], sock.getsockname()[1])
gevent.wait()
'''


def make_app(spawn) -> Flask:
    """echo: every message back (``close-4000`` closes with 4000); hold: keeps the socket
    until the peer closes; blast: ``try_send`` of ``rounds`` × ``size`` bytes to every held
    socket, answering what each call returned."""
    app = Flask("ws-test")
    held: list = []

    def upgrade(handler):
        try:
            check_upgrade(request.environ)
        except HandshakeError as exc:
            return Response(str(exc), status=exc.status,
                            headers={"Sec-WebSocket-Version": "13"} if exc.status == 426 else {})
        return websocket_response(request.environ, handler, max_message_size=MAX)

    # websocket=True: werkzeug routes an upgrade request only to such a rule
    @app.route("/echo", websocket=True)
    def echo():
        def run(ws):
            while True:
                message = ws.receive(timeout=float(request.args.get("timeout", "30")))
                if message is None:
                    if ws.connected:  # the time-out passed: say so, and go on
                        ws.send("timeout")
                        continue
                    return
                if message == "close-4000":
                    ws.close(4000, "asked")
                    return
                ws.send(message)
        return upgrade(run)

    @app.get("/hold", websocket=True)
    def hold():
        def run(ws):
            held.append(ws)
            try:
                while ws.receive() is not None:
                    pass
            finally:
                held.remove(ws)
        return upgrade(run)

    @app.get("/blast")
    def blast():
        rounds, size = int(request.args["rounds"]), int(request.args["size"])
        started = time.monotonic()
        results = [[] for _ in held]
        for n in range(rounds):
            for i, ws in enumerate(held):
                results[i].append(ws.try_send(f"{n:06d}".encode() + b"x" * (size - 6), spawn))
        return {"results": results, "seconds": time.monotonic() - started}

    @app.get("/held")
    def held_count():
        return {"held": len(held)}

    return app


# --- the servers ----------------------------------------------------------------------
@pytest.fixture(params=["gevent", "werkzeug"])
def server(request, tmp_path):
    if request.param == "werkzeug":
        import threading

        from tests.fixtures.servers import serve_wsgi

        with serve_wsgi(make_app(lambda fn: threading.Thread(target=fn, daemon=True).start())) as live:
            yield live.port, "werkzeug"
        return
    import subprocess

    port_file = tmp_path / "port"
    script = tmp_path / "app.py"
    script.write_text(APP_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    with (tmp_path / "server.err").open("w") as err:
        proc = subprocess.Popen([sys.executable, str(script), str(port_file)], stdout=err, stderr=err,
                                stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the gevent server did not start:\n{(tmp_path / 'server.err').read_text()}")
            time.sleep(0.05)
        yield int(port_file.read_text()), "gevent"
    finally:
        proc.kill()
        proc.wait(timeout=10)


# --- a raw client ---------------------------------------------------------------------
class Raw:
    def __init__(self, port: int, path: str = "/echo", headers: dict | None = None, method: str = "GET"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.key = base64.b64encode(os.urandom(16)).decode()
        fields = {"Host": f"127.0.0.1:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
                  "Sec-WebSocket-Key": self.key, "Sec-WebSocket-Version": "13", **(headers or {})}
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None)
        self.sock.sendall(head.encode() + b"\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        raw_head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}

    def frame(self, opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True, rsv: int = 0) -> None:
        b0 = (0x80 if fin else 0) | rsv << 4 | opcode
        n = len(payload)
        mask_bit = 0x80 if masked else 0
        if n < 126:
            head = bytes((b0, mask_bit | n))
        elif n < 65536:
            head = struct.pack("!BBH", b0, mask_bit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mask_bit | 127, n)
        if masked:
            mask = os.urandom(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            head += mask
        self.sock.sendall(head + payload)

    def text(self, value: str) -> None:
        self.frame(0x1, value.encode())

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed with {len(self.buf)} of {n} bytes")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self) -> tuple[int, bytes]:
        b0, b1 = self._read(2)
        assert not b1 & 0x80, "a server's frames are never masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(n)

    def close_code(self) -> int:
        """Read up to the server's close frame: its code."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0]

    def ended(self) -> bool:
        """The server ended the TCP connection (after its close frame)."""
        self.sock.settimeout(5)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def expect_text(client: Raw, value: str) -> None:
    assert client.read_frame() == (0x1, value.encode())


# --- handshake ------------------------------------------------------------------------
@pytest.mark.req("K2")
def test_the_upgrade_answers_101_with_the_rfc_accept_key(server):
    port, _ = server
    client = Raw(port)
    assert client.status == 101
    assert client.headers["sec-websocket-accept"] == \
        base64.b64encode(hashlib.sha1(client.key.encode() + GUID).digest()).decode()
    assert client.headers["upgrade"].lower() == "websocket"
    client.text("你好, kiosk")
    expect_text(client, "你好, kiosk")


@pytest.mark.req("K2")
@pytest.mark.parametrize("change, status", [
    ({"Upgrade": None}, 400),
    ({"Sec-WebSocket-Version": "8"}, 426),
    ({"Sec-WebSocket-Key": "not-base64!"}, 400),
    ({"Sec-WebSocket-Key": base64.b64encode(b"short").decode()}, 400),
    ({"method": "POST"}, 405),  # werkzeug's routing: a WebSocket rule is GET only
])
def test_a_request_that_is_no_valid_upgrade_is_answered_not_upgraded(server, change, status):
    port, _ = server
    headers = {k: v for k, v in change.items() if k != "method"}
    client = Raw(port, headers=headers, method=change.get("method", "GET"))
    assert client.status == status
    if status == 426:
        assert client.headers["sec-websocket-version"] == "13"


# --- messages -------------------------------------------------------------------------
@pytest.mark.req("K2")
def test_fragments_with_a_ping_between_them_make_one_message(server):
    port, _ = server
    client = Raw(port)
    client.frame(0x1, "答".encode()[:2], fin=False)  # a character split across fragments
    client.frame(0x9, b"are you there")
    assert client.read_frame() == (0xA, b"are you there")
    client.frame(0x0, "答".encode()[2:] + b" ok", fin=True)
    expect_text(client, "答 ok")
    client.frame(0x2, b"\x00\xffbinary")
    assert client.read_frame() == (0x2, b"\x00\xffbinary")


@pytest.mark.req("K2")
def test_many_frames_in_one_segment_and_a_16_bit_length(server):
    port, _ = server
    client = Raw(port)
    masked = []
    for n in range(20):  # twenty messages written at once: one recv holds several
        payload = f"m{n}".encode()
        mask = os.urandom(4)
        masked.append(bytes((0x81, 0x80 | len(payload))) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    client.sock.sendall(b"".join(masked))
    for n in range(20):
        expect_text(client, f"m{n}")
    big = "z" * 3000  # 126..65535: the 16-bit length form
    client.text(big)
    expect_text(client, big)


@pytest.mark.req("K2")
def test_receive_returns_none_when_its_timeout_passes_and_the_socket_stays_open(server):
    port, _ = server
    client = Raw(port, path="/echo?timeout=0.2")
    expect_text(client, "timeout")
    client.text("still here")
    frames = [client.read_frame() for _ in range(2)]
    assert (0x1, b"still here") in frames


@pytest.mark.req("K2")
def test_close_is_echoed_and_the_server_ends_the_connection(server):
    port, _ = server
    client = Raw(port)
    client.frame(0x8, struct.pack("!H", 1000) + b"bye")
    assert client.close_code() == 1000
    assert client.ended()
    client = Raw(port)
    client.text("close-4000")
    assert client.close_code() == 4000


@pytest.mark.req("K2")
@pytest.mark.parametrize("send, code", [
    (lambda c: c.frame(0x1, b"plain", masked=False), 1002),       # a client must mask
    (lambda c: c.frame(0x1, b"x", rsv=0b100), 1002),               # no extension negotiated
    (lambda c: c.frame(0x3, b"x"), 1002),                          # reserved data opcode
    (lambda c: c.frame(0xB, b"x"), 1002),                          # reserved control opcode
    (lambda c: c.frame(0x9, b"p" * 126), 1002),                    # control frames <= 125 bytes
    (lambda c: c.frame(0x9, b"p", fin=False), 1002),               # control frames are final
    (lambda c: c.frame(0x0, b"x"), 1002),                          # continuation of nothing
    (lambda c: (c.frame(0x1, b"a", fin=False), c.frame(0x1, b"b")), 1002),  # new message inside one
    (lambda c: c.frame(0x1, b"\xff\xfe"), 1007),                   # text that is not UTF-8
    (lambda c: c.frame(0x8, b"\x03"), 1002),                       # a one-byte close payload
    (lambda c: c.frame(0x8, struct.pack("!H", 1005)), 1002),       # a code no one may send
    (lambda c: c.frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007),  # reason not UTF-8
])
def test_a_protocol_violation_closes_with_the_rfc_code(server, send, code):
    port, _ = server
    client = Raw(port)
    send(client)
    assert client.close_code() == code
    assert client.ended()


@pytest.mark.req("K2")
def test_a_message_over_the_limit_is_refused_before_it_is_read(server):
    """The header announces 1 MiB against a 4 KiB limit: closed with 1009 at once, without
    waiting for (or buffering) the body."""
    port, _ = server
    client = Raw(port)
    client.sock.sendall(struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 20) + os.urandom(4) + b"x" * 100)
    assert client.close_code() == 1009
    client = Raw(port)  # fragments add up: 3 × 2,000 bytes > 4,096
    client.frame(0x2, b"a" * 2000, fin=False)
    client.frame(0x0, b"b" * 2000, fin=False)
    client.frame(0x0, b"c" * 2000, fin=True)
    assert client.close_code() == 1009


# --- sending without waiting ----------------------------------------------------------
@pytest.mark.req("K6")
def test_try_send_never_waits_for_a_peer_that_does_not_read(server):
    """A broadcast (``try_send``) of 200 × 64 KiB to two peers that do not read meanwhile:
    the call returns (it would hang on a full buffer if it waited); once a peer's buffers are
    full its calls answer False (the hub queues those for the drainer) instead of blocking;
    every message that was accepted arrives whole and in order, a message that fitted only
    in part included (its rest is finished in the background once the peer reads)."""
    import requests

    port, mode = server
    peers = [Raw(port, "/hold"), Raw(port, "/hold")]
    deadline = time.monotonic() + 10
    while requests.get(f"http://127.0.0.1:{port}/held", timeout=5).json()["held"] < 2:
        assert time.monotonic() < deadline, "the server does not hold both sockets"
        time.sleep(0.02)
    size, rounds = 64 * 1024, 200
    answer = requests.get(f"http://127.0.0.1:{port}/blast?rounds={rounds}&size={size}", timeout=60).json()
    if mode == "werkzeug":  # a plain socket with a timeout cannot try without waiting: always queued
        assert not any(r for results in answer["results"] for r in results)
        return
    for peer, results in zip(peers, answer["results"]):
        assert results[0] and not all(results), "the peer filled up and was skipped, not waited for"
        peer.sock.settimeout(30)
        for n in [n for n, ok in enumerate(results) if ok]:
            opcode, payload = peer.read_frame()
            assert opcode == 0x2 and payload[:6] == f"{n:06d}".encode() and len(payload) == size


# --- the parts without sockets --------------------------------------------------------
def test_check_upgrade_names_what_is_wrong():
    good = {"REQUEST_METHOD": "GET", "HTTP_UPGRADE": "websocket", "HTTP_CONNECTION": "keep-alive, Upgrade",
            "HTTP_SEC_WEBSOCKET_VERSION": "13", "HTTP_SEC_WEBSOCKET_KEY": base64.b64encode(b"k" * 16).decode()}
    assert check_upgrade(good) == good["HTTP_SEC_WEBSOCKET_KEY"]
    with pytest.raises(HandshakeError, match="Upgrade: websocket"):
        check_upgrade({**good, "HTTP_CONNECTION": "keep-alive"})
    with pytest.raises(HandshakeError) as version:
        check_upgrade({**good, "HTTP_SEC_WEBSOCKET_VERSION": "12"})
    assert version.value.status == 426
    assert json.dumps(str(version.value))  # a plain message, fit for the answer body
