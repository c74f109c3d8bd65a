"""gevent WSGI server with TCP_NODELAY, for ``exambridge serve`` and the demo."""
from __future__ import annotations

import logging
import socket
from typing import Callable

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 8192


def listen(host: str, port: int) -> socket.socket:
    """A listening socket with TCP_NODELAY: without it, gevent's server adds ~40 ms (Nagle +
    delayed ACK) to keep-alive responses. Port 0 picks a free port."""
    from gevent import socket as gsocket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = gsocket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    # A restarted bridge gets every kiosk's reconnect within a second or two: a short accept
    # queue drops their SYNs and TCP retries only after 1, 3, 7 s (the kernel caps this at
    # net.core.somaxconn; docs/operations.md).
    sock.listen(LISTEN_BACKLOG)
    return sock


MAX_HEADER_LINE = 65536  # http.client's limits, which gevent's own parser applies
MAX_HEADERS = 100


class RequestHeaders:
    """A request's headers as gevent's ``WSGIHandler`` reads them (``get``, ``del``,
    ``headers``, ``typeheader``, ``getheader``, ``status``), parsed without the ``email``
    package: at a thousand autosaves a second that parser was about a tenth of the loop's
    time. Lookups are case-insensitive and return the first value, as ``email`` does;
    ``status`` is non-empty for a request to refuse (gevent answers 400)."""

    __slots__ = ("_items", "_first", "status")

    def __init__(self, items: list[tuple[str, str]], status: str = ""):
        self._items = items
        self._first: dict[str, str] = {}
        for name, value in items:
            self._first.setdefault(name.lower(), value)
        self.status = status

    def get(self, name: str, default=None):
        return self._first.get(name.lower(), default)

    getheader = get

    def __delitem__(self, name: str) -> None:
        lower = name.lower()
        if lower not in self._first:
            raise KeyError(name)
        del self._first[lower]
        self._items = [(n, v) for n, v in self._items if n.lower() != lower]

    @property
    def headers(self):
        for name, value in self._items:
            yield f"{name}: {value}\r\n"

    @property
    def typeheader(self):
        return self._first.get("content-type")


def read_headers(rfile) -> RequestHeaders:
    """The header block up to the empty line; a folded line continues the previous value."""
    items: list[tuple[str, str]] = []
    for _ in range(MAX_HEADERS + 1):
        line = rfile.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            return RequestHeaders([], "Line too long")
        if line in (b"\r\n", b"\n", b""):
            return RequestHeaders(items)
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            if not items:
                return RequestHeaders([], "Invalid header line")
            name, value = items[-1]
            items[-1] = (name, f"{value} {text.strip()}".strip())
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            return RequestHeaders([], "Invalid header line")
        items.append((name, value.strip()))
    return RequestHeaders([], "Too many headers")


def make_server(app: Callable, sock: socket.socket):
    from gevent.pywsgi import WSGIHandler, WSGIServer

    class NoDelayHandler(WSGIHandler):
        def __init__(self, sock_, address, server, rfile=None):
            try:
                sock_.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            super().__init__(sock_, address, server, rfile)

        def MessageClass(self, rfile, *_args):  # noqa: N802 (gevent's name)
            return read_headers(rfile)

        def get_environ(self):
            environ = super().get_environ()
            if self._connection_upgrade_requested():
                environ["exambridge.socket"] = self.socket  # bridge.hub.websocket reads it
            return environ

    return WSGIServer(sock, app, handler_class=NoDelayHandler, log=None, error_log=log)
