"""SIGKILL durability: a real ``exambridge serve`` process (gevent, group commit) is killed
with SIGKILL in the middle of a stream of saves; restarted on the same database, it has every
save it acknowledged, and each item's current answer is the newest stored one."""
from __future__ import annotations

import signal
import threading
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bridge.models.attempts import AnswerEvent
from bridge.services.delivery import answers
from tests.delivery import factories
from tests.fixtures.apps import BACKENDS, _pg_exec, _pg_url
from tests.test_serve import Bridge, clean_env

pytestmark = pytest.mark.req("C5", "C7")

CANDIDATES = 4
KILL_AFTER_ACKS = 150


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        (tmp_path / "instance").mkdir()
        yield f"sqlite:///{tmp_path / 'instance' / 'exambridge.db'}"
        return
    name = f"eb_kill_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(tmp_path: Path, url: str, secret: str):
    """Migrate and seed the database before the server starts; sign each candidate in."""
    from bridge import create_app
    from bridge.extensions import db
    from bridge.migrate import upgrade

    upgrade(url)
    app = create_app({"ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": url,
                      "SECRET_KEY": secret})
    with app.app_context():
        sitting = factories.make_sitting(db.session)
        rows = factories.make_attempts(db.session, sitting, CANDIDATES)
        db.session.commit()
        cookies = [(attempt_id, *factories.session_cookie(app, user_id)) for attempt_id, user_id in rows]
        db.engine.dispose()
    return sitting, cookies


class Saver(threading.Thread):
    """One candidate saving as fast as acks come back, until the connection dies."""

    def __init__(self, base: str, attempt_id: int, cookie: str, csrf: str, questions, acked: list):
        super().__init__(daemon=True)
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers.update({"Cookie": f"{factories.SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf})
        self.url = f"{base}/api/attempts/{attempt_id}/answers"
        self.attempt_id, self.questions, self.acked = attempt_id, questions, acked
        self.stop = threading.Event()

    def run(self):
        seq = 0
        while not self.stop.is_set():
            seq += 1
            q, qtype = self.questions[seq % len(self.questions)]
            response = factories.sample_response(qtype, seq)
            event = {"writer": "tab", "seq": seq, "question_id": q, "response": response,
                     "client_time": None, "epoch": None}
            try:
                r = self.http.post(self.url, json={"events": [event]}, timeout=10)
                ack = r.json()["acks"][0]
            except Exception:
                return  # the server died: this save is unacknowledged
            assert r.status_code == 200 and "head" in ack, r.text
            self.acked.append((self.attempt_id, seq, q, response, ack["head"]))


def test_sigkill_loses_no_acknowledged_save(tmp_path, database_url):
    secret = uuid.uuid4().hex * 2
    sitting, cookies = seed(tmp_path, database_url, secret)
    env = clean_env(tmp_path / "instance", DATABASE_URL=database_url, SECRET_KEY=secret)
    bridge = Bridge(tmp_path, env, "first").wait_ready()
    acked: list = []
    savers = [Saver(bridge.url, a, c, t, sitting.questions, acked) for a, c, t in cookies]
    try:
        for s in savers:
            s.start()
        bridge.wait_for(lambda: len(acked) >= KILL_AFTER_ACKS, f"{KILL_AFTER_ACKS} acks")
        bridge.popen.send_signal(signal.SIGKILL)  # mid-stream: saves are in flight
        assert bridge.popen.wait(timeout=30) == -signal.SIGKILL
        for s in savers:
            s.stop.set()
            s.join(timeout=30)
    finally:
        bridge.close()
    acknowledged = list(acked)
    assert len(acknowledged) >= KILL_AFTER_ACKS

    restarted = Bridge(tmp_path, env, "second").wait_ready()
    try:
        engine = create_engine(database_url)
        with Session(engine) as session:
            stored = {(e.attempt_id, e.seq): e for e in session.scalars(select(AnswerEvent))}
            currents = {a: answers.current_answers(session, a) for a, _c, _t in cookies}
        engine.dispose()
        lost = [(a, seq) for a, seq, q, response, head in acknowledged
                if (a, seq) not in stored or stored[a, seq].hash != head or stored[a, seq].response != response]
        assert not lost, f"{len(lost)} acknowledged saves lost: {lost[:5]}"
        for attempt_id, current in currents.items():  # newest stored event per item is current
            for q, _qtype in sitting.questions:
                newest = max((e for e in stored.values() if e.attempt_id == attempt_id and e.question_id == q),
                             key=lambda e: e.seq, default=None)
                assert current.get(q) == (newest.response if newest else None)
        # the restarted server carries on where the candidate was
        attempt_id, cookie, csrf = cookies[0]
        http = requests.Session()
        http.trust_env = False
        http.headers.update({"Cookie": f"{factories.SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf})
        state = http.get(f"{restarted.url}/api/attempts/{attempt_id}/state", timeout=10).json()
        assert state["answers"] == {str(q): r for q, r in currents[attempt_id].items()}
        next_seq = state["writers"]["tab"]["max_seq"] + 1
        q, qtype = sitting.questions[0]
        r = http.post(f"{restarted.url}/api/attempts/{attempt_id}/answers", timeout=10, json={"events": [
            {"writer": "tab", "seq": next_seq, "question_id": q, "response": factories.sample_response(qtype, 0),
             "client_time": None, "epoch": None}]})
        assert r.status_code == 200 and not r.json()["acks"][0]["duplicate"]
        assert restarted.stop() == 0
    finally:
        restarted.close()
    assert "Traceback" not in restarted.stderr
