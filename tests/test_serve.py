"""``exambridge serve`` and ``bridge.runtime.wsgi`` as real processes on real sockets.

Each test starts the server as a subprocess with its own instance folder and reads the
bound port from ``--port-file`` (port 0), polling with a deadline.
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.fixtures.apps import BACKENDS, _pg_exec, _pg_url

BIN = Path(sys.executable).parent
EXAMBRIDGE = [str(BIN / "exambridge")] if (BIN / "exambridge").exists() \
    else [sys.executable, "-m", "bridge.entry"]
START_TIMEOUT = 60.0


def local_session() -> requests.Session:
    """A session that talks to 127.0.0.1 directly, whatever *_proxy variables CI sets."""
    session = requests.Session()
    session.trust_env = False
    return session


def get(url: str, **kwargs) -> requests.Response:
    """One GET on its own connection (no keep-alive left open to hold up a shutdown)."""
    with local_session() as session:
        return session.get(url, **kwargs)


def clean_env(instance: Path, **values: str) -> dict[str, str]:
    """The test process's environment without EXAMBRIDGE_* settings, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAMBRIDGE_")}
    env.update({"EXAMBRIDGE_INSTANCE_PATH": str(instance), "EXAMBRIDGE_ENV": "development",
                "PYTHONUNBUFFERED": "1"})
    env.update({f"EXAMBRIDGE_{k}": v for k, v in values.items()})
    return env


