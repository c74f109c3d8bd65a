"""The kiosk hub: ``/ws/kiosk`` (docs/protocol.md), presence, and the event bus (issue 4).

``init_app(app)`` registers the WebSocket route and the command endpoint; nothing starts
until the first socket or command (the factory does no I/O). Per app there is one ``Hub``:
the sockets of this process by kiosk id, presence (memory, or Redis with
``EXAMBRIDGE_REDIS_URL``), the bus (in process, or Redis pub/sub) and a batcher that marks
commands sent.

Issuing commands from anywhere (a console view, the CLI, a test): ``issue_commands(app,
kiosk_ids, name, args, issued_by=...)`` writes the rows through the group writer, then
publishes one notification carrying the new commands; every worker sends those of its own
kiosks. The rows stay the truth: a kiosk gets every unfinished command again after each
``welcome``, and after the Redis subscriber reconnects every worker re-reads the unfinished
commands of its kiosks.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from typing import Any, Iterable

from flask import Flask

from bridge.runtime.gcpause import gc_paused
from bridge.hub.bus import RESUBSCRIBED, Bus, make_bus

log = logging.getLogger(__name__)

EXTENSION_KEY = "exambridge.hub"
CHANNEL = "kiosks"
MARK_SENT_EVERY = 0.5


class FailureWindow:
    """Wrong enrolment codes per address in this process: ``limit`` within ``seconds``
    block that address until the oldest counted failure is ``seconds`` old. Memory only: a
    worker restart forgets them, which is fine for a brake on guessing (a code has 31^10
    values)."""

    def __init__(self, limit: int = 10, seconds: float = 300.0, max_addresses: int = 100_000) -> None:
        self.limit, self.seconds, self.max_addresses = limit, seconds, max_addresses
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(address, ()) if now - t < self.seconds]
        if times:
            self._failures[address] = times
        else:
            self._failures.pop(address, None)
        return times

    def blocked(self, address: str) -> bool:
        import time

        with self._lock:
            return len(self._recent(address, time.monotonic())) >= self.limit

    def failed(self, address: str) -> None:
        import time

        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self.max_addresses and address not in self._failures:
                self._failures.clear()  # a flood of addresses: start over rather than grow
            self._failures.setdefault(address, []).append(now)
            self._recent(address, now)


class Hub:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.local: dict[int, Any] = {}  # kiosk id → Connection on this process
        self._lock = threading.Lock()
        self._started = False
        self._bus: Bus | None = None
        self._presence = None
        self._unsubscribe = None
        self._sent: list[int] = []
        self._sent_lock = threading.Lock()
        self._marker: threading.Thread | None = None
        self._stop = threading.Event()
        self._pack_key: tuple[str, float] | None = None
        self._last_sent: list[int] = []
        self._pack_key_lock = threading.Lock()
        self._none_unfinished_at: float | None = None
        self.enrolment_failures = FailureWindow()
        self._commands_seen = 0
        from bridge.hub.batch import Batcher
        from bridge.services.kiosks import devices, kiosk_commands

        #: command results, one writer job per burst (callers wait for theirs)
        self.results = Batcher(app, kiosk_commands.record_results, every=0.01, name="results")
        #: presence changes and last-seen times; nobody waits for these
        self.presence_writes = Batcher(app, devices.record_presences, every=0.25, name="presence")

    # --- lazy start ---------------------------------------------------------------------
    def start(self) -> "Hub":
        if self._started:
            return self
        with self._lock:
            if self._started:
                return self
            from bridge.hub.presence import FallbackPresence, MemoryPresence, RedisPresence

            cfg = self.app.config
            url, prefix = cfg.get("EXAMBRIDGE_REDIS_URL"), cfg.get("EXAMBRIDGE_REDIS_PREFIX") or "exambridge:"
            self._bus = make_bus(url, prefix)
            self._presence = FallbackPresence(RedisPresence(self._bus.redis, prefix)) if url else MemoryPresence()
            self._unsubscribe = self._bus.subscribe(CHANNEL, self._on_bus)
            self._marker = threading.Thread(target=self._mark_sent_loop, name="exambridge-hub-sent", daemon=True)
            self._marker.start()
            self._started = True
            if url and not self._bus.wait_connected(2.0):
                log.warning("kiosk hub: Redis at %s does not answer; kiosks connect anyway, commands reach "
                            "them at their next connection until it does", url)
            log.info("kiosk hub started (%s bus)", "Redis" if url else "in-process")
        return self

    @property
    def bus(self) -> Bus:
        return self.start()._bus

    @property
    def presence(self):
        return self.start()._presence

    def stop(self) -> None:
        self._stop.set()
        self.results.stop()
        self.presence_writes.stop()
        for conn in list(self.local.values()):
            conn.close("bridge stopping")
        if self._unsubscribe:
            self._unsubscribe()
        if self._bus is not None:
            self._bus.close()

    # --- bus ----------------------------------------------------------------------------
    # --- "no unfinished command anywhere", briefly cached ------------------------------
    NONE_UNFINISHED_SECONDS = 0.5

    def none_unfinished(self, connection) -> bool:
        """True when no kiosk has an unfinished command, checked at most every half second.

        Lets the thousands of welcomes after a restart skip their own commands query. Safe
        because a welcome reads after its socket is registered here: a command committed
        after the check is published on the bus, which both clears the cached answer
        (``_on_bus``) and delivers the command to the registered socket."""
        import time

        from bridge.services.kiosks import kiosk_commands

        checked = self._none_unfinished_at
        if checked is not None and time.monotonic() - checked < self.NONE_UNFINISHED_SECONDS:
            return True
        seen, started = self._commands_seen, time.monotonic()
        if kiosk_commands.any_unfinished(connection):
            self._none_unfinished_at = None
            return False
        if self._commands_seen == seen:  # no command published while we looked
            self._none_unfinished_at = started
        return True

    def _on_bus(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "commands":
            self._commands_seen += 1
            self._none_unfinished_at = None
            self.deliver_commands(message.get("commands") or [])
        elif kind == "fence":
            conn = self.local.get(message.get("kiosk"))
            if conn is not None and conn.id == message.get("conn"):
                conn.fence(message.get("message") or "")
        elif kind == RESUBSCRIBED["kind"]:
            threading.Thread(target=self.resync, name="exambridge-hub-resync", daemon=True).start()

    def deliver_commands(self, commands: list[dict[str, Any]]) -> int:
        """Send the commands whose kiosk is connected here; returns how many were queued."""
        from kiosk_agent.protocol import COMMAND, Envelope

        if len(commands) > 100:
            import time

            started = time.monotonic()
            try:
                with gc_paused():  # a broadcast from another worker (bridge.runtime.gcpause)
                    return self._deliver(commands, Envelope, COMMAND)
            finally:
                log.info("queued %d of %d command(s) to this worker's sockets in %.0f ms",
                         len(self._last_sent), len(commands), (time.monotonic() - started) * 1000)
        return self._deliver(commands, Envelope, COMMAND)

    def _deliver(self, commands: list[dict[str, Any]], Envelope, COMMAND) -> int:

        sent = []
        for command in commands:
            conn = self.local.get(command.get("kiosk_id"))
            if conn is None:
                continue
            body = {k: command[k] for k in ("command_id", "name", "args", "issued_at")}
            if conn.send(Envelope(type=COMMAND, payload=body)):
                sent.append(command["command_id"])
        if sent:
            with self._sent_lock:
                self._sent.extend(sent)
        self._last_sent = sent
        return len(sent)

    def _mark_sent_loop(self) -> None:
        from bridge.services.kiosks import kiosk_commands
        from bridge.runtime.writer import get_writer

        while not self._stop.wait(MARK_SENT_EVERY):
            with self._sent_lock:
                ids, self._sent = self._sent, []
            if not ids:
                continue
            try:
                get_writer(self.app).submit(kiosk_commands.mark_sent, ids)
            except Exception:
                log.exception("marking %d command(s) sent failed", len(ids))

    def resync(self) -> None:
        """Send every unfinished command of the kiosks connected here (after a bus outage)."""
        from sqlalchemy.orm import Session

        from bridge.extensions import db
        from bridge.services.kiosks import kiosk_commands

        with self.app.app_context():
            with Session(db.engine) as session:
                for kiosk_id in list(self.local):
                    pending = kiosk_commands.unfinished(session, kiosk_id)
                    self.deliver_commands([dict(c.message_payload(), kiosk_id=c.kiosk_id) for c in pending])

    def pack_key(self) -> str:
        """The bridge's answer-pack public key for ``welcome.pack_key`` (made and committed
        through the group writer the first time; cached a minute, so a rotation shows)."""
        import functools
        import time

        from bridge.services.delivery import pack_keys
        from bridge.runtime.writer import get_writer

        cached = self._pack_key
        if cached is not None and time.monotonic() - cached[1] < 60:
            return cached[0]
        with self._pack_key_lock:  # one fetch for the thousands of hellos after a restart
            cached = self._pack_key
            if cached is not None and time.monotonic() - cached[1] < 60:
                return cached[0]
            value = self._read_pack_key()  # a plain read: the writer may be busy
            if value is None:  # the first start: make (and commit) the key
                job = functools.partial(pack_keys.public_key_b64, secret_key=self.app.config["SECRET_KEY"])
                value = get_writer(self.app).submit(job)
            self._pack_key = (value, time.monotonic())
            return value

    def _read_pack_key(self) -> str | None:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from bridge.extensions import db
        from bridge.models.packs import PackKey

        with self.app.app_context(), Session(db.engine) as session:
            return session.scalar(select(PackKey.public_key).where(PackKey.retired_at.is_(None))
                                  .order_by(PackKey.id).limit(1))

    def online(self, kiosk_ids: Iterable[int]) -> dict[int, bool]:
        """Which of these kiosks hold a live socket (on any worker)."""
        return self.presence.online(list(kiosk_ids))


def get_hub(app: Flask) -> Hub:
    hub = app.extensions.get(EXTENSION_KEY)
    if hub is None:
        hub = app.extensions.setdefault(EXTENSION_KEY, Hub(app))
    return hub


def stop_hub(app: Flask) -> None:
    hub = app.extensions.pop(EXTENSION_KEY, None)
    if hub is not None:
        hub.stop()


def notify_commands(app: Flask, command_ids: list[int]) -> None:
    """Publish "these kiosks have commands" (carrying the committed commands) on the bus.
    A failed publish is logged, not raised: the rows reach the kiosks at the next welcome."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bridge.extensions import db
    from bridge.models.devices import KioskCommand
    from bridge.services.kiosks.kiosk_commands import epoch_seconds

    if not command_ids:
        return
    with app.app_context():
        with Session(db.engine) as session:
            rows = session.execute(select(KioskCommand.id, KioskCommand.kiosk_id, KioskCommand.name,
                                          KioskCommand.args, KioskCommand.issued_at)
                                   .where(KioskCommand.id.in_(command_ids))).all()
    commands = [{"command_id": r.id, "kiosk_id": r.kiosk_id, "name": r.name, "args": r.args or {},
                 "issued_at": epoch_seconds(r.issued_at)} for r in rows]
    publish_commands(app, commands)


