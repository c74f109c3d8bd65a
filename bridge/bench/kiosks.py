"""``exambridge bench kiosks``: N simulated kiosks against a real bridge process (issue 4).

Steps: a database of its own (SQLite file, or a new database on ``--database-url``'s
PostgreSQL server), migrated and seeded straight through the models: one room with N seated
kiosks (an Ed25519 key each), one attempt in progress for every tenth kiosk (those send
an answer event every 30 s at full size (every N/100 s, at least 2 s, for small N), with the
forward token the exam page would hand them), an administrator
whose signed session cookie issues the broadcast. Then ``exambridge serve`` on a free port,
and load processes (``bridge.bench.kiosk_load``, gevent, separate from the bridge) holding
the kiosks on real WebSockets.

Measured:
  connected        kiosks welcomed at the same time once all have connected;
  rss_mb_bridge    the bridge's resident memory with all of them connected;
  kb_per_kiosk     (RSS connected − RSS before the first connection) / N;
  cpu_pct_bridge   the bridge's CPU (user + system) while they heartbeat, % of one core;
  heartbeat_p99_ms heartbeat → heartbeat_ack round trip seen by the kiosks, in that window;
  broadcast_p99_ms one command to every kiosk (``POST /hub/commands``): the kernel's arrival
                   time of the message at the kiosk's socket (``SO_TIMESTAMPNS``) − the
                   command's ``issued_at`` (the bridge's clock, same machine);
  broadcast_read_p99_ms  the same until the simulated kiosk had read and decoded it: adds
                   the load processes' own delay (2,500 kiosks per Python process, on the
                   cores the bridge uses), which a room of real PCs does not have;
  reconnect_all_s  once every answer to the broadcast is stored, SIGKILL the bridge, start it
                   again on the same database and port: seconds from the restart (the new
                   process's start, ~2-4 s of it before it listens) until all N are welcomed
                   again;
  events_lost      events the kiosks made (seq 1..n per kiosk, through the kill) that the
                   database does not hold at the end, plus acked events whose stored chain
                   head differs from the ack.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bridge.bench.autosave import Server as Bridge, cpu_seconds, own_database, percentile, server_env
from bridge.errors import ConfigError

KIOSKS_PER_LOAD_PROCESS = 2500
EVENT_KIOSK_EVERY = 10  # one kiosk in ten has a candidate writing answers


#: The load processes' niceness: on a real exam day the kiosks are other PCs, so here they
#: take the cores the bridge shares with them only when the bridge does not need them.
LOAD_NICENESS = 10


def _lower_priority() -> None:
    os.nice(LOAD_NICENESS)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def seed(instance: Path, url: str, secret: str, count: int) -> tuple[list[dict], str, str]:
    """Migrate and seed: (kiosk specs for the load processes, admin cookie, its CSRF token)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from bridge import create_app
    from bridge.bench.seed import make_attempts, make_sitting, session_cookie
    from bridge.extensions import db
    from bridge.migrate import upgrade
    from bridge.models.devices import Kiosk
    from bridge.models.users import User
    from bridge.services.kiosks import devices
    from bridge.services.delivery import forwarding
    from kiosk_agent.protocol import public_key_text

    upgrade(url)
    app = create_app({"ENV": "development", "INSTANCE_PATH": str(instance), "DATABASE_URL": url,
                      "SECRET_KEY": secret})
    with app.app_context():
        session = db.session
        room, _code = devices.create_room(session, code="BENCH", name="Benchmark room", secret_key=secret)
        keys = [Ed25519PrivateKey.generate() for _ in range(count)]
        kiosks = [Kiosk(room_id=room.id, public_key=public_key_text(k), machine=uuid.uuid4().hex, hostname=f"pc{i + 1}",
                        agent_version="bench", platform="linux", status="seated", seat=i + 1, agent_status="")
                  for i, k in enumerate(keys)]
        session.add_all(kiosks)
        sitting = make_sitting(session, duration_minutes=24 * 60)
        single = next(qid for qid, qtype in sitting.questions if qtype == "single")
        with_events = max(1, count // EVENT_KIOSK_EVERY)
        attempts = make_attempts(session, sitting, with_events, minutes_left=24 * 60)
        admin = User(name="Bench admin", username=f"bench-{uuid.uuid4().hex[:8]}", is_admin=True)
        session.add(admin)
        session.flush()
        specs = []
        for i, (kiosk, key) in enumerate(zip(kiosks, keys)):
            spec = {"kiosk_id": kiosk.id, "key": key.private_bytes(Encoding.Raw, PrivateFormat.Raw,
                                                                   NoEncryption()).hex()}
            if i % EVENT_KIOSK_EVERY == 0 and i // EVENT_KIOSK_EVERY < len(attempts):
                attempt_id = attempts[i // EVENT_KIOSK_EVERY][0]
                spec.update(attempt_id=attempt_id, token=forwarding.mint_forward_token(session, secret, attempt_id),
                            question_id=single)
            specs.append(spec)
        session.commit()
        cookie, csrf = session_cookie(app, admin.id)
        db.engine.dispose()
    return specs, cookie, csrf


class Load:
    """The load processes and the files they talk through."""

    def __init__(self, workdir: Path, url: str, specs: list[dict], processes: int, ramp: float,
                 event_seconds: float) -> None:
        self.dir = workdir / "load"
        self.dir.mkdir()
        self.procs = []
        self.outs = []
        chunk = math.ceil(len(specs) / processes)
        for n in range(processes):
            part = specs[n * chunk:(n + 1) * chunk]
            if not part:
                continue
            spec = self.dir / f"spec-{n}.json"
            spec.write_text(json.dumps(part))
            out = open(self.dir / f"load-{n}.err", "w")
            self.outs.append(out)
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "bridge.bench.kiosk_load", "--url", url, "--spec", str(spec),
                 "--dir", str(self.dir), "--index", str(n), "--ramp", str(ramp),
                 "--event-seconds", str(event_seconds)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_lower_priority))

    def welcomed(self) -> int:
        total = 0
        for n in range(len(self.procs)):
            try:
                total += json.loads((self.dir / f"status-{n}.json").read_text())["welcomed"]
            except (FileNotFoundError, ValueError):
                pass
        return total

    def check_alive(self) -> None:
        for n, proc in enumerate(self.procs):
            if proc.poll() is not None:
                raise ConfigError(f"load process {n} exited ({proc.returncode}): "
                                  f"{(self.dir / f'load-{n}.err').read_text()[-2000:]}")

    def wait_welcomed(self, count: int, timeout: float, since: float | None = None) -> float | None:
        """Seconds until ``count`` kiosks are welcomed (status files newer than ``since``)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self.check_alive()
            fresh = True
            if since is not None:
                for n in range(len(self.procs)):
                    try:
                        fresh &= json.loads((self.dir / f"status-{n}.json").read_text())["time"] > since
                    except (FileNotFoundError, ValueError):
                        fresh = False
            if fresh and self.welcomed() >= count:
                return time.monotonic() - started
            time.sleep(0.05)
        return None

    def finish(self) -> list[dict]:
        (self.dir / "control").write_text("final")
        results = []
        for n, proc in enumerate(self.procs):
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            path = self.dir / f"result-{n}.json"
            if not path.exists():
                raise ConfigError(f"load process {n} left no result: "
                                  f"{(self.dir / f'load-{n}.err').read_text()[-2000:]}")
            results.append(json.loads(path.read_text()))
        for out in self.outs:
            out.close()
        return results

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for out in self.outs:
            if not out.closed:
                out.close()


def broadcast(http_url: str, kiosk_ids: list[int], cookie: str, csrf: str) -> None:
    import requests

    with requests.Session() as http:
        http.trust_env = False
        answer = http.post(http_url + "/hub/commands", json={"kiosks": kiosk_ids, "name": "show_seat"},
                           headers={"Cookie": f"exambridge_session={cookie}", "X-CSRF-Token": csrf}, timeout=120)
    if answer.status_code != 200:
        raise ConfigError(f"the broadcast was refused: {answer.status_code} {answer.text[:300]}")


def wait_results_stored(url: str, count: int, timeout: float) -> bool:
    """Poll until ``count`` commands are answered (so the restart measures reconnects only)."""
    from sqlalchemy import func

    from bridge.models.devices import KioskCommand

    engine = create_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with Session(engine) as session:
                done = session.scalar(select(func.count()).select_from(KioskCommand)
                                      .where(KioskCommand.status == "done"))
            if done >= count:
                return True
            time.sleep(0.25)
        return False
    finally:
        engine.dispose()


def events_lost(url: str, results: list[dict]) -> tuple[int, int]:
    """(lost, made): made events absent from the database, plus acks whose head differs."""
    from bridge.models.attempts import AnswerEvent

    engine = create_engine(url)
    lost = made = 0
    try:
        with Session(engine) as session:
            stored = {(a, w, s): h for a, w, s, h in session.execute(
                select(AnswerEvent.attempt_id, AnswerEvent.writer, AnswerEvent.seq, AnswerEvent.hash)
                .where(AnswerEvent.writer.like("bench-k%")))}
    finally:
        engine.dispose()
    for result in results:
        for kiosk in result["events"]:
            a, w = kiosk["attempt_id"], kiosk["writer"]
            made += kiosk["generated"]
            lost += sum(1 for s in range(1, kiosk["generated"] + 1) if (a, w, s) not in stored)
            lost += sum(1 for s, head in kiosk["acked"].items() if stored.get((a, w, int(s)), head) != head)
    return lost, made


def run(count: int, seconds: float, database_url: str | None = None, *, load_processes: int = 0,
        keep: bool = False, log=lambda message: print(message, file=sys.stderr)) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="exambridge-bench-kiosks-"))
    instance = workdir / "instance"
    instance.mkdir()
    secret = uuid.uuid4().hex * 2
    processes = load_processes or max(1, math.ceil(count / KIOSKS_PER_LOAD_PROCESS))
    load = None
    bridge = None
    try:
        with own_database(workdir, database_url) as url:
            specs, cookie, csrf = seed(instance, url, secret, count)
            backend = make_url(url).get_backend_name()
            log(f"bench kiosks: seeded {count} kiosks on {backend}; starting the bridge")
            env = server_env(instance, url, secret)
            bridge = Bridge(workdir, env)
            port = bridge.wait_port()
            http_url, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/kiosk"
            time.sleep(0.5)  # let start-up settle before the baseline
            rss_idle = rss_mb(bridge.popen.pid)
            ramp = min(10.0, max(1.0, count / 1000))
            # a candidate changes an answer every 30 s at full size; small runs faster, so they have events
            event_seconds = max(2.0, min(30.0, count / 100))
            load = Load(workdir, ws_url, specs, processes, ramp, event_seconds)
            took = load.wait_welcomed(count, timeout=ramp + 120)
            connected = load.welcomed()
            log(f"bench kiosks: {connected}/{count} welcomed in {took if took is None else round(took, 1)} s "
                f"({processes} load process(es)); heartbeating for {seconds:g} s")
            # steady state: heartbeats and events
            time.sleep(min(6.0, seconds))  # one heartbeat round after the ramp
            window_start = time.time()
            cpu_before, wall_before = cpu_seconds(bridge.popen.pid), time.monotonic()
            time.sleep(seconds)
            cpu_pct = (cpu_seconds(bridge.popen.pid) - cpu_before) / (time.monotonic() - wall_before) * 100
            window_end = time.time()
            rss = rss_mb(bridge.popen.pid)
            connected = min(connected, load.welcomed())
            log(f"bench kiosks: steady window done ({cpu_pct:.1f} % CPU, {rss:.0f} MiB); broadcasting")
            broadcast_at = time.monotonic()
            broadcast(http_url, [s["kiosk_id"] for s in specs], cookie, csrf)
            stored = wait_results_stored(url, count, timeout=60)
            log(f"bench kiosks: every kiosk's answer to the broadcast stored "
                f"{time.monotonic() - broadcast_at:.1f} s after it was issued" if stored else
                "bench kiosks: not every answer to the broadcast was stored within 60 s")
            # kill and restart on the same database and port
            killed_at = time.time()
            (load.dir / "since").write_text(repr(killed_at))
            bridge.kill()
            time.sleep(0.5)
            bridge = Bridge(workdir, env, port=port, name="restart")
            bridge.wait_port()
            log(f"bench kiosks: killed and restarted (listening {time.monotonic() - bridge.started:.2f} s after the "
                f"start)")
            back = load.wait_welcomed(count, timeout=120, since=killed_at)
            reconnect = time.monotonic() - bridge.started if back is not None else None
            log(f"bench kiosks: all {count} back {reconnect if reconnect is None else round(reconnect, 2)} s after the "
                f"restart began")
            time.sleep(2.0)
            results = load.finish()
            load = None
            bridge.stop()
            bridge = None
            lost, made = events_lost(url, results)
    finally:
        if load is not None:
            load.kill()
        if bridge is not None:
            try:
                bridge.stop()
            except Exception:
                pass
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"bench kiosks: kept {workdir}")
    heartbeats = [rtt for r in results for sent, rtt in r["heartbeats"] if window_start <= sent <= window_end]
    commands = [ms for r in results for ms in r["commands"]]
    arrivals = [ms for r in results for ms in r.get("arrivals", ())]
    resent = sum(r.get("resent", 0) for r in results)
    log(f"bench kiosks: {len(heartbeats)} heartbeats in the window, {len(commands)} commands received "
        f"(+{resent} sent again after a reconnect), "
        f"{made} events made; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return {"kiosks": count, "connected": connected, "rss_mb_bridge": round(rss, 1),
            "kb_per_kiosk": round((rss - rss_idle) * 1024 / max(connected, 1), 1),
            "cpu_pct_bridge": round(cpu_pct, 1),
            "heartbeat_p99_ms": round(percentile(heartbeats, 0.99), 1) if heartbeats else None,
            "broadcast_p99_ms": round(percentile(arrivals, 0.99), 1) if arrivals else None,
            "broadcast_read_p99_ms": round(percentile(commands, 0.99), 1) if commands else None,
            "reconnect_all_s": round(reconnect, 2) if reconnect is not None else None,
            "events_lost": lost}
