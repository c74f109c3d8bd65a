"""The slow-client defences piece by piece, in process (the whole scene, a real ``exambridge
serve`` under a slowloris crowd, is tests/test_slow_clients.py): ``WebSocket.receive`` is not
extended by a trickled frame; a kiosk socket holds a pending place and a handshake deadline
until its key is proven, within a per-address cap; behind a proxy only the total cap holds
(kiosk sockets keep theirs); the connection settings are checked.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.slow_clients_helpers import TRICKLED_FRAME


def _trickle(sock: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    for byte in data:
        if stop.wait(every):
            return
        try:
            sock.send(bytes((byte,)))
        except OSError:
            return


@pytest.mark.req("K2")
@pytest.mark.parametrize("how", ["timeout", "deadline"])
def test_a_trickled_frame_never_extends_receive(how):
    """``WebSocket.receive``: its timeout (and the socket's deadline) hold for the whole
    message; a byte every 0.1 s used to restart the wait on every read."""
    from bridge.hub.websocket import WebSocket

    server, client = socket.socketpair()
    stop = threading.Event()
    ws = WebSocket(server, "werkzeug")
    if how == "deadline":
        ws.deadline = time.monotonic() + 0.5
    trickler = threading.Thread(target=_trickle, args=(client, TRICKLED_FRAME, 0.1, stop), daemon=True)
    trickler.start()
    started = time.monotonic()
    try:
        got = ws.receive(timeout=0.5 if how == "timeout" else None)
        took = time.monotonic() - started
    finally:
        stop.set()
        trickler.join(5)
        server.close()
        client.close()
    assert got is None
    assert 0.4 < took < 1.5, took


@pytest.mark.req("K2")
def test_a_kiosk_socket_is_pending_until_its_key_is_proven(app):
    """``Connection``: a kiosk socket holds a pending place and a handshake deadline until
    ``kiosk_id`` is set; beyond the cap it is refused with close code 1008 and a reason."""
    from bridge.hub.connection import Connection
    from bridge.runtime.server import ConnectionPolicy, PendingConnections

    class FakeSocket:
        def __init__(self, pending):
            self.pending, self.deadline, self.connected, self.closed = pending, None, True, None

        def close(self, reason=1000, message=None):
            self.connected, self.closed = False, (reason, message)

    pending = PendingConnections(ConnectionPolicy(per_address=1, total=10, exempt=frozenset(),
                                                  handshake_seconds=3.0))
    with app.test_request_context("/ws/kiosk"):
        first_ws = FakeSocket(pending)
        first = Connection(first_ws, "10.0.0.5", "w")
        assert not first.closing and pending.by_address == {"10.0.0.5": 1}
        assert 2.5 < first_ws.deadline - time.monotonic() <= 3.0
        second_ws = FakeSocket(pending)
        second = Connection(second_ws, "10.0.0.5", "w")
        assert second.closing and second_ws.closed[0] == 1008 and second_ws.closed[1]
        other = Connection(FakeSocket(pending), "10.0.0.6", "w")  # another address has its own cap
        assert not other.closing
        first.kiosk_id = 7  # the key is proven: no longer pending, no deadline
        assert first_ws.deadline is None and pending.by_address == {"10.0.0.6": 1}
        third = Connection(FakeSocket(pending), "10.0.0.5", "w")
        assert not third.closing
        third.stop()
        other.stop()
    assert pending.count == 0 and pending.by_address == {}
    assert pending.refused == {"address": 1, "total": 0}


def test_behind_a_proxy_sockets_are_capped_in_all_only():
    """With ``EXAMBRIDGE_PROXY_HOPS`` every socket comes from the proxy: no cap by its address
    (the proxy caps per client), the total still holds, kiosk sockets by their own address."""
    from bridge.runtime.server import BY_ADDRESS, IN_ALL, ConnectionPolicy, PendingConnections, Slot

    policy = ConnectionPolicy.from_config({"EXAMBRIDGE_PROXY_HOPS": 1, "EXAMBRIDGE_PENDING_PER_ADDRESS": 2,
                                           "EXAMBRIDGE_PENDING_MAX": 5, "EXAMBRIDGE_PENDING_EXEMPT_ADDRESSES": ""})
    assert policy.behind_proxy and policy.exempt == frozenset()
    pending = PendingConnections(policy)
    proxied = [pending.admit("10.9.9.9", by_address=not policy.behind_proxy) for _ in range(4)]
    assert all(isinstance(slot, Slot) for slot in proxied)
    assert isinstance(pending.admit("10.0.0.7", "kiosk socket"), Slot)
    assert pending.admit("10.9.9.9", by_address=False) == IN_ALL
    proxied[0].release()
    assert isinstance(pending.admit("10.0.0.7", "kiosk socket"), Slot)
    assert pending.admit("10.0.0.7", "kiosk socket") == BY_ADDRESS  # its own cap, by its own address


def test_connection_settings_are_checked():
    from bridge.config import load
    from bridge.errors import ConfigError

    cfg = load({"INSTANCE_PATH": "/tmp/eb-slow-clients", "SECRET_KEY": "x" * 64},
               environ={"EXAMBRIDGE_HEADER_TIMEOUT_SECONDS": "2.5", "EXAMBRIDGE_PENDING_MAX": "0"})
    assert cfg["HEADER_TIMEOUT_SECONDS"] == 2.5 and cfg["PENDING_MAX"] == 0
    with pytest.raises(ConfigError, match="EXAMBRIDGE_HEADER_TIMEOUT_SECONDS"):
        load({"INSTANCE_PATH": "/tmp/eb-slow-clients", "SECRET_KEY": "x" * 64},
             environ={"EXAMBRIDGE_HEADER_TIMEOUT_SECONDS": "0"})
    with pytest.raises(ConfigError, match="EXAMBRIDGE_PENDING_PER_ADDRESS"):
        load({"INSTANCE_PATH": "/tmp/eb-slow-clients", "SECRET_KEY": "x" * 64},
             environ={"EXAMBRIDGE_PENDING_PER_ADDRESS": "-1"})