def publish_commands(app: Flask, commands: list[dict[str, Any]]) -> None:
    """Publish committed commands (``kiosk_commands.IssuedCommands.payloads``) on the bus."""
    hub = get_hub(app)
    hub._commands_seen += 1  # this worker's welcomes look again, whatever the bus does
    hub._none_unfinished_at = None
    try:
        hub.bus.publish(CHANNEL, {"kind": "commands", "commands": commands})
    except Exception as exc:
        log.warning("could not publish %d command(s) on the bus (%s); they reach the kiosks at "
                    "their next connection", len(commands), exc)


def issue_commands(app: Flask, kiosk_ids: Iterable[int], name: str, args: dict | None = None, *,
                   issued_by: str = "") -> list[int]:
    """Queue a command for each kiosk (one transaction, through the group writer), then
    notify the workers. Raises the service's DomainError when refused."""
    import functools

    from bridge.services.kiosks import kiosk_commands
    from bridge.runtime.writer import get_writer

    import time

    started = time.monotonic()
    job = functools.partial(kiosk_commands.issue_batch, issued_by=issued_by)
    with gc_paused():  # a broadcast's garbage waits until every kiosk has it (bridge.runtime.gcpause)
        issued = get_writer(app).submit(job, list(kiosk_ids), name, args)
        commands = issued.payloads()  # here, not on the writer's thread
        ids = list(issued.command_ids)
        written = time.monotonic()
        publish_commands(app, commands)
    log.info("issued %d %s command(s): written in %.0f ms, notified in %.0f ms", len(ids), name,
             (written - started) * 1000, (time.monotonic() - written) * 1000)
    return ids


def init_app(app: Flask) -> None:
    from bridge.hub.routes import bp

    app.register_blueprint(bp)
    get_hub(app)
