"""``exambridge bench autosave``: N candidates autosaving against a real bridge process.

Steps: make a database of its own (a SQLite file in a fresh instance folder, or a new
database on the PostgreSQL server named by ``--database-url``), migrate it, seed N
candidates with attempts in progress straight through the models, sign each one's session
cookie with the app's secret, start ``exambridge serve --port 0`` on it, run the load
(``bridge.bench.driver``, a gevent process: each candidate saves ``rate`` times a second
for ``seconds``, then all submit at once), stop the server, and read the database back:
``lost`` counts acknowledged saves (and acknowledged submits) the database does not hold,
``duplicated`` counts keys stored more than once and attempts submitted more than once.
Returns the figures; the command prints them as one JSON line (issue 3, Performance).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bridge.errors import ConfigError

START_TIMEOUT = 60.0


@contextmanager
def own_database(workdir: Path, server_url: str | None) -> Iterator[str]:
    """A fresh database for one run, dropped afterwards (PostgreSQL) or left in ``workdir``."""
    if not server_url:
        yield f"sqlite:///{workdir / 'instance' / 'exambridge.db'}"
        return
    url = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    if url.get_backend_name() != "postgresql":
        raise ConfigError("--database-url must name a PostgreSQL server (postgresql://user@host/db).")
    name = f"eb_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise ConfigError(f"Cannot create a database on {url.render_as_string(hide_password=True)}: {exc}") from None
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(instance: Path, url: str, secret: str, candidates: int):
    """Migrate, seed and sign in: (questions, [[attempt id, cookie, csrf]])."""
    from bridge import create_app
    from bridge.bench.seed import make_attempts, make_sitting, session_cookie
    from bridge.extensions import db
    from bridge.migrate import upgrade

    upgrade(url)
    app = create_app({"ENV": "development", "INSTANCE_PATH": str(instance), "DATABASE_URL": url,
                      "SECRET_KEY": secret})
    with app.app_context():
        sitting = make_sitting(db.session, duration_minutes=24 * 60)
        rows = make_attempts(db.session, sitting, candidates, minutes_left=24 * 60)
        db.session.commit()
        signed = [[attempt_id, *session_cookie(app, user_id)] for attempt_id, user_id in rows]
        db.engine.dispose()
    return sitting.questions, signed


class Server:
    """``exambridge serve`` on ``port`` (0: a free one), its output in files; the kiosk
    benchmark restarts it on the same port after a SIGKILL."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int = 0, name: str = "serve"):
        self.port_file = workdir / f"{name}.port"
        self.port_file.unlink(missing_ok=True)
        self.out = open(workdir / f"{name}.out", "w")
        self.err = open(workdir / f"{name}.err", "w")
        self.started = time.monotonic()
        self.popen = subprocess.Popen([sys.executable, "-m", "bridge.entry", "serve", "--host", "127.0.0.1",
                                       "--port", str(port), "--port-file", str(self.port_file)],
                                      env=env, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL)

    def wait_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.port_file.exists() and self.port_file.read_text().strip():
                return int(self.port_file.read_text())
            if self.popen.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise ConfigError(f"the bridge did not start: {Path(self.err.name).read_text()[-2000:]}")

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()
        self.out.close()
        self.err.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.out.close()
        self.err.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_env(instance: Path, url: str, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAMBRIDGE_")}
    env.update(EXAMBRIDGE_INSTANCE_PATH=str(instance), EXAMBRIDGE_DATABASE_URL=url,
               EXAMBRIDGE_SECRET_KEY=secret, EXAMBRIDGE_ENV="development", PYTHONUNBUFFERED="1")
    return env


def verify(url: str, load: dict) -> tuple[int, int]:
    """(lost, duplicated), read back from the database."""
    from bridge.models.attempts import AnswerEvent, Attempt, AttemptLog

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            stored = {(a, s): h for a, s, h in session.execute(
                select(AnswerEvent.attempt_id, AnswerEvent.seq, AnswerEvent.hash).where(AnswerEvent.writer == "bench"))}
            lost = sum(1 for a, s, head in load["acked"] if stored.get((a, s)) != head)
            submitted = set(session.scalars(select(Attempt.id).where(Attempt.status == "submitted")))
            lost += sum(1 for a, _at in load["submits"] if a not in submitted)
            keys = (select(func.count().label("n")).select_from(AnswerEvent)
                    .group_by(AnswerEvent.attempt_id, AnswerEvent.writer, AnswerEvent.seq).subquery())
            duplicated = session.scalar(select(func.coalesce(func.sum(keys.c.n - 1), 0)))
            submit_lines = (select(func.count().label("n")).select_from(AttemptLog)
                            .where(AttemptLog.action == "submit").group_by(AttemptLog.attempt_id).subquery())
            duplicated += session.scalar(select(func.coalesce(func.sum(submit_lines.c.n - 1), 0)))
    finally:
        engine.dispose()
    return int(lost), int(duplicated)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(candidates: int, rate: float, seconds: float, database_url: str | None = None,
        keep: bool = False, log=lambda message: print(message, file=sys.stderr)) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="exambridge-bench-"))
    instance = workdir / "instance"
    instance.mkdir()
    secret = uuid.uuid4().hex * 2
    try:
        with own_database(workdir, database_url) as url:
            questions, signed = seed(instance, url, secret, candidates)
            log(f"bench: seeded {candidates} candidates on {make_url(url).get_backend_name()}; starting the bridge")
            server = Server(workdir, server_env(instance, url, secret))
            try:
                port = server.wait_port()
                plan, result = workdir / "plan.json", workdir / "result.json"
                plan.write_text(json.dumps({"host": "127.0.0.1", "port": port, "rate": rate, "seconds": seconds,
                                            "questions": questions, "candidates": signed}))
                cpu_before, started = cpu_seconds(server.popen.pid), time.monotonic()
                subprocess.run([sys.executable, "-m", "bridge.bench.driver", str(plan), str(result)], check=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
                server_cpu, wall = cpu_seconds(server.popen.pid) - cpu_before, time.monotonic() - started
                load = json.loads(result.read_text())
            finally:
                server.stop()
            for line in Path(server.err.name).read_text(errors="replace").splitlines():
                if "[bridge.runtime.writer] writer:" in line:  # the group writer's batch figures
                    log("bench: " + line.split("] ", 1)[1])
            lost, duplicated = verify(url, load)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    latencies = load["latencies_ms"]
    if load["errors"]:
        log(f"bench: {len(load['errors'])} request(s) refused or failed, e.g. {load['errors'][:3]}")
    requests_served = len(latencies) + len(load["submits"])
    log(f"bench: {load['retries']} retried request(s); save phase {load['save_seconds']:.1f} s; the bridge used "
        f"{server_cpu:.1f} s CPU in {wall:.1f} s ({server_cpu / max(requests_served, 1) * 1000:.2f} ms per request); "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return {"candidates": candidates, "saves": len(latencies),
            "saves_per_s": round(len(latencies) / load["save_seconds"], 1) if load["save_seconds"] else 0,
            "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
            "p99_ms": round(percentile(latencies, 0.99), 2) if latencies else None,
            "submit_burst_s": round(load["submit_burst_s"], 3) if load["submit_burst_s"] is not None else None,
            "lost": lost, "duplicated": duplicated}
