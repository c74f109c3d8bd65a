"""The agent: one WebSocket to the bridge, one worker thread, the journal and the local
endpoint (docs/protocol.md).

Threads:

- the *connection* thread runs ``WebSocketApp.run_forever`` and, when it returns, waits a
  backoff with jitter and connects again, on its own, for ever; its callbacks only put
  what happened on the queue;
- the *worker* (``Agent.run`` on the caller's thread) handles everything from the queue in
  order: the handshake, acks, commands, heartbeats, lockdown scans and uploads;
- the local endpoint's request threads journal the page's events (fsync) and put an
  ``upload`` on the queue; they never touch the socket.

Uploads (seq order, batches, resync from ``welcome.heads``) are ``uploader.Uploader``'s;
answer packs are written by ``packs.export_pack``.

The agent's other jobs are mixins, one module each: ``saved_state`` (state.json and
tokens.json), ``local_requests`` (the local endpoint's calls), ``bridge_messages`` (the
bridge's messages) and ``status_reports`` (heartbeats and reports).
"""
from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable

import websocket

from kiosk_agent import __version__
from kiosk_agent import protocol as P
from kiosk_agent.bridge_messages import BridgeMessages
from kiosk_agent.commands import CommandRunner
from kiosk_agent.config import AgentConfig
from kiosk_agent.envcheck import run_check
from kiosk_agent.errors import AgentError
from kiosk_agent.files import read_json
from kiosk_agent.identity import Identity
from kiosk_agent.journal import Journal
from kiosk_agent.local_requests import LocalRequests
from kiosk_agent.packs import export_pack
from kiosk_agent.saved_state import PACK_META, STATE_FILE, TOKENS_FILE, SavedState
from kiosk_agent.status_reports import DISK_LOW_MB, StatusReports, battery_pct
from kiosk_agent.uploader import Uploader

# names other modules import from here, from before the mixins were split out
__all__ = ["Agent", "DISK_LOW_MB", "PACK_META", "STATE_FILE", "TOKENS_FILE", "battery_pct"]

log = logging.getLogger("kiosk_agent")


