"""Running the bridge: ``exambridge serve`` (one gevent process) and ``exambridge demo``.

The process has been monkey-patched by ``bridge.entry`` before this module is imported.
Start-up refusals raise ``ConfigError`` (the CLI prints the message and exits 1, no
traceback): a second process on the same SQLite file, a production database whose
migrations are behind, a port already taken.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from bridge.errors import ConfigError

log = logging.getLogger(__name__)

#: Seconds requests in progress get to finish after SIGTERM/SIGINT; then every connection
#: still open (idle keep-alive, WebSocket, a request that overran) is closed.
SHUTDOWN_GRACE_SECONDS = 5.0


# --- start-up checks ------------------------------------------------------------------
def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None (PostgreSQL, in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


class InstanceLock:
    """An exclusive ``fcntl.flock`` on ``<db file>.lock``, held for the life of the process.

    SQLite is served by one process (DESIGN: one writer thread per database); a second
    ``serve`` on the same file is refused, naming the holder's pid. The kernel drops the
    lock when the process dies, so a crash never leaves a stale lock behind."""

    def __init__(self, db_file: Path):
        self.path = db_file.with_name(db_file.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> "InstanceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            db_file = self.path.with_suffix("")
            raise ConfigError(
                f"Another ExamBridge process (pid {holder}) is already serving {db_file}. "
                "SQLite is served by one process only: stop that one first, or give this one "
                "its own EXAMBRIDGE_INSTANCE_PATH (or a PostgreSQL EXAMBRIDGE_DATABASE_URL)."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def lock_sqlite(app) -> InstanceLock | None:
    path = sqlite_path(app.config["SQLALCHEMY_DATABASE_URI"])
    return InstanceLock(path).acquire() if path else None


def prepare_database(app, *, upgrade: bool) -> str | None:
    """Bring the schema to head (``upgrade=True``), or refuse to run on an old schema.

    Returns the head revision. Production never migrates on start: the operator runs
    ``exambridge db upgrade`` once, before starting the new version on every worker."""
    from sqlalchemy.exc import OperationalError

    from bridge import migrate
    from bridge.extensions import db

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        if upgrade:
            migrate.upgrade(url, secret_key=app.config["SECRET_KEY"])
        with app.app_context():
            try:
                current, head = migrate.current_and_head(db.engine)
            finally:
                db.engine.dispose()
    except OperationalError as exc:  # server down, bad credentials, unwritable file
        raise ConfigError(f"Cannot open the database {_safe_url(url)}: "
                          f"{str(exc.orig or exc).strip()}") from None
    if current != head:
        raise ConfigError(
            f"The database schema is at revision {current or '(empty)'}, this version needs "
            f"{head}: run `exambridge db upgrade` first.")
    from lms_plugin.services import tool_keys

    with app.app_context():
        kid = tool_keys.ensure(db.engine)  # the first start makes the tool's signing key
        db.engine.dispose()
    log.info("tool signing key %s", kid)
    log.info("database schema at head (%s)%s", head, ", upgraded on start" if upgrade else "")
    return head


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's open-file soft limit to its hard limit and return (soft, hard).

    Every WebSocket holds a descriptor for the whole exam day, so the usual soft limit of
    1,024 stops a bridge near 1,000 kiosks with "Too many open files" (docs/operations.md,
    "Open files")."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    if soft < 4096:
        log.warning("open-file limit is %d: about %d kiosks at most; raise the hard limit "
                    "(docs/operations.md, \"Open files\")", soft, soft // 2 - 100)
    return soft, hard


def trim_memory() -> None:
    """Give the heap that start-up freed (migrations, imports) back to the OS (glibc only):
    a bridge holding thousands of sockets counts its resident memory."""
    import ctypes
    import gc

    gc.collect()
    gc.freeze()  # start-up objects live forever: keep them out of every later collection
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# --- background work ------------------------------------------------------------------
def start_background(app) -> list[Callable[[], None]]:
    """Start the process's background work; returns the ``stop()`` callables.

    The score outbox sender (L5) delivers queued scores to the LMS gradebook and retries
    with backoff; on PostgreSQL rows are claimed with SKIP LOCKED, so several workers never
    send the same score twice. The deadline sweeper submits attempts whose time is up
    (one sweeper at a time: a PostgreSQL advisory lock) and scores submitted attempts that
    a dead process left unscored (``bridge.runtime.scorer``)."""
    from bridge.runtime import periodic, scorer
    from bridge.services.delivery import scoring
    from bridge.services.registration import retention, review
    from bridge.extensions import transaction
    from bridge.services.delivery import attempts
    from lms_plugin.services.outbox import start_worker

    def sweep() -> None:
        with transaction() as session:
            attempts.sweep(session)
        with transaction() as session:
            scoring.score_left_over(session)
        with transaction() as session:
            review.lapse_unpaid(session)  # approvals unpaid past their window give their places back
        if time.monotonic() >= next_purge[0]:  # hourly: registrations kept past their retention
            next_purge[0] = time.monotonic() + 3600
            with transaction() as session:
                retention.purge(session, days=app.config["EXAMBRIDGE_REGISTRATION_RETENTION_DAYS"])

    next_purge = [0.0]

    stops = [start_worker(app), periodic.start(app, "deadline sweeper", sweep, every=5.0),
             lambda: scorer.stop_scorer(app)]
    log.info("score outbox sender and deadline sweeper started")
    return stops


def stop_background(stops: list[Callable[[], None]]) -> None:
    for stop in stops:
        try:
            stop()
        except Exception:
            log.exception("stopping background work failed")


# --- servers --------------------------------------------------------------------------
def bind(host: str, port: int, what: str = "the bridge"):
    """``bridge.runtime.server.listen`` with a clear message when the address is taken."""
    from bridge.runtime.server import listen

    try:
        return listen(host, port)
    except OSError as exc:
        raise ConfigError(f"Cannot listen on {host}:{port} for {what}: "
                          f"{exc.strerror or exc} (choose another --port).") from None


def url_for_socket(host: str, sock) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def write_port_file(path: str | os.PathLike, port: int) -> None:
    """Write the port atomically: a reader never sees an empty or partial file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{port}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class _InFlight:
    """WSGI middleware counting requests in progress, so shutdown can wait for them and
    still close idle keep-alive connections at once. WebSockets are not counted: they last
    as long as the peer stays, so shutdown closes them and kiosks and consoles reconnect."""

    def __init__(self, app: Callable):
        from gevent.event import Event

        self.app = app
        self.count = 0
        self.idle = Event()
        self.idle.set()

    def __call__(self, environ, start_response):
        from werkzeug.wsgi import ClosingIterator

        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            return self.app(environ, start_response)
        self.count += 1
        self.idle.clear()
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return ClosingIterator(result, [self._done])

    def _done(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self.idle.set()


def serve_many(servers: list, *, grace: float = SHUTDOWN_GRACE_SECONDS,
               on_ready: Callable[[], None] | None = None,
               on_stop: Callable[[], None] | None = None) -> None:
    """Run gevent WSGIServers in this process until SIGTERM or SIGINT, then stop cleanly:
    close the listening sockets, let requests in progress finish for up to ``grace``
    seconds, then close the remaining connections. Returns normally (exit code 0).

    ``on_ready`` runs once the signal handlers are in place and the servers accept: announce
    the process there (print, port file), so a signal sent on that cue stops it cleanly."""
    import gevent
    from gevent.event import Event
    from gevent.pool import Pool

    stop = Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        stop.set()

    watchers = [gevent.signal_handler(s, on_signal, s) for s in (signal.SIGTERM, signal.SIGINT)]
    trackers = []
    try:
        for server in servers:
            tracker = _InFlight(server.application)
            server.application = tracker
            trackers.append(tracker)
            if server.pool is None:  # a pool lets stop() find and close every connection
                server.set_spawn(Pool())
            if not server.started:
                server.start()
        if on_ready:
            on_ready()
        stop.wait()
        name = signal.Signals(received[0]).name if received else "stop"
        busy = sum(t.count for t in trackers)
        print(f"{name}: stopping; {busy} request(s) in progress get up to {grace:g} s",
              flush=True)
        if on_stop:
            on_stop()
        for server in servers:
            server.close()
        deadline = time.monotonic() + grace
        for tracker in trackers:
            tracker.idle.wait(timeout=max(0.0, deadline - time.monotonic()))
        for server in servers:
            server.pool.kill(block=True, timeout=1)
    finally:
        for watcher in watchers:
            watcher.cancel()


# --- commands -------------------------------------------------------------------------
def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
        # /readyz asks Alembic for the revision on every probe: keep that out of the log.
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _should_upgrade(app) -> bool:
    return app.config["EXAMBRIDGE_ENV"] != "production"


def run_bridge(app, *, host: str, port: int, port_file: str | None = None) -> None:
    """``exambridge serve``: one gevent process serving HTTP and WebSocket routes.

    Development and testing upgrade the database to head on start; production refuses to
    start on an old schema. SQLite is locked to this process. Prints
    ``ExamBridge listening on http://HOST:PORT`` and, with ``port_file``, writes the bound
    port there (atomically; removed again on a clean stop)."""
    from bridge.runtime.server import make_server

    _configure_logging()
    soft, _hard = raise_open_file_limit()
    log.info("open-file limit %d", soft)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    lock = lock_sqlite(app)
    try:
        prepare_database(app, upgrade=_should_upgrade(app))
        sock = bind(host, port)
        server = make_server(app, sock)
        policy = server.pending.policy
        log.info("connections still opening: request headers within %g s, kiosk handshakes within %g s, "
                 "at most %s per address and %s in all; idle keep-alive %g s", policy.header_seconds,
                 policy.handshake_seconds, policy.per_address or "any", policy.total or "any",
                 policy.keepalive_seconds)

        def announce() -> None:
            if port_file:
                write_port_file(port_file, sock.getsockname()[1])
            print(f"ExamBridge listening on {url_for_socket(host, sock)}", flush=True)

        handles = start_background(app)
        trim_memory()
        try:
            serve_many([server], on_ready=announce, on_stop=lambda: stop_background(handles))
        finally:
            if port_file:
                _remove_quietly(port_file)
        print("ExamBridge stopped", flush=True)
    finally:
        if lock:
            lock.release()


def run_demo(*, host: str, port: int, lms_port: int) -> None:
    """``exambridge demo`` (``make run``): the bridge and the sandbox LMS in one process.

    What this does today: builds the app with the sandbox enabled, locks and migrates the
    SQLite database in ``instance/``, serves the bridge on ``host:port`` and the sandbox LMS
    (``lms_plugin.sandbox``, state in ``instance/sandbox.json``) on ``localhost:lms_port``
    (bound to 127.0.0.1; the URL says ``localhost`` so the launch really crosses sites),
    prints both addresses and runs until Ctrl-C.

    On every start ``bridge.demo.wire`` registers the two with each other (idempotently),
    places an ExamBridge activity in the sandbox course, and makes a demo administrator;
    the addresses and logins are printed. It also starts the simulated room ``DEMO``: a few
    real kiosk agent processes (``bridge.demo.start_kiosks``) that stop with the demo.
    """
    from bridge import create_app
    from bridge.runtime.server import make_server
    from lms_plugin.sandbox import create_sandbox_app

    _configure_logging()
    from bridge.config import SANDBOX_PAYMENTS

    # the sandbox LMS listens on loopback: a registration from its admin page may reach it there;
    # fees go to a sandbox payment provider (Alipay's, unless the environment names WeChat Pay's)
    chosen = os.environ.get("EXAMBRIDGE_PAYMENT_PROVIDER", "")
    app = create_app({"SANDBOX_ENABLED": True, "REGISTRATION_ALLOW_NETWORKS": "127.0.0.0/8 ::1/128",
                      "PAYMENT_PROVIDER": chosen if chosen in SANDBOX_PAYMENTS else "sandbox"})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    lock = lock_sqlite(app)
    try:
        prepare_database(app, upgrade=True)
        bridge_sock = bind(host, port)
        servers = [make_server(app, bridge_sock)]
        bridge_url = url_for_socket(host, bridge_sock)
        lms_sock = bind("127.0.0.1", lms_port, "the sandbox LMS")
        lms_url = url_for_socket("localhost", lms_sock)
        lms_app = create_sandbox_app(lms_url, state_path=Path(app.instance_path) / "sandbox.json")
        servers.append(make_server(lms_app, lms_sock))
        from bridge import demo

        wiring = demo.wire(app, lms_app.extensions["sandbox"], bridge_url=bridge_url, lms_url=lms_url)

        def announce() -> None:
            print(f"ExamBridge listening on {bridge_url}", flush=True)
            print(demo.banner(wiring), flush=True)
            print("Press Ctrl-C to stop.", flush=True)

        handles = start_background(app)
        serve_many(servers, on_ready=announce, on_stop=lambda: stop_background(handles))
        print("ExamBridge demo stopped", flush=True)
    finally:
        if lock:
            lock.release()


def _remove_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
