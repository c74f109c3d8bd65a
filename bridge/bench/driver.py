"""The load side of ``exambridge bench autosave``, run as its own gevent process:
``python -m bridge.bench.driver PLAN.json RESULT.json``.

It is a separate process because it must monkey-patch before anything imports sockets (the
``exambridge`` command does not), and so the load generator and the bridge do not share one
interpreter lock. Each candidate is a greenlet with one keep-alive connection and a minimal
HTTP/1.1 client: a general client (requests) costs more CPU per request than the server
under test and would measure itself.
"""
from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from bridge.bench.seed import SESSION_COOKIE, sample_response  # noqa: E402

RETRIES = 5


class Connection:
    """One keep-alive HTTP/1.1 connection; requests are retried on a fresh connection (the
    API is idempotent, so a retry of a save that did arrive is answered as a duplicate)."""

    def __init__(self, host: str, port: int, cookie: str, csrf: str):
        self.address = (host, port)
        self.headers = (f"Host: {host}:{port}\r\nCookie: {SESSION_COOKIE}={cookie}\r\n"
                        f"X-CSRF-Token: {csrf}\r\nContent-Type: application/json\r\n")
        self.sock = None
        self.rfile = None
        self.retries = 0

    def connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.address, timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def close(self) -> None:
        if self.sock is not None:
            self.rfile.close()
            self.sock.close()
            self.sock = self.rfile = None

    def _once(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.connect()
        self.sock.sendall(f"{method} {path} HTTP/1.1\r\n{self.headers}Content-Length: {len(body)}\r\n\r\n"
                          .encode() + body)
        status_line = self.rfile.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        data = self.rfile.read(length)
        if close:
            self.close()
        return status, data

    def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        for attempt in range(RETRIES):
            try:
                return self._once(method, path, body)
            except (OSError, ValueError, IndexError):
                self.close()
                self.retries += 1
                gevent.sleep(0.05 * (2 ** attempt))
        return 0, b""


def main(plan_path: str, result_path: str) -> None:
    plan = json.load(open(plan_path))
    host, port = plan["host"], plan["port"]
    rate, seconds = plan["rate"], plan["seconds"]
    questions = plan["questions"]
    candidates = plan["candidates"]  # [[attempt_id, cookie, csrf]]
    conns = [Connection(host, port, cookie, csrf) for _a, cookie, csrf in candidates]
    Pool(100).map(lambda c: c.connect(), conns)  # open gently: the listen backlog is finite

    latencies: list[float] = []
    acked: list[list] = []
    errors: list[str] = []
    submits: list[list] = []
    burst = Event()
    burst_ends: list[float] = []
    saves_each = int(round(rate * seconds))
    period = 1.0 / rate if rate > 0 else 0.0
    t0 = time.monotonic() + 0.5

    def candidate(index: int) -> None:
        attempt_id = candidates[index][0]
        conn = conns[index]
        path = f"/api/attempts/{attempt_id}/answers"
        phase = random.random() * period
        for k in range(saves_each):
            delay = t0 + phase + k * period - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            seq = k + 1
            q, qtype = questions[seq % len(questions)]
            event = {"writer": "bench", "seq": seq, "question_id": q, "response": sample_response(qtype, seq),
                     "client_time": time.time(), "epoch": None}
            body = json.dumps({"events": [event]}).encode()
            start = time.perf_counter()
            status, data = conn.request("POST", path, body)
            took = time.perf_counter() - start
            try:
                ack = json.loads(data)["acks"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                ack = {}
            if status == 200 and "head" in ack:
                latencies.append(took * 1000)
                acked.append([attempt_id, seq, ack["head"]])
            else:
                errors.append(f"{status} {data[:200]!r}")
        burst.wait()
        status, data = conn.request("POST", f"/api/attempts/{attempt_id}/submit",
                                    json.dumps({"key": f"bench-{attempt_id}"}).encode())
        burst_ends.append(time.perf_counter())
        if status == 200:
            submits.append([attempt_id, json.loads(data)["submitted_at"]])
        else:
            errors.append(f"submit {status} {data[:200]!r}")

    greenlets = [gevent.spawn(candidate, i) for i in range(len(candidates))]
    # every candidate has sent its last save when all saves are answered
    expected = saves_each * len(candidates)
    while len(latencies) + len(errors) < expected and not all(g.dead for g in greenlets):
        gevent.sleep(0.01)
    save_seconds = time.monotonic() - t0
    burst_start = time.perf_counter()
    burst.set()
    gevent.joinall(greenlets)
    burst_s = (max(burst_ends) - burst_start) if burst_ends else None
    for c in conns:
        c.close()
    json.dump({"latencies_ms": latencies, "acked": acked, "errors": errors, "submits": submits,
               "save_seconds": save_seconds, "submit_burst_s": burst_s,
               "retries": sum(c.retries for c in conns)}, open(result_path, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
