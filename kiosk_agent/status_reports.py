"""What the agent tells the bridge unasked: heartbeats with the PC's status (seat, attempt,
journal positions, free disk, battery, focus) and reports (lockdown findings, low disk, a
damaged journal), queued while offline and flushed once welcomed. A mixin of
``agent.Agent``, kept apart from the message handling because these are sent on the
worker's timer, not in answer to the bridge.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from kiosk_agent import protocol as P
from kiosk_agent.envcheck import free_disk_mb

log = logging.getLogger("kiosk_agent")
DISK_LOW_MB = 200


def battery_pct() -> int | None:
    base = Path("/sys/class/power_supply")
    try:
        for entry in sorted(base.iterdir()):
            if entry.name.startswith("BAT"):
                return int((entry / "capacity").read_text().strip())
    except (OSError, ValueError):
        pass
    return None


class StatusReports:
    """The agent's heartbeats and reports to the bridge."""

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
