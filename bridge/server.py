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


def make_server(app: Callable, sock: socket.socket):
    from gevent.pywsgi import WSGIHandler, WSGIServer

    class NoDelayHandler(WSGIHandler):
        def __init__(self, sock_, address, server, rfile=None):
            try:
                sock_.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            super().__init__(sock_, address, server, rfile)

    return WSGIServer(sock, app, handler_class=NoDelayHandler, log=None, error_log=log)
