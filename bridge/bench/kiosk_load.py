"""Load process for ``exambridge bench kiosks``: many simulated kiosks in one gevent process.

    python -m bridge.bench.kiosk_load --url ws://127.0.0.1:PORT/ws/kiosk --spec FILE --dir DIR

Each simulated kiosk is a greenlet speaking the real protocol (``kiosk_agent.protocol`` over
websocket-client): challenge → hello signed with its Ed25519 key → welcome; a heartbeat every
``heartbeat_seconds`` (first one at a random offset, so they spread); when it has an attempt,
one answer event every ``--event-seconds``, journaled in memory first and sent until acked
(after a reconnect: everything above the head the bridge names in ``welcome.heads``); every
``command`` is answered with ``command_result``. A dropped socket is reconnected after a
short random backoff.

The orchestrator (``bridge.bench.kiosks``) steers through files in ``--dir``: this process
writes ``status-<n>.json`` (how many kiosks are welcomed right now) twice a second and
watches ``control`` (``run`` | ``final``); with a ``since`` file (a time), only kiosks
welcomed after it count. On ``final`` it stops making events, waits for
the pending ones to be acked, writes ``result-<n>.json`` and exits.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import websocket  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from kiosk_agent import protocol as P  # noqa: E402


#: Linux: the kernel stamps each received segment with its arrival time (CLOCK_REALTIME).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class StampedSocket:
    """A kiosk's socket that keeps the kernel's arrival time of the bytes it last read
    (``SO_TIMESTAMPNS``): when a message reached the kiosk, whatever this process (thousands
    of simulated kiosks on shared cores) was busy with until it read it. websocket-client
    reads through ``recv``; everything else goes to the socket itself."""

    __slots__ = ("_sock", "stamp")

    def __init__(self, sock) -> None:
        self._sock = sock
        self.stamp: float | None = None
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            pass

    def recv(self, bufsize: int) -> bytes:
        data, ancillary, _flags, _addr = self._sock.recvmsg(bufsize, 64)
        self.stamp = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = struct.unpack("qq", value[:16])
                self.stamp = seconds + nanoseconds / 1e9
        return data

    def __getattr__(self, name):
        return getattr(self._sock, name)


class Sim:
    def __init__(self, spec: dict, run: "Run") -> None:
        self.kiosk_id = spec["kiosk_id"]
        self.key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(spec["key"]))
        self.attempt_id = spec.get("attempt_id")
        self.token = spec.get("token")
        self.question_id = spec.get("question_id")
        self.writer = f"bench-k{self.kiosk_id}"
        self.run_ = run
        self.ws = None
        self.welcomed = False
        self.welcomed_at = 0.0
        self.generated = 0            # events made (seq 1..generated), journaled here
        self.acked: dict[int, str] = {}
        self.sent_upto = 0            # highest seq handed to the socket since the last welcome
        self.heartbeat_seconds = 5.0
        self.pending_hb: dict[str, float] = {}
        self.seen_commands: set[int] = set()

    # --- one connection ---------------------------------------------------------------
    def connect(self) -> None:
        ws = websocket.create_connection(self.run_.url, timeout=60, enable_multithread=True)
        ws.sock = StampedSocket(ws.sock)
        self.ws = ws
        challenge = P.decode(ws.recv())
        nonce = challenge.payload["nonce"]
        hello = P.Envelope(type=P.HELLO, payload={"kiosk_id": self.kiosk_id, "agent_version": "bench",
                                                  "signature": P.sign(self.key, nonce, self.kiosk_id)})
        ws.send(hello.encode())
        while True:
            answer = P.decode(ws.recv())
            if answer.type == P.WELCOME:
                break
            if answer.type == P.ERROR:
                raise RuntimeError(f"kiosk {self.kiosk_id}: {answer.payload}")
            self.on_message(answer)
        self.heartbeat_seconds = float(answer.payload.get("heartbeat_seconds") or 5)
        heads = (answer.payload.get("heads") or {}).get(str(self.attempt_id), {})
        head = heads.get(self.writer)
        acked_upto = head["seq"] if head else 0
        for seq in range(1, acked_upto + 1):
            self.acked.setdefault(seq, head["head"] if seq == acked_upto else "")
        self.sent_upto = acked_upto
        self.welcomed = True
        self.welcomed_at = time.time()
        self.run_.welcomes += 1

    def reader(self) -> None:
        ws = self.ws
        ws.settimeout(None)
        while True:
            raw = ws.recv()
            if not raw:
                raise ConnectionError("closed")
            self.on_message(P.decode(raw), arrived=ws.sock.stamp)

    def on_message(self, env: P.Envelope, arrived: float | None = None) -> None:
        now = time.time()
        if env.type == P.HEARTBEAT_ACK:
            sent = self.pending_hb.pop(env.payload.get("ref"), None)
            if sent is not None:
                self.run_.heartbeats.append((round(sent, 3), round((now - sent) * 1000, 2)))
        elif env.type == P.ACKS:
            for ack in env.payload.get("acks", []):
                if "head" in ack:
                    self.acked[ack["seq"]] = ack["head"]
                elif ack.get("seq") is not None:
                    self.sent_upto = min(self.sent_upto, ack["seq"] - 1)  # not saved: send it again
        elif env.type == P.COMMAND:
            p = env.payload
            if p["command_id"] not in self.seen_commands:  # a re-send after a reconnect is not a broadcast
                self.seen_commands.add(p["command_id"])
                issued = float(p.get("issued_at") or now)
                self.run_.commands.append(round((now - issued) * 1000, 2))
                # no kernel stamp (another OS): the time it was read, the later of the two
                self.run_.arrivals.append(round(((arrived or now) - issued) * 1000, 2))
            else:
                self.run_.resent += 1
            result = P.Envelope(type=P.COMMAND_RESULT, payload={"command_id": p["command_id"], "outcome": "done",
                                                                "detail": {"bench": True}})
            self.ws.send(result.encode())

    def send_events(self) -> None:
        if not self.welcomed or self.attempt_id is None:
            return
        start = self.sent_upto + 1
        seqs = [s for s in range(start, self.generated + 1)][:100]
        if not seqs:
            return
        events = [{"writer": self.writer, "seq": s, "question_id": self.question_id,
                   "response": {"choice": "abcd"[s % 4]}, "client_time": time.time(), "epoch": 1} for s in seqs]
        self.ws.send(P.Envelope(type=P.EVENTS, payload={"attempt_id": self.attempt_id, "token": self.token,
                                                        "events": events}).encode())
        self.sent_upto = seqs[-1]

    def heartbeat(self) -> None:
        env = P.Envelope(type=P.HEARTBEAT, payload={
            "status": "in_exam" if self.attempt_id else "ready", "seat": None, "candidate": None,
            "attempt_id": self.attempt_id, "journal": {self.writer: self.generated} if self.attempt_id else {},
            "free_disk_mb": 50_000, "battery_pct": None, "focus": True, "lockdown": "monitor"})
        self.pending_hb[env.id] = time.time()
        if len(self.pending_hb) > 20:
            self.pending_hb.clear()
        self.ws.send(env.encode())

    # --- the life of a kiosk ------------------------------------------------------------
    def life(self) -> None:
        gevent.sleep(random.random() * self.run_.ramp)
        while not self.run_.done:
            reader = None
            try:
                self.connect()
                reader = gevent.spawn(self.reader)
                next_hb = time.time() + random.random() * self.heartbeat_seconds
                next_ev = time.time() + random.random() * self.run_.event_seconds
                while not self.run_.done and not reader.dead:
                    now = time.time()
                    if now >= next_hb:
                        self.heartbeat()
                        next_hb += self.heartbeat_seconds
                    if self.attempt_id and now >= next_ev and not self.run_.final:
                        self.generated += 1
                        next_ev += self.run_.event_seconds
                    self.send_events()
                    wake = min(next_hb, next_ev if self.attempt_id and not self.run_.final else next_hb)
                    reader.join(timeout=max(0.05, wake - time.time()))
            except Exception:
                pass
            finally:
                self.welcomed = False
                if reader is not None:
                    reader.kill(block=False)
                if self.ws is not None:
                    try:
                        self.ws.close(timeout=0)
                    except Exception:
                        pass
            if not self.run_.done:
                if self.attempt_id and not self.run_.final:
                    # the candidate keeps answering while the bridge is away (journal)
                    self.generated += 1
                gevent.sleep(0.2 + random.random() * 0.8)

    def settled(self) -> bool:
        return self.attempt_id is None or all(s in self.acked for s in range(1, self.generated + 1))


class Run:
    def __init__(self, args) -> None:
        self.url = args.url
        self.dir = Path(args.dir)
        self.index = args.index
        self.event_seconds = args.event_seconds
        self.ramp = args.ramp
        self.done = False
        self.final = False
        self.welcomes = 0
        self.heartbeats: list[tuple[float, float]] = []
        self.commands: list[float] = []  # read by the simulated kiosk − issued (ms)
        self.arrivals: list[float] = []  # reached the kiosk's socket (kernel time) − issued (ms)
        self.resent = 0
        specs = json.loads(Path(args.spec).read_text())
        self.sims = [Sim(s, self) for s in specs]

    def status_loop(self) -> None:
        path = self.dir / f"status-{self.index}.json"
        tmp = self.dir / f".status-{self.index}.tmp"
        while not self.done:
            try:
                since = float((self.dir / "since").read_text())
            except (FileNotFoundError, ValueError):
                since = 0.0
            tmp.write_text(json.dumps({"welcomed": sum(1 for s in self.sims if s.welcomed and s.welcomed_at > since),
                                       "welcomes": self.welcomes, "time": time.time()}))
            os.replace(tmp, path)
            gevent.sleep(0.25)

    def control(self) -> str:
        try:
            return (self.dir / "control").read_text().strip()
        except FileNotFoundError:
            return "run"

    def main(self) -> None:
        greenlets = [gevent.spawn(s.life) for s in self.sims]
        gevent.spawn(self.status_loop)
        while self.control() != "final":
            gevent.sleep(0.1)
        self.final = True
        deadline = time.time() + 30
        while time.time() < deadline and not all(s.settled() for s in self.sims):
            gevent.sleep(0.1)
        result = {
            "heartbeats": self.heartbeats, "commands": self.commands, "arrivals": self.arrivals, "resent": self.resent,
            "events": [{"attempt_id": s.attempt_id, "writer": s.writer, "generated": s.generated,
                        "acked": {str(k): v for k, v in s.acked.items() if v}}
                       for s in self.sims if s.attempt_id],
        }
        out = self.dir / f"result-{self.index}.json"
        tmp = self.dir / f".result-{self.index}.tmp"
        tmp.write_text(json.dumps(result))
        os.replace(tmp, out)
        self.done = True
        gevent.killall(greenlets, block=True, timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--spec", required=True, help="JSON list of {kiosk_id, key (hex), attempt_id, token, question_id}")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--event-seconds", type=float, default=30.0,
                        help="a candidate changes an answer this often (kiosks with an attempt)")
    parser.add_argument("--ramp", type=float, default=5.0, help="spread the first connections over this many seconds")
    Run(parser.parse_args(argv)).main()


if __name__ == "__main__":
    main()
