"""Group commit: durable writes batched into one transaction, run off the gevent loop.

Why this exists
---------------
An autosave is acknowledged only once it is on disk (DESIGN "Answers are events"). Two
facts shape how that is done:

* Python's ``sqlite3`` holds the whole gevent loop while it waits for SQLite's write lock
  or for an ``fsync``: one commit per save run on the loop would stall every other request
  of the process for the length of each fsync (1.6-3.5 ms on a consumer SSD, issue 3).
* A commit costs one fsync however many rows it carries, so one commit per save caps the
  process near 300-600 saves/s, while one commit per *batch* scales with the batch.

So durable writes go through one committer per process and database. Callers (greenlets
under ``exambridge serve``, plain threads under the threaded werkzeug test server) hand in
a unit of work ``fn(session, *args)`` and wait cooperatively for its result. The committer
takes everything pending (at most ``max_batch`` jobs, optionally collecting for
``collect_seconds`` more), runs the jobs one after the other in ONE transaction on a worker
OS thread, commits once and then resolves each job. While a batch commits, new jobs queue
up and form the next batch: under load batches grow by themselves, idle a job waits for
one commit only.

Each job runs inside its own SAVEPOINT: a job that raises rolls back only its own writes and
its caller gets its exception, while the rest of the batch commits. A job that must leave a
record of its refusal (an answer conflict is logged for audit) raises an exception with the
attribute ``keep_writes = True``: its savepoint is kept and the caller still gets the error.
A job whose statement failed on a transient database error (a PostgreSQL deadlock between
two workers' batches, a lock timeout) is run once more on its own after the batch.
If the commit itself fails, no job of the batch is acknowledged: every caller gets the error.

Durability settings live on the writer's own engine: SQLite ``BEGIN IMMEDIATE`` (take the
write lock at the start, never fail half-way on an upgrade) with ``synchronous=FULL`` (the
WAL is fsynced at every commit, so an ack survives a power cut); PostgreSQL
``synchronous_commit=on``. Jobs get a plain ``Session`` on that engine; they must return
plain values (not ORM objects, which would outlive their session on another thread).

Under gevent (``gevent.monkey.is_module_patched("socket")``) the committer is a greenlet.
On SQLite each whole batch (BEGIN IMMEDIATE, the jobs, COMMIT) runs on a dedicated
``gevent.threadpool.ThreadPool(1)``, so the loop keeps serving while SQLite waits for the
lock or the disk. Running only BEGIN and COMMIT there and the jobs on the loop was tried
and measured worse: other code still writes SQLite from the loop (the score outbox), and
a loop-side write waiting for the lock that the batch holds blocks the very loop the batch
needs to finish, for the whole busy timeout (10 s stalls). On PostgreSQL the batch runs on
the committer greenlet: psycopg yields to gevent while it waits. Without gevent the
committer is a plain thread and runs the batches itself.

``get_writer(app)`` gives the app's writer, started on first use and stopped at exit (or by
``stop_writer(app)``); ``stop()`` lets the jobs already queued finish first.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import weakref
from contextlib import nullcontext
from typing import Any, Callable, Sequence

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bridge.db import WriterTransaction  # the contract with the answer store

log = logging.getLogger(__name__)

EXTENSION_KEY = "exambridge.writer"
MAX_BATCH = 500
#: Extra time the committer waits for more jobs after the first one; 0 = take what is queued.
COLLECT_SECONDS = 0.0
#: The interpreter's switch interval while a SQLite worker thread is in use (seconds).
SWITCH_INTERVAL = 0.001

_create_lock = threading.Lock()


class WriterStopped(RuntimeError):
    """The writer was stopped (the process is shutting down): nothing was written."""


def gevent_active() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return monkey.is_module_patched("socket")


# --- the engine -------------------------------------------------------------------------
def make_engine(url: str) -> Engine:
    """An engine for durable writes: SQLite BEGIN IMMEDIATE + synchronous=FULL, PostgreSQL
    synchronous_commit=on."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, pool_size=1, max_overflow=0,
                               connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _durable(dbapi_connection, record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=FULL")  # after bridge.db's NORMAL default
            cursor.close()

        @event.listens_for(engine, "begin")
        def _immediate(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No pre-ping: it would cost a round trip per batch. A connection the server dropped fails
    # its batch with a disconnect error, SQLAlchemy replaces it, and the jobs run again alone.
    # The driver runs in autocommit and the transaction is ours (WriterTransaction), so the first statement
    # of a batch can carry its BEGIN in the same round trip (answer_store's load); psycopg on its
    # own sends BEGIN alone, a round trip that waits a turn of the gevent loop.
    engine = create_engine(url, pool_size=2, max_overflow=0, isolation_level="AUTOCOMMIT")

    @event.listens_for(engine, "connect")
    def _sync_commit(dbapi_connection, record):
        WriterTransaction(record).forget()  # the pool entry shares its info with the connection
        cursor = dbapi_connection.cursor()
        cursor.execute("SET synchronous_commit = on")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _deferred_begin(conn):
        WriterTransaction(conn).begin()

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_first(conn, cursor, statement, parameters, context, executemany):
        if WriterTransaction(conn).claim_begin():
            try:
                cursor.execute("BEGIN")
            except Exception as exc:  # sent past SQLAlchemy: tell it when the connection died
                import psycopg

                if isinstance(exc, psycopg.OperationalError):
                    conn.invalidate(exc)
                raise

    @event.listens_for(engine, "commit")
    def _commit(conn):
        if WriterTransaction(conn).end():
            conn.connection.driver_connection.execute("COMMIT")

    @event.listens_for(engine, "rollback")
    def _rollback(conn):
        if conn.invalidated:  # the connection is gone, and its transaction with it
            return
        if WriterTransaction(conn).end():
            try:
                conn.connection.driver_connection.execute("ROLLBACK")
            except Exception:  # a dropped connection: SQLAlchemy invalidates it anyway
                log.warning("ROLLBACK failed on the writer's connection", exc_info=True)

    return engine




class WriterStats:
    """Batch sizes and durations (BEGIN to COMMIT, fsync included), logged when the writer
    stops: where autosave latency goes when the disk or the worker thread is slow."""

    def __init__(self):
        self.batches = 0
        self.jobs = 0
        self.seconds = 0.0
        self.slowest = 0.0
        self.over_10ms = 0

    def add(self, jobs: int, seconds: float) -> None:
        self.batches += 1
        self.jobs += jobs
        self.seconds += seconds
        self.slowest = max(self.slowest, seconds)
        self.over_10ms += seconds > 0.010

    def summary(self) -> str:
        return (f"{self.batches} batches, {self.jobs} jobs ({self.jobs / max(self.batches, 1):.1f} a batch), "
                f"{self.seconds / max(self.batches, 1) * 1000:.2f} ms a batch on average, slowest "
                f"{self.slowest * 1000:.1f} ms, {self.over_10ms} over 10 ms")


# --- jobs -------------------------------------------------------------------------------
class _Job:
    __slots__ = ("fn", "args", "value", "error", "waiter", "grouped")

    def __init__(self, fn: Callable, args: tuple, waiter, grouped: bool = False):
        self.fn = fn
        self.args = args
        self.value: Any = None
        self.error: BaseException | None = None
        self.waiter = waiter
        self.grouped = grouped  # fn takes (session, [args of each job of a run]) -> results


class _GroupFailed(Exception):
    """A grouped run raised: the transaction is rolled back and every job runs again alone."""


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" not in str(exc)


class GroupWriter:
    """One committer for one database. See the module docstring."""

    def __init__(self, database_url: str, *, max_batch: int = MAX_BATCH,
                 collect_seconds: float = COLLECT_SECONDS):
        self.engine = make_engine(database_url)
        self.max_batch = max_batch
        self.collect_seconds = collect_seconds
        self.batches = 0  # committed batches, for tests and the benchmark
        self.stats = WriterStats()
        self._stopped = False
        self._gevent = gevent_active()
        # Under gevent, SQLite batches run on the worker thread; psycopg yields to gevent itself.
        self._offload = self._gevent and self.engine.dialect.name == "sqlite"
        if self._offload and sys.getswitchinterval() > SWITCH_INTERVAL:
            # The worker thread re-takes the GIL after each SQLite step; while the loop is busy
            # it waits up to the switch interval each time (5 ms by default, several per batch).
            sys.setswitchinterval(SWITCH_INTERVAL)
        if self._gevent:
            import gevent
            from gevent.queue import Queue
            from gevent.threadpool import ThreadPool

            self._queue = Queue()
            self._pool = ThreadPool(1)
            self._committer = gevent.spawn(self._loop)
        else:
            import queue

            self._queue = queue.Queue()
            self._pool = None
            self._committer = threading.Thread(target=self._loop, name="exambridge-writer", daemon=True)
            self._committer.start()

    # -- callers --
    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(session, *args)`` in the next batch; return its result once committed,
        or raise its exception."""
        outcome = self.submit_many([(fn, args)])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def submit_many(self, calls: Sequence[tuple[Callable[..., Any], tuple]]) -> list[Any]:
        """Queue several jobs at once (they share a batch); return, in order, each job's
        result or the exception it raised (not raised here)."""
        return self._run_jobs([(fn, tuple(args), False) for fn, args in calls])

    def submit_grouped(self, batch_fn: Callable[..., list], items: Sequence[Any]) -> list[Any]:
        """Queue one job per item for ``batch_fn(session, items) -> [result or exception per
        item]``. Consecutive grouped jobs of the same ``batch_fn`` in a batch (from every
        caller) run as ONE call without savepoints, so ``batch_fn`` must write nothing for an
        item it answers with an exception (other than a record it means to keep) and raise
        only when the whole call failed: then the batch is rolled back and each job runs
        again alone. Returns, in order, each item's result or exception (not raised here)."""
        return self._run_jobs([(batch_fn, (item,), True) for item in items])

    def _run_jobs(self, specs: list[tuple[Callable[..., Any], tuple, bool]]) -> list[Any]:
        if self._stopped:
            raise WriterStopped("The server is shutting down; nothing was saved. Send it again.")
        jobs = [_Job(fn, args, self._new_waiter(), grouped=grouped) for fn, args, grouped in specs]
        for job in jobs:
            self._queue.put(job)
        for job in jobs:
            self._wait(job)
        return [job.error if job.error is not None else job.value for job in jobs]

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the jobs already queued, then stop the committer and close the engine."""
        if self._stopped:
            return
        self._stopped = True
        self._queue.put(None)
        try:
            self._committer.join(timeout=timeout)
        except Exception:  # pragma: no cover - a dead hub at interpreter exit
            pass
        if self._pool is not None:
            self._pool.kill()
        self.engine.dispose()
        if self.stats.batches:
            log.info("writer: %s", self.stats.summary())

    # -- waiting, per mode --
    def _new_waiter(self):
        if self._gevent:
            from gevent.event import Event

            return Event()
        return threading.Event()

    def _wait(self, job: _Job) -> None:
        job.waiter.wait()

    # -- the committer --
    def _take_batch(self) -> list[_Job] | None:
        """Block for one job, then take what else is queued (up to ``max_batch``), waiting
        at most ``collect_seconds`` for more. None: stop."""
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self.collect_seconds
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = self._queue.get(block=remaining > 0, timeout=max(remaining, 0) or None)
            except Exception:  # queue.Empty or gevent.queue.Empty: the batch is complete
                break
            if job is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(job)
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            started = time.perf_counter()
            try:
                if self._offload:
                    self._pool.apply(self._run_batch, (batch,))
                else:
                    self._run_batch(batch)
            except BaseException as exc:  # the worker thread itself failed: nothing is acked
                log.exception("the writer's worker failed")
                for job in batch:
                    job.value, job.error = None, exc
            self.stats.add(len(batch), time.perf_counter() - started)
            for job in batch:
                job.waiter.set()

    def _run_batch(self, batch: list[_Job]) -> None:
        """All jobs in one transaction (a SAVEPOINT per ungrouped job, one call per run of
        grouped jobs); then the transient failures again, each alone. If a grouped run
        failed as a whole, every job of the batch runs again alone."""
        retry: list[_Job] = []
        try:
            self._transaction(batch, retry)
        except _GroupFailed:
            log.warning("a grouped run of the batch failed; running its %d job(s) one by one", len(batch))
            retry = batch
        except BaseException as exc:
            log.exception("group commit of %d job(s) failed; none is acknowledged", len(batch))
            for job in batch:
                job.value, job.error = None, exc
            return
        for job in retry:
            job.value, job.error = None, None
            try:
                self._transaction([job], None)
            except _GroupFailed as failed:
                job.error = failed.__cause__ or failed
            except BaseException as exc:
                job.value, job.error = None, exc

    def _transaction(self, jobs: list[_Job], retry: list[_Job] | None) -> None:
        with Session(self.engine, expire_on_commit=False, autoflush=True) as session:
            try:
                session.connection()  # SQLite: BEGIN IMMEDIATE waits for the write lock here
                index = 0
                while index < len(jobs):
                    job = jobs[index]
                    if job.grouped:
                        end = index + 1
                        while end < len(jobs) and jobs[end].grouped and jobs[end].fn is job.fn:
                            end += 1
                        self._run_group(session, jobs[index:end], last=end == len(jobs))
                        index = end
                        continue
                    self._run_job(session, job)
                    if retry is not None and job.error is not None and _transient(job.error):
                        retry.append(job)
                    index += 1
                session.commit()  # the fsync
            except BaseException:
                session.rollback()
                raise
        self.batches += 1

    @staticmethod
    def _run_group(session: Session, run: list[_Job], *, last: bool) -> None:
        # nothing of this batch follows the last run: its last write may carry the COMMIT (PostgreSQL)
        tx = WriterTransaction(session.connection())
        try:
            with tx.last_write() if last else nullcontext():
                results = run[0].fn(session, [job.args[0] for job in run])
        except Exception as exc:
            raise _GroupFailed(f"{run[0].fn.__name__} failed") from exc
        for job, result in zip(run, results):
            if isinstance(result, BaseException):
                job.value, job.error = None, result
            else:
                job.value, job.error = result, None

    @staticmethod
    def _run_job(session: Session, job: _Job) -> None:
        savepoint = session.begin_nested()
        try:
            job.value = job.fn(session, *job.args)
            savepoint.commit()
        except Exception as exc:
            job.error = exc
            if getattr(exc, "keep_writes", False) and savepoint.is_active:
                savepoint.commit()
            elif savepoint.is_active:
                savepoint.rollback()


# --- one writer per app -----------------------------------------------------------------
def get_writer(app) -> GroupWriter:
    """The app's writer, started on first use (one per app and process)."""
    app = app._get_current_object() if hasattr(app, "_get_current_object") else app  # current_app
    writer = app.extensions.get(EXTENSION_KEY)
    if writer is not None and not writer._stopped:
        return writer
    with _create_lock:
        writer = app.extensions.get(EXTENSION_KEY)
        if writer is None or writer._stopped:
            writer = GroupWriter(app.config["SQLALCHEMY_DATABASE_URI"])
            app.extensions[EXTENSION_KEY] = writer
            weakref.finalize(app, writer.stop)  # also runs at interpreter exit
    return writer


def stop_writer(app) -> None:
    writer = app.extensions.pop(EXTENSION_KEY, None)
    if writer is not None:
        writer.stop()


def ping(session: Session) -> int:
    """A job that writes nothing: ``get_writer(app).submit(ping)`` checks the path."""
    return session.execute(text("SELECT 1")).scalar_one()
