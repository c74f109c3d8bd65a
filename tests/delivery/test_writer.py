"""The group writer: batches really share commits, one failing job fails alone, durable
settings on each backend, a clean stop. The gevent path is exercised in a real gevent
process (the tests themselves are not monkey-patched)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
from sqlalchemy import event, select, text

from bridge.models.attempts import AttemptLog
from bridge.runtime.writer import GroupWriter, WriterStopped

pytestmark = pytest.mark.req("C5", "C7")


@pytest.fixture
def own_writer(app):
    """A writer that collects for 200 ms, so threads released together share batches."""
    made = []

    def make(**kw):
        w = GroupWriter(app.config["SQLALCHEMY_DATABASE_URI"], **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


def count_commits(engine) -> list[int]:
    commits = [0]

    @event.listens_for(engine, "commit")
    def _count(conn):
        commits[0] += 1

    return commits


def log_line(session, attempt_id: int, action: str) -> int:
    session.add(AttemptLog(attempt_id=attempt_id, action=action))
    session.flush()
    return attempt_id


def fail(session, message: str):
    session.add(AttemptLog(attempt_id=-1, action="never"))  # would break the batch if kept
    raise ValueError(message)


def actions(db_session, attempt_id):
    db_session.rollback()
    return sorted(db_session.scalars(select(AttemptLog.action).where(AttemptLog.attempt_id == attempt_id)))


def test_concurrent_jobs_share_commits(own_writer, db_session, attempt_id):
    writer = own_writer(collect_seconds=0.2)
    commits = count_commits(writer.engine)
    barrier = threading.Barrier(50)
    results = []

    def go(i):
        barrier.wait(timeout=30)
        results.append(writer.submit(log_line, attempt_id, f"job-{i:02d}"))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [attempt_id] * 50
    assert actions(db_session, attempt_id) == [f"job-{i:02d}" for i in range(50)]
    assert 1 <= commits[0] < 50, f"{commits[0]} commits for 50 jobs"
    assert writer.batches == commits[0]


def test_one_failing_job_does_not_fail_the_batch(writer, db_session, attempt_id):
    commits = count_commits(writer.engine)
    outcomes = writer.submit_many([(log_line, (attempt_id, "before")), (fail, ("boom",)),
                                   (log_line, (attempt_id, "after"))])
    assert outcomes[0] == attempt_id and outcomes[2] == attempt_id
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "boom"
    assert commits[0] == 1  # one batch, one commit
    assert actions(db_session, attempt_id) == ["after", "before"]
    with pytest.raises(ValueError, match="boom"):
        writer.submit(fail, "boom")


def test_a_job_can_keep_the_record_of_its_refusal(writer, db_session, attempt_id):
    class Refused(Exception):
        keep_writes = True

    def refuse(session):
        log_line(session, attempt_id, "refusal recorded")
        raise Refused("no")

    with pytest.raises(Refused):
        writer.submit(refuse)
    assert actions(db_session, attempt_id) == ["refusal recorded"]


def test_writes_are_durable_on_each_backend(writer, backend):
    def settings(session):
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            return (conn.exec_driver_sql("PRAGMA synchronous").scalar(),
                    conn.exec_driver_sql("PRAGMA journal_mode").scalar(), conn.connection.in_transaction)
        return conn.exec_driver_sql("SHOW synchronous_commit").scalar()

    got = writer.submit(settings)
    if backend.name == "sqlite":
        assert got == (2, "wal", True)  # FULL; BEGIN IMMEDIATE opened a transaction before any write
    else:
        assert got == "on"


def test_stop_finishes_queued_jobs_then_refuses(own_writer, db_session, attempt_id):
    writer = own_writer()
    assert writer.submit(log_line, attempt_id, "last") == attempt_id
    writer.stop()
    with pytest.raises(WriterStopped):
        writer.submit(log_line, attempt_id, "too late")
    assert actions(db_session, attempt_id) == ["last"]


GEVENT_SCRIPT = textwrap.dedent("""
    import sys, time
    from gevent import monkey; monkey.patch_all()
    import gevent
    from sqlalchemy import text
    from bridge.runtime.writer import GroupWriter, gevent_active

    assert gevent_active()
    writer = GroupWriter(sys.argv[1])
    writer.submit(lambda s: s.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)")))
    ticks = []
    def ticker():
        while True:
            ticks.append(time.monotonic()); gevent.sleep(0.001)
    tick = gevent.spawn(ticker)
    jobs = [gevent.spawn(writer.submit, lambda s, i=i: s.execute(text("INSERT INTO t VALUES (:n)"), {"n": i}) and i)
            for i in range(300)]
    gevent.joinall(jobs, raise_error=True)
    tick.kill()
    count = writer.submit(lambda s: s.execute(text("SELECT count(*) FROM t")).scalar())
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print(count, writer.batches, len(ticks), max(gaps))
    writer.stop()
""")


def test_under_gevent_greenlets_share_batches_and_the_loop_keeps_running(tmp_path):
    """300 greenlets save at once: every row is stored in far fewer commits, and a ticker
    greenlet keeps ticking while the worker thread waits for the disk."""
    script = tmp_path / "gevent_writer.py"
    script.write_text(GEVENT_SCRIPT)
    done = subprocess.run([sys.executable, str(script), f"sqlite:///{tmp_path / 'w.db'}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    count, batches, ticks, _max_gap = done.stdout.split()
    assert int(count) == 300
    assert int(batches) < 301 // 2
    assert int(ticks) > 1
