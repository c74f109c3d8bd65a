"""What the agent keeps on disk across a restart: ``state.json`` (the seat, status, display,
current attempt, pack key, candidate client; written with a status snapshot that
``exambridge-kiosk status`` reads) and ``tokens.json`` (each attempt's forward tokens per
writer), plus the pack metadata the exam page sends into the journal. A mixin of
``agent.Agent``, kept apart from the connection and the worker because any thread may
change this state (under the agent's lock) and it outlives the process.
"""
from __future__ import annotations

import logging
import os
import time

from kiosk_agent import __version__
from kiosk_agent import peers
from kiosk_agent.errors import DiskFullError
from kiosk_agent.files import write_json

log = logging.getLogger("kiosk_agent")
STATE_FILE = "state.json"
TOKENS_FILE = "tokens.json"
PACK_META = ("exam_id", "session_id", "admission_number", "seat", "deadline", "epoch")


class SavedState:
    """``state.json`` and ``tokens.json`` of an ``Agent``, written on every change."""

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

    def client_started(self, pid: int | None) -> None:
        """Remember the candidate client's process (None: closed) across an agent restart."""
        self.update_state(client=None if pid is None else {"pid": pid, "start": peers.start_time(pid)})

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
