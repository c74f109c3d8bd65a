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
"""
from __future__ import annotations

import logging
import os
import platform
import queue
import random
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import websocket

from kiosk_agent import __version__
from kiosk_agent import peers
from kiosk_agent import protocol as P
from kiosk_agent.commands import SLOW, CommandRunner
from kiosk_agent.config import AgentConfig
from kiosk_agent.envcheck import free_disk_mb, run_check
from kiosk_agent.errors import AgentError, DiskFullError, EnrolmentError
from kiosk_agent.files import read_json, write_json
from kiosk_agent.identity import Identity
from kiosk_agent.journal import Journal
from kiosk_agent.errors import JournalConflict, JournalCorrupt, JournalError, JournalFull, JournalInvalid
from kiosk_agent.packs import export_pack
from kiosk_agent.uploader import MAX_BATCH, Uploader
from kiosk_agent.local_endpoint import LocalError

log = logging.getLogger("kiosk_agent")
DISK_LOW_MB = 200
STATE_FILE = "state.json"
TOKENS_FILE = "tokens.json"
PACK_META = ("exam_id", "session_id", "admission_number", "seat", "deadline", "epoch")


def battery_pct() -> int | None:
    base = Path("/sys/class/power_supply")
    try:
        for entry in sorted(base.iterdir()):
            if entry.name.startswith("BAT"):
                return int((entry / "capacity").read_text().strip())
    except (OSError, ValueError):
        pass
    return None


class Agent:
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

    def update_state(self, **changes) -> None:
        with self._lock:
            self.state.update(changes)
            self._save_state()

    def _save_state(self) -> None:
        with self._lock:
            snapshot = {**self.state, "online": self._welcomed, "pid": os.getpid(), "local_port": self.local_port,
                        "bridge": self.config.bridge, "room": self.config.room, "lockdown": self.config.lockdown,
                        "last_error": self._last_error, "updated_at": time.time(), "agent_version": __version__}
        try:
            write_json(self.config.data_dir / STATE_FILE, snapshot)
        except (DiskFullError, OSError) as exc:
            log.warning("cannot save the agent state: %s", exc)

    def stop(self) -> None:
        self.stopping.set()
        self.queue.put(("stop",))
        app = self._app
        if app is not None:
            try:
                app.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass

    # ------------------------------------------------------------------ local endpoint (request threads)
    def local_hello(self) -> dict:
        with self._lock:
            s = dict(self.state)
        return {"agent_version": __version__, "kiosk_id": self.identity.kiosk_id, "seat": s["seat"],
                "online": self._welcomed, "status": s["status"],
                "display": {"show_seat": bool(s["show_seat"]),
                            "seat": s["shown_seat"] if s["shown_seat"] is not None else s["seat"],
                            "locked": bool(s["locked"]), "lock_message": s["lock_message"],
                            "online": self._welcomed}}

    def local_client_pid(self) -> int | None:
        """The candidate client the agent started: the running child, or the one a previous
        run of the agent started if it still runs (same pid and start time)."""
        pid = self.lockdown.client_pid
        if pid is not None:
            return pid
        client = self.state.get("client")
        if isinstance(client, dict) and client.get("pid") and client.get("start") is not None and \
                peers.start_time(client["pid"]) == client["start"]:
            return client["pid"]
        return None

    def client_started(self, pid: int | None) -> None:
        """Remember the candidate client's process (None: closed) across an agent restart."""
        self.update_state(client=None if pid is None else {"pid": pid, "start": peers.start_time(pid)})

    def _server_seqs(self, attempt_id: int) -> dict[str, int]:
        return {w: a["seq"] for w, a in self.journal.acked(attempt_id).items()}

    def local_attempt(self, attempt_id: int) -> dict:
        return {"journal": self.journal.high_water(attempt_id), "server": self._server_seqs(attempt_id),
                "online": self._welcomed, "errors": self.uploads.errors(attempt_id),
                "damaged": self.uploads.damaged.get(attempt_id)}

    def local_events(self, body: dict) -> dict:
        attempt_id, token, events = body.get("attempt_id"), body.get("token"), body.get("events")
        if type(attempt_id) is not int or attempt_id < 1:
            raise LocalError(400, "attempt_id", "attempt_id must be a positive whole number.")
        if not isinstance(token, str) or not 1 <= len(token) <= 200:
            raise LocalError(400, "token", "token must be the forward token the bridge gave this exam page.")
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
            raise LocalError(400, "events", f"Send 1 to {MAX_BATCH} events.")
        writers = {e.get("writer") for e in events if isinstance(e, dict)}
        try:
            journaled = self.journal.append(attempt_id, events)
        except JournalFull as exc:
            self._queue_report("disk_low", {"free_disk_mb": self._free_disk(), "message": str(exc)})
            raise LocalError(507, "disk_full", str(exc)) from None
        except JournalConflict as exc:
            raise LocalError(409, "conflict", str(exc)) from None
        except JournalCorrupt as exc:  # the page keeps the answer and saves it straight to the server
            self._journal_damaged(attempt_id, self.journal.damaged(attempt_id) or {"error": str(exc)})
            raise LocalError(507, "journal_damaged", str(exc)) from None
        except JournalInvalid as exc:
            raise LocalError(400, "invalid", str(exc)) from None
        except JournalError as exc:
            raise LocalError(500, "journal", str(exc)) from None
        meta = body.get("meta")
        self._remember(attempt_id, token, writers, meta if isinstance(meta, dict) else None)
        self.queue.put(("upload",))
        return {"journaled": journaled, "server": self._server_seqs(attempt_id), "online": self._welcomed}

    def _remember(self, attempt_id: int, token: str, writers: set, meta: dict | None) -> None:
        key = str(attempt_id)
        with self._lock:
            known = self.tokens.setdefault(key, {})
            changed = False
            for writer in writers:
                if isinstance(writer, str) and known.get(writer) != token:
                    known[writer] = token
                    changed = True
            if changed:
                write_json(self.config.data_dir / TOKENS_FILE, self.tokens)
            if self.state["current_attempt"] != attempt_id:
                self.state["current_attempt"] = attempt_id
                self._save_state()
        if meta:
            clean = {k: meta[k] for k in PACK_META if k in meta}
            if clean and any(self.journal.meta(attempt_id).get(k) != v for k, v in clean.items()):
                self.journal.set_meta(attempt_id, clean)

    def forget_attempt(self, attempt_id: int) -> None:
        with self._lock:
            if self.tokens.pop(str(attempt_id), None) is not None:
                write_json(self.config.data_dir / TOKENS_FILE, self.tokens)
            if self.state["current_attempt"] == attempt_id:
                self.state["current_attempt"] = None
                self._save_state()
        self.uploads.forget(attempt_id)

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

    # ------------------------------------------------------------------ messages from the bridge
    def _on_message(self, raw: str | bytes) -> None:
        try:
            env = P.decode(raw)
            payload = P.validate(env)
        except P.ProtocolError as exc:
            log.warning("refused a message from the bridge: %s", exc)
            return
        handler = getattr(self, f"_on_{env.type}", None)
        if handler is None:
            log.debug("ignored %s from the bridge", env.type)
            return
        handler(payload)

    def _on_challenge(self, payload: dict) -> None:
        nonce = payload["nonce"]
        identity = self.identity
        self._welcomed = False
        if identity.kiosk_id:
            self._send(P.HELLO, {"kiosk_id": identity.kiosk_id, "agent_version": __version__,
                                 "signature": identity.sign(nonce, str(identity.kiosk_id))}, remember="hello")
            return
        code = identity.code
        if not code:
            self._fatal(EnrolmentError(f"this kiosk is not registered and has no enrolment code for room "
                                       f"{self.config.room}: run `exambridge-kiosk run ... --code CODE` (or set "
                                       f"EXAMBRIDGE_KIOSK_CODE)"))
            return
        self._send(P.REGISTER, {
            "room": self.config.room, "code": code, "public_key": identity.public_key, "machine": identity.machine,
            "hostname": socket.gethostname()[:255], "agent_version": __version__,
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}"[:100],
            "signature": identity.sign(nonce, identity.public_key)}, remember="register")

    def _on_welcome(self, payload: dict) -> None:
        if self._requests.pop(str(payload.get("ref")), None) not in ("hello", "register"):
            log.warning("welcome for an unknown request; ignored")
            return
        kiosk_id = payload.get("kiosk_id")
        if isinstance(kiosk_id, int) and kiosk_id != self.identity.kiosk_id:
            self.identity.kiosk_id = kiosk_id
            self.identity.room = payload.get("room") or self.config.room
            self.identity.bridge = self.config.bridge
            self.identity.save()
            log.info("registered as kiosk %s in room %s (status %s: a proctor seats new kiosks)",
                     kiosk_id, self.identity.room, payload.get("status"))
        hb = payload.get("heartbeat_seconds")
        if isinstance(hb, (int, float)) and 0.2 <= hb <= 600:
            self._heartbeat_seconds = float(hb)
        self._welcomed = True
        self._welcomed_once.set()
        self._connect_failures = 0
        self._last_error = None
        self.update_state(kiosk_id=self.identity.kiosk_id, status=payload.get("status"), seat=payload.get("seat"),
                          pack_key=payload.get("pack_key") or self.state.get("pack_key"))
        log.info("welcome: kiosk %s, status %s, seat %s", self.identity.kiosk_id, payload.get("status"),
                 payload.get("seat"))
        self.uploads.resync(payload.get("heads") or {}, payload.get("server_time"))
        for result in self.commands.recovered:  # power commands the PC went down with: done, not again
            self._send_command_result(result)
        self.commands.recovered = []
        self._next_heartbeat = 0.0
        self._flush_reports()
        self._pump()

    def _on_error(self, payload: dict) -> None:
        what = self._requests.pop(str(payload.get("ref")), None)
        code, message = payload["code"], payload.get("message") or ""
        if what in ("register", "hello"):
            self._handshake_refused(what, code, message)
            return
        if what == "events":
            self.uploads.on_error(str(payload.get("ref")), code, message)
        log.warning("the bridge refused %s: %s %s", what or "a message", code, message)

    def _handshake_refused(self, what: str, code: str, message: str) -> None:
        identity = self.identity
        if code == "bad_enrolment_code":
            identity.code = None
            identity.save()
            asked = self.ask_code(f"The bridge refused the enrolment code for room {self.config.room} ({message}). "
                                  f"Enrolment code: ") if self.ask_code else None
            if asked:
                identity.code = asked.strip()
                identity.save()
                self._reconnect()
                return
            self._fatal(EnrolmentError(f"the bridge refused the enrolment code for room {self.config.room}: "
                                       f"{message or code}. Ask the site admin for the room's kiosk enrolment code "
                                       f"and start again with --code CODE"))
        elif code == "unknown_kiosk":
            log.warning("the bridge does not know kiosk %s (%s); registering again", identity.kiosk_id, message)
            identity.forget_registration()
            self._reconnect()
        elif code == "key_in_use":
            log.warning("this device key belongs to another kiosk (%s); making a new key and registering again",
                        message)
            identity.rotate_key()
            self._reconnect()
        elif code == "duplicate_connection":
            log.error("the bridge sees this kiosk connected from another address (%s): is a copy of this PC's data "
                      "directory running elsewhere? Retrying.", message)
            self._reconnect()
        else:
            log.warning("the bridge refused %s: %s %s; retrying", what, code, message)
            self._reconnect()

    def _reconnect(self) -> None:
        app = self._app
        self._welcomed = False
        if app is not None:
            app.close()

    def _fatal(self, error: AgentError) -> None:
        self.fatal = error
        self.stop()

    def _on_heartbeat_ack(self, payload: dict) -> None:
        sent = self._sent_ping_at.pop(str(payload.get("ref")), None)
        self._requests.pop(str(payload.get("ref")), None)
        if sent is not None:
            self.rtt_ms = round((time.monotonic() - sent) * 1000, 1)

    def _on_report_ack(self, payload: dict) -> None:
        self._requests.pop(str(payload.get("ref")), None)

    def _on_command_result_ack(self, payload: dict) -> None:
        self._requests.pop(str(payload.get("ref")), None)

    def _on_acks(self, payload: dict) -> None:
        ref = str(payload.get("ref"))
        self._requests.pop(ref, None)
        if self.uploads.on_acks(ref, payload.get("acks")):
            self._pump()

    def _journal_damaged(self, attempt_id: int, detail: dict) -> None:
        """A damaged (or unreadable) journal file: said once, loudly, and reported to the
        bridge; the attempt shows ``damaged`` to the page, the other attempts go on."""
        with self._lock:
            if attempt_id in self._damaged_reported:
                return
            self._damaged_reported.add(attempt_id)
        self.uploads.damaged.setdefault(attempt_id, detail)
        if "error" in detail:
            log.error("the journal of attempt %s cannot be read (%s): its answers are not uploaded from this PC; the "
                      "other attempts go on", attempt_id, detail["error"])
        else:
            log.error("the journal of attempt %s is DAMAGED at line %s of %s: the %s events before it are uploaded, "
                      "%s intact records after it are NOT used (kept in the file for the proctor); nothing more is "
                      "journaled for this attempt, the exam page saves straight to the server", attempt_id,
                      detail.get("line"), detail.get("file"), detail.get("valid_before"), detail.get("valid_after"))
        self._queue_report("journal_damaged", {"attempt_id": attempt_id, **detail})

    def _final_error(self, attempt_id: int, code: str) -> None:
        if code == "submitted" and self.state.get("current_attempt") == attempt_id:
            self.update_state(current_attempt=None)

    # ------------------------------------------------------------------ commands
    def _on_command(self, payload: dict) -> None:
        command_id, name, args = payload["command_id"], payload["name"], payload["args"]
        stored = self.commands.stored(command_id)
        if stored is not None:
            self._send_command_result(stored)
            return
        if name in SLOW:
            def work():
                self.queue.put(("command_done", self.commands.run(command_id, name, args)))
            threading.Thread(target=work, name=f"command-{command_id}", daemon=True).start()
            return
        self._send_command_result(self.commands.run(command_id, name, args))

    def _send_command_result(self, result: dict) -> None:
        self._send(P.COMMAND_RESULT, {"command_id": result["command_id"], "outcome": result["outcome"],
                                      "detail": result["detail"]}, remember="command_result")

    # ------------------------------------------------------------------ reports, heartbeats, uploads
    def _queue_report(self, kind: str, detail: dict) -> None:
        with self._lock:
            self._reports.append((kind, detail))
            del self._reports[:-200]

    def _flush_reports(self) -> None:
        if not self._welcomed:
            return
        with self._lock:
            reports, self._reports = self._reports, []
        for kind, detail in reports:
            if self._send(P.REPORT, {"kind": kind, "detail": detail}, remember="report") is None:
                with self._lock:
                    self._reports.append((kind, detail))

    def _free_disk(self) -> int | None:
        try:
            return free_disk_mb(self.config.data_dir)
        except OSError:
            return None

    def _status(self, attempt_id: int | None) -> str:
        if self.state.get("locked"):
            return "locked"
        if attempt_id is not None:
            acked = self._server_seqs(attempt_id)
            if any(seq > acked.get(w, 0) for w, seq in self.journal.high_water(attempt_id).items()):
                return "offline_tail"
            return "in_exam"
        return "ready" if self.lockdown.client_running() else "idle"

    def _heartbeat(self) -> None:
        attempt_id = self.state.get("current_attempt")
        disk = self._free_disk()
        if disk is not None and disk < DISK_LOW_MB and not self._disk_low_reported:
            self._disk_low_reported = True
            self._queue_report("disk_low", {"free_disk_mb": disk, "threshold_mb": DISK_LOW_MB})
        focus = self.lockdown.focus()
        candidate = self.journal.meta(attempt_id).get("admission_number") if attempt_id else None
        payload = {"status": self._status(attempt_id), "seat": self.state.get("seat"),
                   "candidate": str(candidate)[:100] if candidate is not None else None,
                   "attempt_id": attempt_id,
                   "journal": self.journal.high_water(attempt_id) if attempt_id else {},
                   "free_disk_mb": disk, "battery_pct": battery_pct(), "focus": focus is not False,
                   "lockdown": self.lockdown.name}
        sent = self._send(P.HEARTBEAT, payload, remember="heartbeat")
        if sent:
            self._sent_ping_at[sent] = time.monotonic()
            if len(self._sent_ping_at) > 20:
                self._sent_ping_at.pop(next(iter(self._sent_ping_at)))

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
