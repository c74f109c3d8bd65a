"""Helpers of the kiosk hub's tests (test_hub*.py, test_resume_fence_hub.py): open a
protocol-level kiosk client on the served app (``connect``), one that has registered in the
room (``registered``), read a kiosk's row afresh, and poll for a condition. The fixtures they
take (``live``, ``clients``, ``room``) are in tests/kiosk/conftest.py.
"""
from __future__ import annotations

import time

import pytest
import websocket

from bridge.bench.kiosk_client import ClientError, KioskClient
from bridge.models.devices import Kiosk
from kiosk_agent import protocol as P


def connect(live, clients, **kw) -> KioskClient:
    client = KioskClient(live.ws_url, **kw)
    clients.append(client)
    return client


def registered(live, clients, room) -> KioskClient:
    client = connect(live, clients)
    answer = client.register(room[0].code, room[1])
    assert answer.type == P.WELCOME, answer
    return client


def kiosk_row(db_session, kiosk_id: int) -> Kiosk:
    db_session.expire_all()
    return db_session.get(Kiosk, kiosk_id)


#: What reading a socket the bridge has closed raises (a recv time-out is NOT one of them:
#: that would mean the socket stayed open).
SOCKET_CLOSED = (ClientError, websocket.WebSocketConnectionClosedException, ConnectionError)


def wait_until(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"no {what} within {timeout} s")
