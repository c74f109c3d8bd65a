"""A real bridge process, a TCP proxy we control in front of it, and the agent as a real
process: the world of the agent's integration tests.

- ``BridgeWorld``: a fresh SQLite database (migrated, seeded with a room, a sitting with
  attempts in progress and an admin), ``exambridge serve --port 0`` on it, restartable
  (SIGKILL, then a new process on the same database).
- ``Proxy``: 127.0.0.1:port → the bridge; ``cut()`` drops every connection and refuses new
  ones, ``restore()`` listens again on the same port; ``target`` follows a restarted bridge.
- ``AgentProc``: ``python -m kiosk_agent run`` against the proxy, its state read from the
  data directory's state.json; ``Page`` is the exam page's side of the local endpoint.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from tests.kiosk.agent_helpers import call
from tests.test_serve import Bridge, clean_env

MACHINE_ID = "integration-machine"


def wait_until(predicate, what: str, timeout: float = 60.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"no {what} within {timeout} s")


class Proxy:
    """A plain TCP relay on 127.0.0.1 that the test can cut and restore."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._listener.listen(64)
        self._listener.settimeout(0.1)  # the accept loop notices a cut within 0.1 s
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._accepting = True
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept_loop(self):
        while not self._stop.is_set():
            listener = self._listener
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.05)
                continue
            client.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket):
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select(timeout=1):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def drop_connections(self):
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def cut(self):
        """The network is gone: connections dropped, new ones refused."""
        listener = self._listener
        self._listener = _Refusing()
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        except OSError:
            pass
        listener.close()
        self.drop_connections()

    def restore(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener

    def close(self):
        self._stop.set()
        try:
            self._listener.close()
        except OSError:
            pass
        self.drop_connections()


class _Refusing:
    def accept(self):
        time.sleep(0.05)
        raise OSError("cut")

    def close(self):
        pass


class BridgeWorld:
    def __init__(self, tmp_path: Path):
        from bridge import create_app
        from bridge.extensions import db
        from bridge.migrate import upgrade
        from bridge.models.users import User
        from bridge.services.kiosks import devices
        from bridge.services.delivery import forwarding
        from tests.delivery import factories

        self.tmp = tmp_path
        (tmp_path / "instance").mkdir(exist_ok=True)
        self.db_url = f"sqlite:///{tmp_path / 'instance' / 'exambridge.db'}"
        self.secret = uuid.uuid4().hex * 2
        upgrade(self.db_url)
        app = create_app({"ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"),
                          "DATABASE_URL": self.db_url, "SECRET_KEY": self.secret})
        with app.app_context():
            room, self.code = devices.create_room(db.session, code="R101", name="Room 101", secret_key=self.secret)
            self.sitting = factories.make_sitting(db.session)
            self.attempts = factories.make_attempts(db.session, self.sitting, 2)
            admin = User(name="Admin", is_admin=True)
            db.session.add(admin)
            db.session.commit()
            self.admin_cookie, self.admin_csrf = factories.session_cookie(app, admin.id)
            self.tokens = {a: forwarding.forward_token(self.secret, a) for a, _ in self.attempts}
            db.engine.dispose()
        self.cookie_name = factories.SESSION_COOKIE
        self.env = clean_env(tmp_path / "instance", DATABASE_URL=self.db_url, SECRET_KEY=self.secret)
        self.engine = create_engine(self.db_url)
        self.runs = 0
        self.bridge = self._start()
        self.proxy = Proxy(self.bridge.port)

    def _start(self) -> Bridge:
        self.runs += 1
        return Bridge(self.tmp, self.env, f"bridge{self.runs}").wait_ready()

    def kill_and_restart(self, down_seconds_hook=None) -> None:
        """SIGKILL the bridge mid-flight; ``down_seconds_hook()`` runs while it is down;
        then a new bridge process on the same database, the proxy pointed at it."""
        self.bridge.popen.send_signal(signal.SIGKILL)
        self.bridge.popen.wait(10)
        self.proxy.drop_connections()
        if down_seconds_hook:
            down_seconds_hook()
        self.bridge = self._start()
        self.proxy.target_port = self.bridge.port

    def command(self, kiosk_id: int, name: str, args: dict | None = None) -> int:
        response = requests.post(f"{self.bridge.url}/hub/commands", json={"kiosks": [kiosk_id], "name": name,
                                                                           "args": args or {}},
                                 headers={"Cookie": f"{self.cookie_name}={self.admin_cookie}",
                                          "X-CSRF-Token": self.admin_csrf}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["commands"][0]

    def command_row(self, command_id: int):
        from bridge.models.devices import KioskCommand
        with Session(self.engine) as s:
            return s.get(KioskCommand, command_id)

    def wait_command(self, command_id: int, timeout: float = 20.0):
        return wait_until(lambda: (row := self.command_row(command_id)) and row.status in ("done", "refused",
                                                                                           "failed") and row,
                          f"result of command {command_id}", timeout)

    def kiosk(self, kiosk_id: int):
        from bridge.models.devices import Kiosk
        with Session(self.engine) as s:
            return s.get(Kiosk, kiosk_id)

    def events(self, attempt_id: int) -> list[tuple[str, int]]:
        from bridge.models.attempts import AnswerEvent
        with Session(self.engine) as s:
            return [tuple(row) for row in s.execute(select(AnswerEvent.writer, AnswerEvent.seq)
                                                    .where(AnswerEvent.attempt_id == attempt_id)
                                                    .order_by(AnswerEvent.writer, AnswerEvent.seq))]

    def submit(self, attempt_id: int) -> None:
        """The candidate submits (as the bridge records it): answers after this are refused."""
        import datetime as dt
        from bridge.models.attempts import Attempt
        with Session(self.engine) as s:
            attempt = s.get(Attempt, attempt_id)
            attempt.status, attempt.submitted_at, attempt.submit_reason = "submitted", dt.datetime.utcnow(), "candidate"
            s.commit()

    def stored_heads(self, attempt_id: int) -> dict:
        """Per writer, the highest seq the bridge stores and its chain hash."""
        from bridge.models.attempts import AnswerEvent
        heads: dict = {}
        with Session(self.engine) as s:
            for writer, seq, digest in s.execute(select(AnswerEvent.writer, AnswerEvent.seq, AnswerEvent.hash)
                                                 .where(AnswerEvent.attempt_id == attempt_id)
                                                 .order_by(AnswerEvent.writer, AnswerEvent.seq)):
                heads[writer] = {"seq": seq, "head": digest}
        return heads

    def event_count(self, attempt_id: int) -> int:
        from bridge.models.attempts import AnswerEvent
        with Session(self.engine) as s:
            return s.scalar(select(func.count()).select_from(AnswerEvent).where(AnswerEvent.attempt_id == attempt_id))

    def close(self):
        self.proxy.close()
        self.bridge.close()
        self.engine.dispose()


class AgentProc:
    def __init__(self, world: BridgeWorld, data_dir: Path, *extra: str, code: str | None = None, name="agent"):
        self.world, self.data_dir = world, data_dir
        self.out = (world.tmp / f"{name}.log").open("ab")
        env = dict(os.environ, EXAMBRIDGE_KIOSK_MACHINE_ID=MACHINE_ID, PYTHONUNBUFFERED="1")
        env.pop("EXAMBRIDGE_KIOSK_CODE", None)
        self.log_path = world.tmp / f"{name}.log"
        argv = [sys.executable, "-m", "kiosk_agent", "--log-level", "DEBUG", "run", "--bridge", world.proxy.url,
                "--room", "R101", "--data-dir", str(data_dir), "--local-port", "0", "--max-backoff", "1",
                "--dry-run-power", "--forbidden", "no-such-forbidden-program",
                "--client-cmd", f"{sys.executable} -c 'import time; time.sleep(600)' {{url}}"]
        if code is not None:
            argv += ["--code", code]
        self.popen = subprocess.Popen([*argv, *extra], stdout=self.out, stderr=self.out, stdin=subprocess.DEVNULL,
                                      env=env)

    def state(self) -> dict:
        try:
            return json.loads((self.data_dir / "state.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def wait_online(self, timeout: float = 60.0) -> dict:
        def ready():
            if self.popen.poll() is not None:
                raise AssertionError(f"the agent exited ({self.popen.returncode}):\n{self.log()}")
            state = self.state()
            ours = state.get("pid") == self.popen.pid  # not a state file an earlier run left behind
            return state if ours and state.get("online") and state.get("local_port") else None
        return wait_until(ready, "agent online", timeout)

    def wait_offline(self, timeout: float = 60.0) -> dict:
        return wait_until(lambda: (s := self.state()) and not s.get("online") and s, "agent offline", timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.out.close()
        return self.popen.returncode


class Page:
    """The exam page's calls to the agent's local endpoint (Origin: the bridge the agent uses)."""

    def __init__(self, agent: AgentProc, attempt_id: int, writer: str = "tab-1"):
        self.agent, self.attempt_id, self.writer = agent, attempt_id, writer
        self.origin = agent.world.proxy.url
        self.base = f"http://127.0.0.1:{agent.state()['local_port']}"
        status, _, hello = call(self.base + "/v1/hello", headers={"Origin": self.origin})
        assert status == 200, hello
        self.hello_body = hello
        self.token = hello["token"]
        self.seq = 0
        self.questions = agent.world.sitting.questions

    def hello(self) -> dict:
        return call(self.base + "/v1/hello", headers={"Origin": self.origin})[2]

    def save(self, count: int = 1) -> dict:
        from tests.delivery import factories
        events = []
        for _ in range(count):
            self.seq += 1
            qid, qtype = self.questions[self.seq % len(self.questions)]
            events.append({"writer": self.writer, "seq": self.seq, "question_id": qid,
                           "response": factories.sample_response(qtype, self.seq), "client_time": time.time(),
                           "epoch": None})
        sitting = self.agent.world.sitting
        status, _, body = call(self.base + "/v1/events", "POST", {
            "attempt_id": self.attempt_id, "token": self.agent.world.tokens[self.attempt_id], "events": events,
            "meta": {"exam_id": sitting.exam_id, "session_id": sitting.session_id}},
            headers={"Origin": self.origin, "X-Kiosk-Token": self.token})
        assert status == 200, body
        assert body["journaled"] == [e["seq"] for e in events]
        return body

    def state(self) -> dict:
        status, _, body = call(f"{self.base}/v1/attempts/{self.attempt_id}",
                               headers={"Origin": self.origin, "X-Kiosk-Token": self.token})
        assert status == 200, body
        return body

    def wait_synced(self, timeout: float = 30.0) -> dict:
        return wait_until(lambda: (s := self.state())["server"].get(self.writer) == self.seq and s,
                          f"server to hold seq {self.seq}", timeout)