class Proc:
    """A server subprocess whose output goes to files (no pipe to fill up)."""

    def __init__(self, args: list[str], env: dict[str, str], workdir: Path, name: str):
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        self._out = self.out_path.open("w")
        self._err = self.err_path.open("w")
        self.popen = subprocess.Popen(args, env=env, stdout=self._out, stderr=self._err,
                                      stdin=subprocess.DEVNULL, cwd=workdir)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_for(self, predicate, what: str, timeout: float = START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.popen.poll() is not None:
                pytest.fail(f"the process exited ({self.popen.returncode}) before {what}:\n"
                            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}")
            time.sleep(0.05)
        pytest.fail(f"no {what} after {timeout:g} s:\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        self._out.close()
        self._err.close()


class Bridge(Proc):
    def __init__(self, workdir: Path, env: dict[str, str], name: str = "serve"):
        self.port_file = workdir / f"{name}.port"
        super().__init__([*EXAMBRIDGE, "serve", "--host", "127.0.0.1", "--port", "0",
                          "--port-file", str(self.port_file)], env, workdir, name)

    def wait_ready(self) -> "Bridge":
        def port():
            try:
                text = self.port_file.read_text()
            except FileNotFoundError:
                return None
            return int(text) if text.strip() else None

        self.port = self.wait_for(port, "port file")
        self.url = f"http://127.0.0.1:{self.port}"
        return self


@pytest.fixture
def start_bridge(tmp_path):
    started: list[Bridge] = []

    def start(env: dict[str, str] | None = None, name: str = "serve") -> Bridge:
        bridge = Bridge(tmp_path, env or clean_env(tmp_path / "instance"), name)
        started.append(bridge)
        return bridge.wait_ready()

    yield start
    for bridge in started:
        bridge.close()


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*EXAMBRIDGE, *args], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


# --- exambridge serve -----------------------------------------------------------------
def test_serve_answers_health_and_readiness(start_bridge):
    bridge = start_bridge()
    assert get(f"{bridge.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = get(f"{bridge.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text  # development upgraded the schema on start
    assert ready.json()["migrations"] == "current"
    assert f"ExamBridge listening on http://127.0.0.1:{bridge.port}" in bridge.stdout
    assert bridge.stop() == 0


def test_keep_alive_requests_are_not_delayed(start_bridge):
    """TCP_NODELAY works: without it, Nagle's algorithm and the client's delayed ACK hold
    each keep-alive response ~40 ms (measured: 44 ms median on a plain gevent socket)."""
    bridge = start_bridge()
    timings = []
    with local_session() as session:
        session.get(f"{bridge.url}/healthz", timeout=10)  # open the connection
        for _ in range(50):
            start = time.perf_counter()
            response = session.get(f"{bridge.url}/healthz", timeout=10)
            timings.append(time.perf_counter() - start)
            assert response.status_code == 200
    median_ms = statistics.median(timings) * 1000
    print(f"keep-alive GET /healthz: median {median_ms:.2f} ms, "
          f"max {max(timings) * 1000:.2f} ms over {len(timings)} requests")
    assert median_ms < 30, f"median {median_ms:.1f} ms: is TCP_NODELAY set on accepted sockets?"
    assert bridge.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(start_bridge, sig):
    bridge = start_bridge()
    with local_session() as idle:  # an idle keep-alive connection must not hold shutdown
        assert idle.get(f"{bridge.url}/healthz", timeout=10).status_code == 200
        started = time.monotonic()
        code = bridge.stop(sig)
        took = time.monotonic() - started
    assert code == 0, bridge.stderr
    assert took < 4, f"stopping took {took:.1f} s"
    assert "Traceback" not in bridge.stderr
    assert "ExamBridge stopped" in bridge.stdout
    assert not bridge.port_file.exists()
    with pytest.raises(requests.ConnectionError):
        get(f"{bridge.url}/healthz", timeout=2)


def test_second_serve_on_the_same_sqlite_file_is_refused(start_bridge, tmp_path):
    first = start_bridge()
    second = run_cli(["serve", "--port", "0"], clean_env(tmp_path / "instance"))
    assert second.returncode != 0
    assert f"Another ExamBridge process (pid {first.popen.pid}) is already serving" in second.stderr
    assert "exambridge.db" in second.stderr
    assert "Traceback" not in second.stderr
    # the first one is unharmed
    assert get(f"{first.url}/readyz", timeout=10).status_code == 200
    assert first.stop() == 0


def test_lock_is_released_when_the_process_stops(start_bridge):
    first = start_bridge(name="first")
    assert first.stop() == 0
    second = start_bridge(name="second")
    assert get(f"{second.url}/healthz", timeout=10).status_code == 200
    assert second.stop() == 0


def test_demo_serves_the_bridge_and_the_sandbox_lms(tmp_path):
    """`make run`'s process: both servers answer, the addresses are printed, Ctrl-C ends it."""
    import re

    demo = Proc([*EXAMBRIDGE, "demo", "--port", "0", "--lms-port", "0"],
                clean_env(tmp_path / "instance"), tmp_path, "demo")
    try:
        demo.wait_for(lambda: "Press Ctrl-C to stop." in demo.stdout, "the demo's addresses")
        bridge = re.search(r"ExamBridge \(the tool\): +(http://127\.0\.0\.1:\d+)/", demo.stdout).group(1)
        lms = re.search(r"Sandbox LMS \(the course\): +(http://localhost:\d+)/", demo.stdout).group(1)
        password = re.search(r"user admin +password (\S+)", demo.stdout).group(1)
        assert get(f"{bridge}/readyz", timeout=10).status_code == 200
        assert get(lms.replace("localhost", "127.0.0.1") + "/", timeout=10).status_code == 200
        assert "Tess Teacher" in demo.stdout and "/course/2/launch?user=5" in demo.stdout
        from tests.fixtures.servers import loopback_session, with_csrf

        browser = loopback_session()  # the session cookie is Secure: send it to 127.0.0.1 as Chromium does
        browser.trust_env = False
        form = with_csrf(browser, f"{bridge}/admin/login", {"username": "admin", "password": password})
        login = browser.post(f"{bridge}/admin/login", data=form, allow_redirects=False, timeout=10)
        assert login.status_code == 302, login.text
        assert demo.stop(signal.SIGINT) == 0, demo.stderr
    finally:
        demo.close()
    assert "Traceback" not in demo.stderr
    assert (tmp_path / "instance" / "exambridge.db").exists()


@pytest.mark.req("P1", "K2")
def test_closing_sockets_and_stopping_the_demo_log_no_traceback(tmp_path):
    """A console's board socket and a kiosk socket opened and closed against the real demo
    server, then the demo stopped with its kiosks connected: the log holds no traceback
    (every socket's end used to be logged as "Exception on /ws/…")."""
    import re
    import sqlite3

    import websocket

    from tests.fixtures.servers import loopback_session, with_csrf

    instance = tmp_path / "instance"
    demo = Proc([*EXAMBRIDGE, "demo", "--port", "0", "--lms-port", "0"], clean_env(instance), tmp_path, "demo")
    try:
        demo.wait_for(lambda: "Press Ctrl-C to stop." in demo.stdout, "the demo's addresses")
        bridge = re.search(r"ExamBridge \(the tool\): +(http://127\.0\.0\.1:\d+)/", demo.stdout).group(1)
        password = re.search(r"user admin +password (\S+)", demo.stdout).group(1)
        browser = loopback_session()
        browser.trust_env = False
        form = with_csrf(browser, f"{bridge}/admin/login", {"username": "admin", "password": password})
        assert browser.post(f"{bridge}/admin/login", data=form, allow_redirects=False, timeout=10).status_code == 302

        def seated_sitting():
            with sqlite3.connect(instance / "exambridge.db") as db:
                seated = db.execute("SELECT count(*) FROM kiosks WHERE status = 'seated'").fetchone()[0]
                row = db.execute("SELECT id, room_id FROM sittings WHERE authorized_at IS NOT NULL").fetchone()
            return seated == 4 and row
        sitting_id, room_id = demo.wait_for(seated_sitting, "the demo's kiosks seated and its session authorized")
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
        ws_base = bridge.replace("http://", "ws://")
        board = websocket.create_connection(f"{ws_base}/ws/console/{room_id}?sitting={sitting_id}",
                                            cookie=cookie, timeout=10)
        assert '"sitting_id": %d' % sitting_id in board.recv()
        board.close()
        kiosk = websocket.create_connection(f"{ws_base}/ws/kiosk", timeout=10)
        kiosk.close()
        assert browser.get(f"{bridge}/console/", timeout=10).status_code == 200
        assert demo.stop(signal.SIGINT) == 0, demo.stderr
    finally:
        demo.close()
    assert "Traceback" not in demo.stderr, demo.stderr
    assert "Exception on" not in demo.stderr, demo.stderr


def test_production_without_secret_key_names_the_variable(tmp_path):
    env = clean_env(tmp_path / "instance", ENV="production",
                    DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}",
                    PUBLIC_URL="https://exams.example.edu")
    result = run_cli(["serve", "--port", "0"], env)
    assert result.returncode != 0
    assert "EXAMBRIDGE_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_an_old_schema_then_starts_after_upgrade(tmp_path, start_bridge):
    env = clean_env(tmp_path / "instance", ENV="production",
                    DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}",
                    SECRET_KEY=uuid.uuid4().hex * 2, PUBLIC_URL="https://exams.example.edu")
    refused = run_cli(["serve", "--port", "0"], env)
    assert refused.returncode != 0
    assert "run `exambridge db upgrade`" in refused.stderr
    assert "Traceback" not in refused.stderr

    upgraded = run_cli(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    bridge = start_bridge(env)
    assert get(f"{bridge.url}/readyz", timeout=10).status_code == 200
    assert bridge.stop() == 0


SERVE_MANY_SCRIPT = """
import sys
from gevent import monkey; monkey.patch_all()
import gevent
from flask import Flask, request
from bridge.hub.websocket import websocket_response
from bridge.runtime.runner import serve_many, write_port_file
from bridge.runtime.server import listen, make_server

workdir = sys.argv[1]
app = Flask("many")

@app.get("/slow")
def slow():
    open(workdir + "/slow-started", "w").close()
    gevent.sleep(1.0)
    return "slow done"

@app.get("/ping")
def ping():
    return "pong"

@app.route("/ws", websocket=True)
def echo():
    def run(ws):
        while (message := ws.receive()) is not None:
            ws.send(message)
    return websocket_response(request.environ, run)

socks = {name: listen("127.0.0.1", 0) for name in ("a", "b")}

def ready():
    for name, s in socks.items():
        write_port_file(f"{workdir}/{name}.port", s.getsockname()[1])

serve_many([make_server(app, s) for s in socks.values()], grace=5, on_ready=ready)
print("serve_many returned", flush=True)
"""


def test_serve_many_runs_several_servers_and_lets_requests_finish(tmp_path):
    """Both servers answer; on SIGTERM the request in progress completes, while an open
    WebSocket does not hold the shutdown for the whole grace period."""
    import threading

    import websocket

    script = tmp_path / "many.py"
    script.write_text(SERVE_MANY_SCRIPT)
    proc = Proc([sys.executable, str(script), str(tmp_path)], clean_env(tmp_path / "i"),
                tmp_path, "many")
    try:
        ports = [proc.wait_for(lambda n=n: (tmp_path / f"{n}.port").exists()
                               and (tmp_path / f"{n}.port").read_text().strip(), f"{n}.port")
                 for n in ("a", "b")]
        for port in ports:
            assert get(f"http://127.0.0.1:{port}/ping", timeout=10).text == "pong"
        ws = websocket.create_connection(f"ws://127.0.0.1:{ports[1]}/ws", timeout=10)
        ws.send("hello")
        assert ws.recv() == "hello"
        result = {}
        slow = threading.Thread(target=lambda: result.update(
            r=get(f"http://127.0.0.1:{ports[0]}/slow", timeout=20)))
        slow.start()
        proc.wait_for(lambda: (tmp_path / "slow-started").exists(), "the slow request")
        started = time.monotonic()
        code = proc.stop(signal.SIGTERM)
        took = time.monotonic() - started
        slow.join(timeout=20)
        ws.close()
    finally:
        proc.close()
    assert code == 0, proc.stderr
    assert result["r"].status_code == 200 and result["r"].text == "slow done"
    assert "1 request(s) in progress" in proc.stdout
    assert "serve_many returned" in proc.stdout
    assert took < 4, f"shutdown took {took:.1f} s: the WebSocket held it up"


# --- gunicorn + bridge.runtime.wsgi (production, PostgreSQL) ----------------------------------
GUNICORN = BIN / "gunicorn"


def gunicorn(tmp_path: Path, env: dict[str, str], name: str = "gunicorn") -> Proc:
    if not GUNICORN.exists():
        pytest.fail("gunicorn is missing: it is in the [test] extra (pip install -e '.[test]')")
    args = [str(GUNICORN), "-k", "gevent", "-w", "2", "-b", "127.0.0.1:0",
            "--graceful-timeout", "5", "bridge.runtime.wsgi:app"]
    help_text = subprocess.run([str(GUNICORN), "--help"], capture_output=True, text=True).stdout
    if "--no-control-socket" in help_text:  # gunicorn 24+: no shared ~/.gunicorn socket
        args.insert(1, "--no-control-socket")
    return Proc(args, env, tmp_path, name)


@pytest.fixture
def pg_database():
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL not selected: no server on EXAMBRIDGE_TEST_PG_URL and CI != true")
    name = f"eb_wsgi_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return clean_env(tmp_path / "instance", ENV="production", DATABASE_URL=database_url,
                     SECRET_KEY=uuid.uuid4().hex * 2, PUBLIC_URL="https://exams.example.edu")


@pytest.mark.postgres
def test_gunicorn_gevent_workers_serve_the_wsgi_app(tmp_path, pg_database):
    env = production_env(tmp_path, pg_database)
    refused = gunicorn(tmp_path, env, "behind")
    code = refused.popen.wait(timeout=60)
    refused.close()
    assert code != 0
    assert "run `exambridge db upgrade`" in refused.stderr

    assert run_cli(["db", "upgrade"], env).returncode == 0
    server = gunicorn(tmp_path, env)
    try:
        port = server.wait_for(lambda: _gunicorn_port(server.stderr), "'Listening at' line")
        base = f"http://127.0.0.1:{port}"
        server.wait_for(lambda: server.stderr.count("Booting worker") >= 2, "two workers")
        assert get(f"{base}/healthz", timeout=10).status_code == 200
        ready = get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert server.stop() == 0, server.stderr
    finally:
        server.close()


def test_wsgi_module_refuses_sqlite(tmp_path):
    env = production_env(tmp_path, f"sqlite:///{tmp_path / 'prod.db'}")
    server = gunicorn(tmp_path, env)
    code = server.popen.wait(timeout=60)
    server.close()
    assert code != 0
    assert "needs PostgreSQL" in server.stderr and "exambridge serve" in server.stderr


def _gunicorn_port(log: str) -> int | None:
    import re

    match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log)
    return int(match.group(1)) if match else None
