"""Connections that cannot be held hostage: a real ``exambridge serve`` process (port 0, its
own SQLite database) under a slowloris crowd from several loopback addresses, while real
candidates keep autosaving over HTTP and a real kiosk agent stays connected.

The crowd (``Crowd``): connections that say nothing (half-open), request headers sent one
byte at a time, and kiosk WebSocket handshakes whose first frame is trickled one byte at a
time, interleaved per address. Each admitted one must be closed by its absolute deadline
(the header deadline, the kiosk handshake deadline), never earlier and not much later,
though a byte arrives every quarter second; the excess beyond the per-address and total caps
is refused at once (503, or close code 1008 on a kiosk socket). Meanwhile every candidate's
save is acknowledged and the kiosk agent never reconnects; the server log holds no traceback
and one refusal line per address at most.

``run`` is shared with the full-size benchmark (tests/benchmarks/test_slow_clients_full.py:
a thousand connections, figures printed under ``make bench``). The defences piece by piece, in
process: tests/test_connection_limits.py.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import resource
import selectors
import socket
import statistics
import threading
import time
import types
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.slow_clients_helpers import TRICKLED_FRAME
from tests.test_serve import Bridge, clean_env, local_session

TRICKLE_EVERY = 0.25  # seconds between two trickled bytes: far below every deadline
LATE_MARGIN = 3.0  # a loaded 2-core machine may close a connection this much after its deadline


@dataclass
class Size:
    addresses: int  # attacking loopback addresses (127.0.0.2 …)
    per_address: int  # connections from each
    cap_per_address: int  # EXAMBRIDGE_PENDING_PER_ADDRESS
    cap_total: int  # EXAMBRIDGE_PENDING_MAX
    candidates: int  # autosaving candidates, each from an address of its own (127.0.1.x)
    header_seconds: float = 2.0
    handshake_seconds: float = 3.0
    keepalive_seconds: float = 4.0


SMALL = Size(addresses=5, per_address=30, cap_per_address=20, cap_total=60, candidates=4)
FULL = Size(addresses=20, per_address=50, cap_per_address=30, cap_total=400, candidates=20,
            header_seconds=5.0, handshake_seconds=6.0, keepalive_seconds=8.0)


# --- the crowd ------------------------------------------------------------------------
@dataclass(repr=False)
class Slow:
    kind: str  # "silent", "headers", "kiosk"
    address: str
    sock: socket.socket
    opened: float
    trickle: bytes = b""
    sent: int = 0
    received: bytes = b""
    closed: float | None = None

    def __repr__(self) -> str:
        return (f"Slow({self.kind} from {self.address}, sent {self.sent}, received {self.received[:60]!r}, "
                f"closed {None if self.closed is None else round(self.closed - self.opened, 2)})")

    @property
    def refused(self) -> str | None:
        """"address"/"total" (the HTTP 503), "kiosk" (close 1008 on the socket), else None."""
        head = self.received[:400]
        if head.startswith(b"HTTP/1.1 503"):
            return "address" if b"X-ExamBridge-Refused: address" in head else "total"
        if self.kind == "kiosk" and b"\x03\xf0" in self.received and b"\x88" in self.received:
            at = self.received.find(b"\x88")
            if self.received[at + 2:at + 4] == b"\x03\xf0":
                return "kiosk"
        return None


def _upgrade_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ws/kiosk HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


class Crowd:
    """Opens the slow connections and trickles their bytes from one thread (selectors), until
    every one is closed by the server or ``give_up`` seconds have passed."""

    def __init__(self, port: int, size: Size) -> None:
        self.port, self.size = port, size
        self.conns: list[Slow] = []
        self.opened_in = 0.0
        self._sel = selectors.DefaultSelector()

    def open(self) -> None:
        kinds = ("silent", "headers", "kiosk")
        started = time.monotonic()
        # address by address: the first ones meet their own cap, the last ones the total one
        for a in range(self.size.addresses):
            for n in range(self.size.per_address):
                address = f"127.0.0.{a + 2}"
                kind = kinds[n % len(kinds)]
                sock = socket.socket()
                sock.bind((address, 0))
                sock.connect(("127.0.0.1", self.port))
                conn = Slow(kind, address, sock, time.monotonic())
                if kind == "headers":
                    sock.sendall(b"POST /api/attempts/1/answers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    conn.trickle = b"X-Slow: " + b"a" * 4000
                elif kind == "kiosk":
                    sock.sendall(_upgrade_request(self.port))
                    conn.trickle = TRICKLED_FRAME
                sock.setblocking(False)
                self._sel.register(sock, selectors.EVENT_READ, conn)
                self.conns.append(conn)
        self.opened_in = time.monotonic() - started

    def run(self, give_up: float) -> None:
        end = time.monotonic() + give_up
        next_trickle = time.monotonic()
        while time.monotonic() < end and any(c.closed is None for c in self.conns):
            for key, _ in self._sel.select(timeout=0.05):
                self._read(key.data)
            if time.monotonic() >= next_trickle:
                next_trickle += TRICKLE_EVERY
                for conn in self.conns:
                    if conn.closed is None and conn.sent < len(conn.trickle) and self._may_trickle(conn):
                        try:
                            conn.sock.send(conn.trickle[conn.sent:conn.sent + 1])
                            conn.sent += 1
                        except BlockingIOError:
                            pass
                        except OSError:
                            self._closed(conn)

    @staticmethod
    def _may_trickle(conn: Slow) -> bool:
        # a kiosk socket trickles its frame once the 101 is in (before it, the headers were whole)
        return conn.kind != "kiosk" or b"\r\n\r\n" in conn.received

    def _read(self, conn: Slow) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            conn.received += data
        else:
            self._closed(conn)

    def _closed(self, conn: Slow) -> None:
        if conn.closed is None:
            conn.closed = time.monotonic()
            self._sel.unregister(conn.sock)
            conn.sock.close()

    def close(self) -> None:
        for conn in self.conns:
            if conn.closed is None:
                self._sel.unregister(conn.sock)
                conn.sock.close()
        self._sel.close()


# --- candidates and the kiosk -----------------------------------------------------------
@dataclass
class Candidate:
    attempt_id: int
    cookie: str
    csrf: str
    address: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def save_until(candidate: Candidate, port: int, questions, stop: threading.Event) -> None:
    """Autosave every 0.1 s on one keep-alive connection opened before the crowd came."""
    from tests.delivery.factories import SESSION_COOKIE, sample_response

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(candidate.address, 0))
    headers = {"Cookie": f"{SESSION_COOKIE}={candidate.cookie}", "X-CSRF-Token": candidate.csrf,
               "Content-Type": "application/json"}
    seq = 0
    try:
        while not stop.is_set():
            seq += 1
            qid, qtype = questions[seq % len(questions)]
            event = {"writer": "slow-clients", "seq": seq, "question_id": qid,
                     "response": sample_response(qtype, seq), "client_time": time.time(), "epoch": None}
            started = time.perf_counter()
            try:
                conn.request("POST", f"/api/attempts/{candidate.attempt_id}/answers",
                             json.dumps({"events": [event]}), headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                candidate.failures.append(f"seq {seq}: {exc!r}")
                conn.close()
                continue
            took = time.perf_counter() - started
            acks = json.loads(body).get("acks") if response.status == 200 else None
            if acks and "head" in acks[0]:
                candidate.latencies.append(took * 1000)
            else:
                candidate.failures.append(f"seq {seq}: {response.status} {body[:200]!r}")
            stop.wait(0.1)
    finally:
        conn.close()


class World:
    """A migrated SQLite database with a room (kiosk enrolment code), a sitting whose
    candidates have attempts in progress, and their signed session cookies."""

    def __init__(self, tmp_path: Path, candidates: int) -> None:
        from bridge import create_app
        from bridge.extensions import db
        from bridge.migrate import upgrade
        from bridge.services.kiosks import devices
        from bridge.services.delivery import forwarding
        from tests.delivery import factories

        self.tmp = tmp_path
        instance = tmp_path / "instance"
        instance.mkdir(exist_ok=True)
        self.db_url = f"sqlite:///{instance / 'exambridge.db'}"
        self.secret = uuid.uuid4().hex * 2
        upgrade(self.db_url)
        app = create_app({"ENV": "testing", "INSTANCE_PATH": str(instance), "DATABASE_URL": self.db_url,
                          "SECRET_KEY": self.secret})
        with app.app_context():
            _room, self.code = devices.create_room(db.session, code="R101", name="Room 101", secret_key=self.secret)
            self.sitting = factories.make_sitting(db.session)
            rows = factories.make_attempts(db.session, self.sitting, candidates + 1)
            db.session.commit()
            self.candidates = [Candidate(a, *factories.session_cookie(app, u), address=f"127.0.1.{i + 1}")
                               for i, (a, u) in enumerate(rows[:candidates])]
            self.kiosk_attempt = rows[-1][0]
            self.tokens = {self.kiosk_attempt: forwarding.forward_token(self.secret, self.kiosk_attempt)}
            db.engine.dispose()
        self.instance = instance


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(tmp_path: Path, size: Size) -> dict:
    """The whole scene; asserts as it goes and returns the figures."""
    from tests.kiosk.agent_world import AgentProc, Page

    _raise_open_files(size.addresses * size.per_address + 512)
    world = World(tmp_path, size.candidates)
    env = clean_env(world.instance, DATABASE_URL=world.db_url, SECRET_KEY=world.secret,
                    HEADER_TIMEOUT_SECONDS=str(size.header_seconds),
                    KIOSK_HANDSHAKE_SECONDS=str(size.handshake_seconds),
                    KEEPALIVE_TIMEOUT_SECONDS=str(size.keepalive_seconds),
                    PENDING_PER_ADDRESS=str(size.cap_per_address), PENDING_MAX=str(size.cap_total))
    bridge = Bridge(tmp_path, env).wait_ready()
    agent = crowd = None
    stop = threading.Event()
    savers: list[threading.Thread] = []
    try:
        # the kiosk agent (from 127.0.0.1, the exempt address of a local proxy) and the candidates
        world.proxy = types.SimpleNamespace(url=bridge.url)  # AgentProc and Page read world.proxy.url
        agent = AgentProc(world, tmp_path / "agent", code=world.code)
        agent.wait_online()
        connects_before = agent.log().count("connected to ")
        for candidate in world.candidates:
            thread = threading.Thread(target=save_until, args=(candidate, bridge.port, world.sitting.questions, stop),
                                      daemon=True)
            thread.start()
            savers.append(thread)
        deadline = time.monotonic() + 20
        while not all(c.latencies for c in world.candidates) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(c.latencies for c in world.candidates), [c.failures for c in world.candidates]
        saves_before = sum(len(c.latencies) for c in world.candidates)

        idle = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=30, source_address=("127.0.2.1", 0))
        idle.request("GET", "/healthz")
        assert idle.getresponse().read() and idle.sock is not None  # kept alive, then left idle
        idle_since = time.monotonic()
        crowd = Crowd(bridge.port, size)
        crowd.open()
        assert crowd.opened_in < size.header_seconds / 2, f"opening the crowd took {crowd.opened_in:.1f} s"
        page = Page(agent, world.kiosk_attempt)
        page.save(3)  # forwarded over the kiosk's socket while the crowd holds its connections
        crowd.run(give_up=max(size.header_seconds, size.handshake_seconds) + 3 * LATE_MARGIN)
        page.wait_synced()
        online_after = agent.state().get("online")
        # an idle keep-alive connection is closed after its own deadline
        idle.sock.settimeout(max(0.1, idle_since + size.keepalive_seconds + LATE_MARGIN - time.monotonic()))
        assert idle.sock.recv(100) == b"", "an idle keep-alive connection outlived its deadline"
        idle_lived = time.monotonic() - idle_since
        assert idle_lived > size.keepalive_seconds - 0.3, idle_lived
        idle.close()
        stop.set()
        for thread in savers:
            thread.join(timeout=30)
        saves_during = sum(len(c.latencies) for c in world.candidates) - saves_before

        # every slow connection was ended by the server: refused at once, or closed by its deadline
        still_open = [c for c in crowd.conns if c.closed is None]
        assert not still_open, f"{len(still_open)} slow connection(s) still open, e.g. {still_open[:3]}"
        refused = [c for c in crowd.conns if c.refused]
        admitted = [c for c in crowd.conns if not c.refused]
        early, late, overshoot = [], [], []
        for conn in admitted:
            limit = size.handshake_seconds if conn.kind == "kiosk" else size.header_seconds
            lived = conn.closed - conn.opened
            overshoot.append(lived - limit)
            if lived < limit - 0.3:
                early.append((conn.kind, round(lived, 2), conn.received[:80]))
            if lived > limit + LATE_MARGIN:
                late.append((conn.kind, round(lived, 2)))
        assert not early, f"closed before their deadline: {early[:5]}"
        assert not late, f"held past their deadline (does a trickled byte extend it?): {late[:5]}"
        for conn in admitted:
            if conn.kind == "headers":
                assert conn.received.startswith(b"HTTP/1.1 408"), conn.received[:80]
            if conn.kind == "kiosk":
                assert b'"timeout"' in conn.received, conn.received[-200:]  # the hub said why
        # the caps: never more than the cap per address, nor in all
        by_address: dict[str, int] = {}
        for conn in admitted:
            by_address[conn.address] = by_address.get(conn.address, 0) + 1
        assert max(by_address.values()) <= size.cap_per_address, by_address
        assert len(admitted) <= size.cap_total, (len(admitted), size.cap_total)
        kinds = {c.refused for c in refused}
        assert "address" in kinds and "total" in kinds, kinds
        assert len(refused) >= len(crowd.conns) - size.cap_total

        # the candidates: every save during the crowd acknowledged; the kiosk never dropped
        failures = [f for c in world.candidates for f in c.failures]
        assert not failures, failures[:5]
        assert saves_during >= size.candidates, saves_during
        assert online_after, agent.log()
        assert agent.log().count("connected to ") == connects_before, agent.log()
        # the attackers' addresses are served again once their connections are gone
        with local_session() as session:
            session.mount("http://", _SourceAdapter("127.0.0.2"))
            assert session.get(f"{bridge.url}/healthz", timeout=10).status_code == 200
        assert bridge.stop() == 0
        log = bridge.stderr
        assert "Traceback" not in log, log[-4000:]
        for a in range(size.addresses):
            lines = [line for line in log.splitlines() if f" from 127.0.0.{a + 2}:" in line and "refused" in line]
            assert len(lines) <= 1, lines  # once per address and period
        latencies = [ms for c in world.candidates for ms in c.latencies]
        return {"slow_connections": len(crowd.conns), "admitted": len(admitted),
                "refused_by_address": sum(1 for c in refused if c.refused == "address"),
                "refused_in_all": sum(1 for c in refused if c.refused == "total"),
                "refused_kiosk_sockets": sum(1 for c in refused if c.refused == "kiosk"),
                "closed_after_deadline_p50_s": round(statistics.median(overshoot), 3),
                "closed_after_deadline_max_s": round(max(overshoot), 3),
                "candidates": size.candidates, "saves_during": saves_during,
                "save_p50_ms": round(statistics.median(latencies), 1),
                "save_p99_ms": round(_percentile(latencies, 0.99), 1),
                "save_max_ms": round(max(latencies), 1)}
    finally:
        stop.set()
        if crowd is not None:
            crowd.close()
        if agent is not None:
            agent.stop()
        bridge.close()


class _SourceAdapter:
    """A requests adapter whose connections come from ``address``."""

    def __new__(cls, address: str):
        from requests.adapters import HTTPAdapter

        class Adapter(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                kwargs["source_address"] = (address, 0)
                super().init_poolmanager(*args, **kwargs)

        return Adapter()


@pytest.mark.req("C5", "K2")
@pytest.mark.timeout(90)
def test_slow_clients_are_cut_off_while_candidates_keep_saving(tmp_path):
    figures = run(tmp_path, SMALL)
    print(f"\nslow clients (small): {json.dumps(figures)}")
