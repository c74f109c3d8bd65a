"""What the local endpoint's request threads ask of the agent: the hello the exam page
shows, the candidate client's pid, an attempt's journal and server positions, and the
page's events to journal (fsync) before an upload is queued. A mixin of ``agent.Agent``,
kept apart because it runs on the request threads, never touches the socket and answers
with ``LocalError`` for the endpoint to turn into an HTTP reply.
"""
from __future__ import annotations

from kiosk_agent import __version__
from kiosk_agent import peers
from kiosk_agent.errors import JournalConflict, JournalCorrupt, JournalError, JournalFull, JournalInvalid
from kiosk_agent.local_endpoint import LocalError
from kiosk_agent.uploader import MAX_BATCH


class LocalRequests:
    """The agent's answers to the local endpoint (docs/protocol.md, the local endpoint)."""

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
