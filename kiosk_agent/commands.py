"""Console commands (K6), idempotent by ``command_id``: the result of every command the
agent carried out is stored in ``<data dir>/commands/<id>.json`` before it is sent, so a
command the bridge sends again (after a reconnect, or a restarted agent) is answered with
the stored result and never carried out twice.

``CommandRunner.run(command_id, name, args)`` returns ``(outcome, detail)``; outcome is
``done``, ``refused`` (the agent will not: policy, state, arguments) or ``failed`` (it
tried and could not).

Power commands (restart, shutdown) may end the agent before it can store their result. So
``commands/<id>.started.json`` is written (fsynced) before one is carried out; an agent that
starts and finds such a marker without a result stores ``done`` for it (the PC did go down)
and sends that after ``welcome``, instead of carrying the command out again when the bridge
sends it again (a reboot loop otherwise)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from kiosk_agent.errors import AgentError, LockdownError
from kiosk_agent.files import read_json, write_json

if TYPE_CHECKING:  # pragma: no cover
    from kiosk_agent.agent import Agent

log = logging.getLogger(__name__)
#: Commands that run long enough to hold up heartbeats: carried out on their own thread.
SLOW = frozenset({"env_check", "export_pack"})
#: Commands that may end the agent before their result is stored: marked as started first.
POWER = frozenset({"restart", "shutdown"})


class Refused(AgentError):
    """The agent will not carry out this command; the text says why."""


class CommandStore:
    def __init__(self, data_dir: Path):
        self.directory = data_dir / "commands"
        self.directory.mkdir(exist_ok=True)

    def get(self, command_id: int) -> dict | None:
        try:
            return read_json(self.directory / f"{int(command_id)}.json")
        except ValueError:
            return None

    def put(self, command_id: int, result: dict) -> None:
        write_json(self.directory / f"{int(command_id)}.json", result)

    def _marker(self, command_id: int) -> Path:
        return self.directory / f"{int(command_id)}.started.json"

    def mark_started(self, command_id: int, name: str) -> None:
        """Durably note that ``command_id`` is being carried out (before acting)."""
        write_json(self._marker(command_id), {"command_id": command_id, "name": name, "started_at": time.time()})

    def clear_started(self, command_id: int) -> None:
        try:
            self._marker(command_id).unlink()
        except FileNotFoundError:
            pass

    def recover(self) -> list[dict]:
        """Results for the power commands started before this agent did (the PC went down
        while carrying them out): stored as ``done``, markers removed; returned to be sent."""
        recovered = []
        for marker in sorted(self.directory.glob("*.started.json")):
            try:
                started = read_json(marker) or {}
                command_id = int(started["command_id"])
            except (ValueError, KeyError, TypeError, OSError):
                log.warning("ignoring an unreadable command marker %s", marker)
                continue
            if self.get(command_id) is None:
                name = started.get("name")
                result = {"command_id": command_id, "name": name, "outcome": "done",
                          "detail": {"action": name, "started_at": started.get("started_at"),
                                     "message": f"{name} was started; the agent has started again since"},
                          "finished_at": time.time()}
                self.put(command_id, result)
                recovered.append(result)
                log.info("command %s %s: started before this agent did, so it is done (not carried out again)",
                         command_id, name)
            self.clear_started(command_id)
        return recovered


class CommandRunner:
    def __init__(self, agent: "Agent"):
        self.agent = agent
        self.store = CommandStore(agent.config.data_dir)
        #: results of power commands that went down with the PC, to send after ``welcome``
        self.recovered: list[dict] = self.store.recover()
        self._handlers: dict[str, Callable[[dict], dict]] = {
            "show_seat": self.show_seat, "hide_seat": self.hide_seat, "lock": self.lock, "unlock": self.unlock,
            "start_client": self.start_client, "close_client": self.close_client, "restart": self.restart,
            "shutdown": self.shutdown, "wipe": self.wipe, "export_pack": self.export_pack,
            "env_check": self.env_check}

    def stored(self, command_id: int) -> dict | None:
        return self.store.get(command_id)

    def run(self, command_id: int, name: str, args: dict) -> dict:
        """Carry the command out once; the stored result otherwise."""
        stored = self.store.get(command_id)
        if stored is not None:
            return stored
        handler = self._handlers.get(name)
        if handler is None:
            result = {"outcome": "refused", "detail": {"message": f"this agent does not know the command {name!r}"}}
        else:
            try:
                if name in POWER:
                    self.store.mark_started(command_id, name)  # before acting: the PC may go down at once
                result = {"outcome": "done", "detail": handler(args if isinstance(args, dict) else {})}
            except Refused as exc:
                result = {"outcome": "refused", "detail": {"message": str(exc)}}
            except AgentError as exc:
                result = {"outcome": "failed", "detail": {"message": str(exc)}}
            except Exception as exc:  # a command must always get an answer
                log.exception("command %s (%s) failed", command_id, name)
                result = {"outcome": "failed", "detail": {"message": f"{type(exc).__name__}: {exc}"}}
        result = {"command_id": command_id, "name": name, **result, "finished_at": time.time()}
        self.store.put(command_id, result)
        if name in POWER:
            self.store.clear_started(command_id)
        log.info("command %s %s: %s %s", command_id, name, result["outcome"],
                 json.dumps(result["detail"], ensure_ascii=False)[:300])
        return result

    # --- display -------------------------------------------------------------------------
    def show_seat(self, args: dict) -> dict:
        seat = args.get("seat", self.agent.state.get("seat"))
        if seat is not None and (type(seat) is not int or seat < 0):
            raise Refused("show_seat needs a seat number (a whole number)")
        self.agent.update_state(show_seat=True, shown_seat=seat)
        return {"seat": seat}

    def hide_seat(self, args: dict) -> dict:
        self.agent.update_state(show_seat=False)
        return {}

    def lock(self, args: dict) -> dict:
        message = args.get("message") or ""
        if not isinstance(message, str) or len(message) > 500:
            raise Refused("lock takes a message of at most 500 characters")
        self.agent.update_state(locked=True, lock_message=message)
        return {"message": message}

    def unlock(self, args: dict) -> dict:
        self.agent.update_state(locked=False, lock_message=None)
        return {}

    # --- the candidate client ----------------------------------------------------------------
    def start_client(self, args: dict) -> dict:
        url = args.get("url") or self.agent.config.bridge + "/"
        if not isinstance(url, str) or not url.startswith(self.agent.config.origin + "/") and \
                not any(url.startswith(o.rstrip("/") + "/") for o in self.agent.config.lms_origins):
            raise Refused(f"start_client opens only the bridge ({self.agent.config.origin}) or the LMS, not {url!r}")
        try:
            started = self.agent.lockdown.start_client(url)
            self.agent.client_started(started.get("pid"))
            return started
        except LockdownError as exc:
            self.agent._queue_report("lockdown_failed", {"backend": self.agent.lockdown.name, "step": "start_client",
                                                         "message": str(exc)})
            raise

    def close_client(self, args: dict) -> dict:
        closed = self.agent.lockdown.close_client()
        self.agent.client_started(None)
        return closed

    # --- power ---------------------------------------------------------------------------
    def _power(self, action: str) -> dict:
        config = self.agent.config
        if config.dry_run_power:
            with open(config.data_dir / "power.log", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"action": action, "at": time.time()}) + "\n")
            return {"dry_run": True, "action": action}
        if not config.allow_power:
            raise Refused(f"{action} is not allowed on this kiosk (start the agent with --allow-power)")
        if sys.platform == "win32":  # pragma: no cover - Windows only
            argv = ["shutdown", "/r" if action == "restart" else "/s", "/t", "5"]
        else:  # pragma: no cover - never carried out in tests (they run with --dry-run-power)
            argv = ["systemctl", "reboot" if action == "restart" else "poweroff"]
        try:  # pragma: no cover
            subprocess.Popen(argv)
        except OSError as exc:  # pragma: no cover
            raise AgentError(f"{action} failed: {exc.strerror}") from None
        return {"dry_run": False, "action": action, "argv": argv}  # pragma: no cover

    def restart(self, args: dict) -> dict:
        return self._power("restart")

    def shutdown(self, args: dict) -> dict:
        return self._power("shutdown")

    # --- data ----------------------------------------------------------------------------
    def wipe(self, args: dict) -> dict:
        """Delete the attempt's journal only when the bridge provably holds all of it: for
        every writer journaled, the bridge's head must cover the journal's top seq with the
        same chain. Bridge seq == top: the heads must be equal. Bridge seq > top (the page
        also saved straight to the bridge): the bridge must have acknowledged this PC's top
        seq with this PC's hash (an ``ack`` in the journal), since its later head cannot be
        checked here. Bridge seq < top, a missing writer or any other head: refused."""
        attempt_id, heads = args.get("attempt_id"), args.get("heads")
        if type(attempt_id) is not int or attempt_id < 1 or not isinstance(heads, dict):
            raise Refused("wipe needs attempt_id and the bridge's heads for it {writer: {seq, head}}")
        journal = self.agent.journal
        damaged = journal.damaged(attempt_id)
        if damaged is not None:
            raise Refused(f"the journal of attempt {attempt_id} on this PC is damaged (line {damaged['line']}); it is "
                          "kept for the proctor: collect the answer pack first and copy the file")
        uncovered = {}
        for writer, mine in journal.heads(attempt_id).items():
            top, top_hash = mine["seq"], mine["head"]
            theirs = heads.get(writer)
            seq = theirs.get("seq") if isinstance(theirs, dict) else None
            head = theirs.get("head") if isinstance(theirs, dict) else None
            if type(seq) is not int or not isinstance(head, str):
                why = "the bridge holds nothing of this writer"
            elif seq < top:
                why = "the bridge lacks the later events"
            elif seq == top and head != top_hash:
                why = "the bridge's chain head differs from this PC's"
            elif seq > top and journal.acked_head_at(attempt_id, writer, top) != top_hash:
                why = "the bridge never acknowledged this PC's last event with the same chain head"
            else:
                continue
            uncovered[writer] = {"journal": top, "bridge": seq, "why": why}
        if uncovered:
            raise Refused(f"the bridge does not hold everything this PC journaled for attempt {attempt_id}: "
                          f"{json.dumps(uncovered)}; collect the answer pack first")
        journal.wipe(attempt_id)
        self.agent.forget_attempt(attempt_id)
        return {"attempt_id": attempt_id, "wiped": True}

    def export_pack(self, args: dict) -> dict:
        target = args.get("to")
        path = self.agent.export_pack(Path(target) if isinstance(target, str) and target else None,
                                      args.get("attempt_id"))
        result = {"path": str(path), "bytes": os.path.getsize(path)}
        attempt_id = args.get("attempt_id") or self.agent.state.get("current_attempt") or \
            (self.agent.journal.attempts() or [None])[-1]
        damaged = self.agent.journal.damaged(attempt_id) if type(attempt_id) is int else None
        if damaged is not None:  # the pack holds the sound part; say what it lacks
            result["damaged"] = damaged
        return result

    def env_check(self, args: dict) -> dict:
        required = args.get("required_software")
        return self.agent.env_check(required if isinstance(required, list) else None)
