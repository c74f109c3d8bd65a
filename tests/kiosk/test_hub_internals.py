"""The kiosk hub's own parts, in process: a connection's send queue (bounded, ordered, and
closing a peer that does not read), the failure window that brakes wrong enrolment codes per
address (it forgets, and stays bounded), and the batcher that runs a failed batch again item
by item. The hub over real WebSockets: test_hub.py.
"""
from __future__ import annotations

import pytest

from tests.kiosk.hub_helpers import wait_until


class _SlowSocket:
    """A stand-in for simple-websocket's Server (pure logic of the send queue): ``send``
    blocks until released, like a peer that does not read."""

    def __init__(self):
        import threading

        self.sent: list[str] = []
        self.release = threading.Event()
        self.connected = True
        self.closed_with = None

    def send(self, text):
        self.release.wait(10)
        self.sent.append(text)

    def close(self, reason=None, message=None):
        self.connected = False
        self.closed_with = (reason, message)


@pytest.mark.req("K2")
def test_send_queue_is_bounded_ordered_and_closes_a_peer_that_does_not_read():
    from bridge.hub import connection

    ws = _SlowSocket()
    conn = connection.Connection(ws, "10.0.0.1", "w")
    ws.release.set()
    assert conn.send("direct", direct=True) and ws.sent == ["direct"]  # idle: written at once
    ws.release.clear()
    assert conn.send("q0")  # a drainer takes it and blocks in send
    wait_until(lambda: not conn._queue, "the drainer holding q0")
    for n in range(1, connection.QUEUE_SIZE + 1):
        assert conn.send(f"q{n}"), n
    assert not conn.send("one too many")  # the peer does not read: closed, queue dropped
    assert conn.closing and not conn.send("after")
    ws.release.set()
    wait_until(lambda: ws.closed_with is not None, "socket closed")
    assert ws.sent == ["direct", "q0"]

    ws2 = _SlowSocket()
    ws2.release.set()
    ordered = connection.Connection(ws2, "10.0.0.2", "w")
    for n in range(20):
        ordered.send(f"m{n}")
    ordered.close("bye")
    wait_until(lambda: ws2.closed_with is not None, "close after the queue")
    assert ws2.sent == [f"m{n}" for n in range(20)] and ws2.closed_with == (1000, "bye")


def test_failure_window_forgets_after_its_seconds(monkeypatch):
    from bridge.hub import FailureWindow

    now = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    window = FailureWindow(limit=3, seconds=60, max_addresses=5)
    for _ in range(3):
        window.failed("10.0.0.9")
    assert window.blocked("10.0.0.9") and not window.blocked("10.0.0.8")
    now[0] += 61
    assert not window.blocked("10.0.0.9")
    for n in range(10):  # a flood of addresses does not grow it without bound
        window.failed(f"10.1.0.{n}")
    assert len(window._failures) <= 5


@pytest.mark.req("K6")
def test_a_batch_that_fails_whole_runs_again_item_by_item(app):
    """Review M4: one item that breaks the batched job fails only its own caller."""
    from bridge.hub.batch import Batcher
    from bridge.runtime.writer import stop_writer

    def job(session, items):
        if "bad" in items:
            raise ValueError("this batch has a bad item")
        return [f"ok {item}" for item in items]
    batcher = Batcher(app, job, every=0.05, name="test")
    try:
        handles = {item: batcher.add(item) for item in ("a", "bad", "b")}
        assert handles["a"].get(10) == "ok a" and handles["b"].get(10) == "ok b"
        with pytest.raises(ValueError, match="bad item"):
            handles["bad"].get(10)
    finally:
        batcher.stop()
        stop_writer(app)