class Agent(SavedState, LocalRequests, BridgeMessages, StatusReports):
    def __init__(self, config: AgentConfig, identity: Identity, journal: Journal, lockdown,
                 *, ask_code: Callable[[str], str | None] | None = None):
        self.config, self.identity, self.journal, self.lockdown = config, identity, journal, lockdown
        self.ask_code = ask_code
        self.queue: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.fatal: AgentError | None = None
        self.local_port: int | None = None
        self._lock = threading.RLock()
        self.state: dict[str, Any] = {"seat": None, "status": None, "show_seat": False, "shown_seat": None,
                                      "locked": False, "lock_message": None, "current_attempt": None,
                                      "pack_key": None, "kiosk_id": identity.kiosk_id, "client": None}
        self.state.update({k: v for k, v in (read_json(config.data_dir / STATE_FILE) or {}).items()
                           if k in self.state and k != "kiosk_id"})
        self.tokens: dict[str, dict[str, str]] = read_json(config.data_dir / TOKENS_FILE) or {}
        self.commands = CommandRunner(self)
        # connection state: touched by the worker only
        self._app: websocket.WebSocketApp | None = None
        self._welcomed = False
        self._welcomed_once = threading.Event()
        self._requests: dict[str, str] = {}        # message id → what it was (register/hello/heartbeat/...)
        self.uploads = Uploader(journal, lambda: self.tokens,
                                lambda type_, payload: self._send(type_, payload, remember="events"),
                                self._final_error, self._journal_damaged)
        self._reports: list[tuple[str, dict]] = []
        self._heartbeat_seconds = P.HEARTBEAT_SECONDS
        self._next_heartbeat = 0.0
        self._next_scan = 0.0
        self._sent_ping_at: dict[str, float] = {}
        self.rtt_ms: float | None = None
        self._connect_failures = 0
        self._last_error: str | None = None
        self._disk_low_reported = False
        self._damaged_reported: set[int] = set()
        self._parent = os.getppid()

    # ------------------------------------------------------------------ public surface
    @property
    def online(self) -> bool:
        return self._welcomed

    def stop(self) -> None:
        self.stopping.set()
        self.queue.put(("stop",))
        app = self._app
        if app is not None:
            try:
                app.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass

    # ------------------------------------------------------------------ commands needing the agent
    def export_pack(self, directory: Path | None, attempt_id: int | None = None) -> Path:
        """Write the pack of ``attempt_id`` (default: the current or last attempt) to
        ``directory`` (default: ``<data dir>/packs``); returns its path."""
        if attempt_id is None:
            attempt_id = self.state.get("current_attempt") or (self.journal.attempts() or [None])[-1]
        if attempt_id is None:
            raise AgentError("there is no attempt in this PC's journal to export")
        return export_pack(self.config.data_dir, self.journal, self.identity, int(attempt_id), directory,
                           self.state.get("pack_key"))

    def env_check(self, required: list | None = None) -> dict:
        result = run_check(data_dir=self.config.data_dir, bridge=self.config.bridge, lockdown=self.config.lockdown,
                           browser=self.config.browser,
                           required=tuple(required if required is not None else self.config.required_software),
                           measured_rtt_ms=self.rtt_ms)
        self._queue_report("env_check", result)
        return result

    # ------------------------------------------------------------------ connection thread
    def _connect_loop(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            app = websocket.WebSocketApp(
                self.config.ws_url,
                header={"User-Agent": f"exambridge-kiosk/{__version__}"},
                on_open=lambda ws: self.queue.put(("open", ws)),
                on_message=lambda ws, raw: self.queue.put(("message", ws, raw)),
                on_error=lambda ws, exc: self.queue.put(("socket_error", ws, exc)),
                on_close=lambda ws, code, reason: self.queue.put(("close", ws, code, reason)))
            self.queue.put(("connecting", app))
            self._app = app
            self._welcomed_once.clear()
            try:
                app.run_forever(ping_interval=20, ping_timeout=10, skip_utf8_validation=True)
            except Exception as exc:  # noqa: BLE001 - whatever happens, connect again
                log.warning("connection failed: %s", exc)
            if self.stopping.is_set():
                break
            failures = 0 if self._welcomed_once.is_set() else failures + 1
            delay = min(self.config.max_backoff, 0.5 * 2 ** min(failures, 10)) * random.uniform(0.5, 1.0)
            self.queue.put(("retrying", delay))
            self.stopping.wait(delay)

    # ------------------------------------------------------------------ worker
    def run(self) -> int:
        """Work until ``stop()``; returns the process exit code."""
        for failure in self.lockdown.prepare():
            log.warning("lockdown: %s", failure.get("message"))
            self._queue_report("lockdown_failed", failure)
        self._save_state()
        self.uploads.check()  # a damaged journal file is said at start, not only once online
        connection = threading.Thread(target=self._connect_loop, name="connection", daemon=True)
        connection.start()
        try:
            while not self.stopping.is_set():
                try:
                    item = self.queue.get(timeout=0.25)
                except queue.Empty:
                    item = None
                try:
                    if item is not None:
                        self._handle(item)
                    self._tick()
                except Exception:  # noqa: BLE001 - the worker must not die (a damaged journal file, ...)
                    log.exception("handling %s failed", item[0] if item else "the periodic work")
                    self.stopping.wait(0.5)
        finally:
            self.stopping.set()
            app = self._app
            if app is not None:
                try:
                    app.close()
                except Exception:  # noqa: BLE001
                    pass
            self.lockdown.stop()
            connection.join(timeout=5)
            self._welcomed = False
            self._save_state()
        if self.fatal is not None:
            log.error("%s", self.fatal)
            return self.fatal.exit_code
        return 0

    def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "message":
            if item[1] is self._app:
                self._on_message(item[2])
        elif kind == "upload":
            self._pump()
        elif kind == "send":
            self._send(item[1], item[2])
        elif kind == "open":
            if item[1] is self._app:
                log.info("connected to %s; waiting for the challenge", self.config.ws_url)
        elif kind == "close":
            if item[1] is self._app:
                self._went_offline(f"closed ({item[2]} {item[3] or ''})".strip())
        elif kind == "socket_error":
            if item[1] is self._app:
                self._last_error = f"{type(item[2]).__name__}: {item[2]}"
        elif kind == "retrying":
            self._went_offline(self._last_error or "disconnected")
            self._connect_failures += 1
            if self._connect_failures <= 3 or self._connect_failures % 10 == 0:
                log.warning("cannot reach the bridge at %s (%s); trying again in %.1f s (the candidate keeps working "
                            "on this PC meanwhile)", self.config.bridge, self._last_error or "disconnected", item[1])
        elif kind == "connecting":
            self._welcomed = False
        elif kind == "command_done":
            self._send_command_result(item[1])

    def _went_offline(self, why: str) -> None:
        if self._welcomed:
            log.warning("connection to the bridge lost: %s; answers stay journaled on this PC", why)
            self._welcomed = False
            self._save_state()
        self._requests.clear()
        self._sent_ping_at.clear()
        self.uploads.disconnected()

    def _send(self, type_: str, payload: dict, *, remember: str | None = None) -> str | None:
        app = self._app
        env = P.message(type_, payload)
        if app is None or app.sock is None:
            return None
        try:
            app.send(env.encode())
        except (websocket.WebSocketException, OSError) as exc:
            self._last_error = f"send failed: {exc}"
            return None
        if remember:
            self._requests[env.id] = remember
        return env.id

    def _final_error(self, attempt_id: int, code: str) -> None:
        if code == "submitted" and self.state.get("current_attempt") == attempt_id:
            self.update_state(current_attempt=None)

    # ------------------------------------------------------------------ periodic work
    def _tick(self) -> None:
        now = time.monotonic()
        if self.config.exit_with_parent and os.getppid() != self._parent:
            log.info("the process that started the agent has ended: stopping")
            self.stop()
            return
        if now >= self._next_scan:
            self._next_scan = now + self.config.scan_seconds
            try:
                for kind, detail in self.lockdown.poll():
                    log.warning("lockdown: %s %s", kind, detail)
                    self._queue_report(kind, detail)
            except Exception:  # noqa: BLE001 - a failing scan must not stop the agent
                log.exception("the lockdown scan failed")
        if not self._welcomed:
            return
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self._heartbeat_seconds
            self._heartbeat()
        self._flush_reports()
        if self.uploads.due(now):
            self._pump()

    def _pump(self) -> None:
        if self._welcomed:
            self.uploads.pump()
