"""The score outbox (L5) under concurrency: a claimed row is leased, so a crashed delivery is
picked up after its lease and its late result changes nothing; a row superseded while on the
wire is recorded truthfully; two workers never send the same row, and a claim passes over a
row another transaction has locked (PostgreSQL). The background sender wakes when kicked,
survives errors, and runs as a greenlet under gevent.

The LMS is a FakeMoodle on a real socket; time moves with ``clock.set_offset``, never sleep.
Publishing and delivering one run at a time: test_outbox.py.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from lms_plugin.models import ScoreOutbox
from lms_plugin.services import ags, outbox
from tests.lti.factories import candidate
from tests.lti.outbox_helpers import advance, publish, rows

pytestmark = pytest.mark.req("L5")


# --- claims and leases --------------------------------------------------------------------------
def test_a_crashed_delivery_is_picked_up_after_its_lease(app, db_session, setup, moodle):
    from bridge.extensions import db
    from sqlalchemy.orm import sessionmaker

    exam, sam, _ = setup
    publish(db_session, exam, sam, 6)
    make_session = sessionmaker(bind=db.engine)
    job = outbox._claim(make_session, lease_seconds=120, timeout=5, skip_platforms=set())
    assert job is not None  # …and the worker dies here, before calling the LMS

    assert outbox.deliver_due(app) == outbox.DeliveryResult(0, 0, 0)  # leased: not due
    advance(121)
    assert outbox.deliver_due(app).sent == 1
    # the dead worker's late result must not overwrite what the new owner recorded
    late = outbox._record(make_session, job, outbox._Outcome(None, None), max_backoff=900)
    assert late == "lost"
    assert moodle.score_posts == {"5": 1}


def test_a_row_in_flight_when_superseded_is_recorded_truthfully(app, db_session, setup, moodle):
    from bridge.extensions import db
    from sqlalchemy.orm import sessionmaker

    exam, sam, _ = setup
    old = publish(db_session, exam, sam, 6)
    make_session = sessionmaker(bind=db.engine)
    job = outbox._claim(make_session, lease_seconds=120, timeout=5, skip_platforms=set())
    publish(db_session, exam, sam, 9)  # arrives while 6 is on the wire
    outcome = outbox._deliver(job, outbox._ensure_lineitem)
    assert outbox._record(make_session, job, outcome, max_backoff=900) == "sent"
    assert outbox.deliver_due(app).sent == 1
    states = {r.id: r.status for r in rows(db_session, exam)}
    assert states[old.id] == "sent" and sorted(states.values()) == ["sent", "sent"]
    assert [s["scoreGiven"] for s in moodle.scores] == [6, 9]  # LMS keeps the newest timestamp


def test_two_workers_never_send_the_same_row(app, db_session, setup, moodle):
    exam, sam, sue = setup
    course = exam.course
    people = [sam, sue] + [candidate(db_session, course, str(100 + i)) for i in range(10)]
    db_session.commit()
    ags.find_or_create_lineitem(db_session, exam)  # so the workers race on scores only
    db_session.commit()
    for i, user in enumerate(people):
        publish(db_session, exam, user, i % 10)

    # The first two score POSTs wait for each other: both workers hold a claimed row at once.
    both_in_flight = threading.Barrier(2, timeout=20)
    first_two = iter(range(2))
    moodle.on_score = lambda score: both_in_flight.wait() if next(first_two, None) is not None else None
    results, errors = [], []

    def worker():
        try:
            results.append(outbox.deliver_due(app))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and not both_in_flight.broken
    assert sorted(r.sent for r in results)[0] >= 1  # both worked
    assert sum(r.sent for r in results) == len(people)
    assert sorted(moodle.score_posts.values()) == [1] * len(people)
    assert all(r.status == "sent" for r in rows(db_session, exam))


def test_claims_skip_rows_another_worker_has_locked(app, db_session, setup):
    """PostgreSQL: a claim passes over a row locked by another transaction instead of waiting."""
    from bridge.extensions import db
    from sqlalchemy.orm import sessionmaker

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has a single writer")
    exam, sam, sue = setup
    first = publish(db_session, exam, sam, 5)
    second = publish(db_session, exam, sue, 6)
    make_session = sessionmaker(bind=db.engine)
    with make_session() as other, other.begin():
        other.execute(select(ScoreOutbox).where(ScoreOutbox.id == first.id).with_for_update())
        job = outbox._claim(make_session, lease_seconds=60, timeout=5, skip_platforms=set())
        assert job.row_id == second.id
        assert outbox._claim(make_session, lease_seconds=60, timeout=5, skip_platforms=set()) is None


# --- the background sender -------------------------------------------------------------------------
def wait_until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)  # polling a condition, not waiting for time to pass
    return False


def test_worker_sends_when_kicked_and_survives_errors(app, db_session, setup, moodle, monkeypatch):
    exam, sam, _ = setup
    app.config["EXAMBRIDGE_OUTBOX_POLL_SECONDS"] = 3600  # only a kick can wake it in time
    real = outbox.deliver_due
    runs = []

    def flaky(app_, **kw):
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database went away")
        return real(app_, **kw)

    monkeypatch.setattr(outbox, "deliver_due", flaky)
    stop = outbox.start_worker(app)
    try:
        assert wait_until(lambda: len(runs) >= 1)
        publish(db_session, exam, sam, 7)
        outbox.kick()
        assert wait_until(lambda: moodle.score_posts.get("5") == 1)
    finally:
        stop()
    assert len(runs) >= 2  # the first run raised; the loop went on
    assert rows(db_session, exam)[0].status == "sent"


GEVENT_WORKER = """
from gevent import monkey; monkey.patch_all()
import json, sys, time
import gevent
from bridge import create_app
from lms_plugin.services import outbox
from lms_plugin.models import ScoreOutbox
from bridge.extensions import db

app = create_app(json.loads(sys.argv[1]))
assert outbox._gevent_active()
stop = outbox.start_worker(app)
deadline = time.monotonic() + 30
status = None
while time.monotonic() < deadline:
    with app.app_context():
        status = db.session.get(ScoreOutbox, int(sys.argv[2])).status
        db.session.remove()
    if status == "sent":
        break
    gevent.sleep(0.05)
stop()
print(status)
"""


def test_worker_runs_as_a_greenlet_under_gevent(app, db_session, setup, moodle):
    """A separate process, patched by gevent like ``exambridge serve``: the sender is a
    greenlet there, and it delivers."""
    import json
    import subprocess
    import sys

    exam, sam, _ = setup
    row = publish(db_session, exam, sam, 3)
    config = {"ENV": "testing", "INSTANCE_PATH": app.instance_path, "SECRET_KEY": app.config["SECRET_KEY"],
              "DATABASE_URL": app.config["TEST_DATABASE_URL"], "OUTBOX_POLL_SECONDS": 0.2}
    proc = subprocess.run([sys.executable, "-c", GEVENT_WORKER, json.dumps(config), str(row.id)],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "sent"
    assert moodle.score_posts == {"5": 1}
