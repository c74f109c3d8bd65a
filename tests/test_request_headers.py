"""``bridge.runtime.server.read_headers`` reads a request's headers as gevent's own parser (the
``email`` package through ``http.client``) does, for what gevent's handler asks of them; and
a real ``exambridge serve`` answers odd but valid header blocks and refuses broken ones."""
from __future__ import annotations

import io
import socket

import pytest

from bridge.runtime.server import read_headers
from tests.test_serve import start_bridge  # noqa: F401  (fixture)

pytestmark = pytest.mark.req("C5")

BLOCKS = [
    b"Host: a\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\nbody",
    b"Host: a\r\nX-Dup: one\r\nx-dup: two\r\n\r\n",
    b"Host: a\r\nX-Folded: first\r\n  second\r\n\tthird\r\n\r\n",
    b"Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    b"Host:a\r\nCookie:  s=1; t=2  \r\n\r\n",
    b"\r\n",
    b"Host: a\nConnection: close\n\n",
]


def gevent_parse(raw: bytes):
    from gevent.pywsgi import headers_factory

    return headers_factory(io.BytesIO(raw), 0)


@pytest.mark.parametrize("raw", BLOCKS)
def test_the_same_values_as_gevent_s_parser(raw):
    ours, theirs = read_headers(io.BytesIO(raw)), gevent_parse(raw)
    assert ours.status == theirs.status == ""
    for name in ("host", "Content-Type", "content-length", "x-dup", "X-FOLDED", "transfer-encoding",
                 "cookie", "connection", "missing"):
        mine, gevents = ours.get(name), theirs.get(name)
        assert (mine is None) == (gevents is None), name
        if mine is not None:
            assert mine == " ".join(gevents.split()) or mine == gevents.strip(), name
    assert ours.typeheader == theirs.typeheader
    assert [h.split(":")[0] for h in ours.headers] == [h.split(":")[0] for h in theirs.headers]


def test_delete_removes_every_occurrence():
    headers = read_headers(io.BytesIO(b"Content-Length: 1\r\ncontent-length: 2\r\nA: b\r\n\r\n"))
    del headers["Content-Length"]
    assert headers.get("content-length") is None and list(headers.headers) == ["A: b\r\n"]
    with pytest.raises(KeyError):
        del headers["content-length"]


@pytest.mark.parametrize("raw, status", [
    (b"A" * 70_000 + b"\r\n\r\n", "Line too long"),
    (b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", "Too many headers"),
    (b"no colon here\r\n\r\n", "Invalid header line"),
    (b" leading fold\r\n\r\n", "Invalid header line"),
    (b"Bad Name : x\r\n\r\n", "Invalid header line"),
])
def test_broken_blocks_are_refused(raw, status):
    assert read_headers(io.BytesIO(raw)).status == status


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_a_real_server_answers_and_refuses(start_bridge):  # noqa: F811
    bridge = start_bridge()
    ok = raw_request(bridge.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n"
                                  b"Connection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200") and b'"ok"' in ok
    for broken in (b"GET /healthz HTTP/1.1\r\nno colon\r\n\r\n",
                   b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n"):
        assert raw_request(bridge.port, broken).startswith(b"HTTP/1.1 400")
    posted = raw_request(bridge.port, b"POST /api/attempts/1/answers HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                                      b"Connection: close\r\n\r\n{}")
    assert posted.split(b" ")[1] == b"400"  # Flask answered (no session: the CSRF check refuses)
    assert b"csrf" in posted.lower()
