"""Answer uploads: the journal's events go to the bridge in ``events`` messages.

Per (attempt, writer): seq order, at most ``MAX_BATCH`` events and ``MAX_BATCH_BYTES`` per
message and ``WINDOW`` messages in flight, each seq sent once per connection. ``resync`` after every ``welcome``
starts each writer again from the bridge's head (``welcome.heads``: the bridge holds
everything up to that seq; for attempts it does not name, from the journal's own acks). The
bridge is idempotent on (attempt, writer, seq), so a resend after a reconnect is harmless
and nothing is lost.

The journal's acked mark means the same as the bridge's head: everything up to it is
stored. It advances only over the unbroken run of acknowledged seqs (in the journal's seq
order): an ack for 7 while 6 was refused for a while or never answered marks nothing past 5,
and 6 (with what follows) is sent again.

One attempt's trouble stays with that attempt: a damaged journal file is reported once
(``on_damaged``) and its sound part still uploaded; a journal that cannot be read at all is
reported and skipped, and the other attempts go on.

The worker thread alone calls this class; ``send(type, payload)`` returns the message id,
or None when the socket is gone.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

from kiosk_agent import protocol as P
from kiosk_agent.journal import Journal
from kiosk_agent.errors import JournalError

log = logging.getLogger("kiosk_agent")
MAX_BATCH = P.MAX_EVENTS
#: Encoded size at most per ``events`` message: well under the 1 MiB message limit, and one
#: event (at most 64 KiB of response) always fits, so large essays never make a message the
#: bridge must refuse (it would close the socket, and the same batch would come back forever).
MAX_BATCH_BYTES = 512 * 1024
WINDOW = 4
RETRY_SECONDS = 5.0
#: Per-event errors worth sending again later (the bridge was busy, the attempt is locked
#: for now); every other error is final for that event and shown to the page.
RETRY_CODES = frozenset({"unavailable", "locked", "overloaded"})


class Uploader:
    def __init__(self, journal: Journal, tokens: Callable[[], dict], send: Callable[[str, dict], str | None],
                 on_final_error: Callable[[int, str], None] = lambda attempt_id, code: None,
                 on_damaged: Callable[[int, dict], None] = lambda attempt_id, detail: None):
        self.journal, self._tokens, self._send, self._on_final_error = journal, tokens, send, on_final_error
        self._on_damaged = on_damaged
        self.damaged: dict[int, dict] = {}               # attempts reported as damaged or unreadable
        self.acked_above: dict[tuple[int, str], dict[int, str]] = {}  # acks past a gap: seq → head
        self.inflight: dict[str, tuple[int, str, list[int]]] = {}
        self.sent_upto: dict[tuple[int, str], int] = {}
        self.blocked: dict[tuple[int, str], float] = {}
        self.rejected: dict[int, list[dict]] = {}
        self.bad_tokens: dict[tuple[int, str], str] = {}  # refused forward tokens, until the page gives another

    # --- connection events ----------------------------------------------------------------
    def disconnected(self) -> None:
        self.inflight.clear()

    def resync(self, heads: Any, server_time: Any) -> None:
        """After ``welcome``: start each writer again from the bridge's head for it."""
        self.inflight.clear()
        self.sent_upto.clear()
        self.blocked.clear()
        self.acked_above.clear()
        heads = heads if isinstance(heads, dict) else {}
        for attempt_id in self._attempts():
            try:
                self._resync_attempt(attempt_id, heads.get(str(attempt_id)), server_time)
            except (JournalError, OSError) as exc:
                self._unreadable(attempt_id, exc)

    def _resync_attempt(self, attempt_id: int, bridge: Any, server_time: Any) -> None:
        high = self.journal.high_water(attempt_id)
        if type(server_time) in (int, float) and high and self.journal.damaged(attempt_id) is None:
            try:
                self.journal.note_server_time(attempt_id, server_time)
            except JournalError as exc:
                log.warning("cannot note the server time: %s", exc)
        local = self.journal.acked(attempt_id)
        for writer in high:
            if isinstance(bridge, dict):  # the bridge's word: it holds everything up to seq (0: nothing)
                head = bridge.get(writer)
                seq = head.get("seq") if isinstance(head, dict) else None
                if type(seq) is int and seq > 0 and isinstance(head.get("head"), str):
                    self._mark_acked(attempt_id, writer, seq, head["head"], force=True)
                elif head is None and writer in local:
                    self._mark_acked(attempt_id, writer, 0, "", force=True)
                self.sent_upto[(attempt_id, writer)] = seq if type(seq) is int and seq > 0 else 0
            else:
                self.sent_upto[(attempt_id, writer)] = local.get(writer, {}).get("seq", 0)

    # --- the bridge's answers --------------------------------------------------------------
    def on_acks(self, ref: str, acks: Any) -> bool:
        """Record an ``acks`` message; False when it answers nothing of ours."""
        entry = self.inflight.pop(ref, None)
        if entry is None:
            return False
        attempt_id, writer, sent = entry
        stored = self.acked_above.setdefault((attempt_id, writer), {})
        answered: set[int] = set()
        retry_from = None
        for ack in acks if isinstance(acks, list) else ():
            if not isinstance(ack, dict) or type(ack.get("seq")) is not int or ack["seq"] not in sent:
                continue  # an ack for something this message did not carry says nothing
            seq = ack["seq"]
            answered.add(seq)
            if isinstance(ack.get("head"), str):
                stored[seq] = ack["head"]
            elif "error" in ack:
                code = ack.get("error")
                if code in RETRY_CODES:
                    retry_from = seq if retry_from is None else min(retry_from, seq)
                else:
                    self._reject(attempt_id, writer, seq, code, ack.get("message"))
                    self._on_final_error(attempt_id, code)
        missing = [seq for seq in sent if seq not in answered]
        if missing:  # the bridge's answer lost some: they go again (with what follows them)
            log.warning("the bridge did not answer attempt %s writer %s seqs %s; sending them again", attempt_id,
                        writer, missing[:10])
            retry_from = min(missing) if retry_from is None else min(retry_from, min(missing))
        self._advance(attempt_id, writer)
        if retry_from is not None:
            self._retry_later(attempt_id, writer, retry_from)
        return True

    def _advance(self, attempt_id: int, writer: str) -> None:
        """Move the journal's acked mark over the unbroken run of acknowledged seqs."""
        key = (attempt_id, writer)
        stored = self.acked_above.get(key)
        if not stored:
            return
        try:
            base = self.journal.acked(attempt_id).get(writer, {}).get("seq", 0)
            upto = None
            for seq in self.journal.seqs(attempt_id, writer, base):
                if seq not in stored:
                    break
                upto = seq
        except (JournalError, OSError) as exc:
            self._unreadable(attempt_id, exc)
            return
        if upto is not None:
            self._mark_acked(attempt_id, writer, upto, stored[upto])
            base = upto
        self.acked_above[key] = {s: h for s, h in stored.items() if s > base}

    def on_error(self, ref: str, code: str, message: str) -> None:
        """An ``error`` answering one of our ``events`` messages: send it again later, or,
        for a refused forward token, once the page has handed over another one."""
        entry = self.inflight.pop(ref, None)
        if entry is None:
            return
        attempt_id, writer, seqs = entry
        self._retry_later(attempt_id, writer, min(seqs))
        if code == "bad_token":
            self.bad_tokens[(attempt_id, writer)] = self._tokens().get(str(attempt_id), {}).get(writer, "")
            self._reject(attempt_id, writer, None, code, message)

    def errors(self, attempt_id: int) -> list[dict]:
        return list(self.rejected.get(attempt_id, ()))[-10:]

    def forget(self, attempt_id: int) -> None:
        self.rejected.pop(attempt_id, None)
        self.damaged.pop(attempt_id, None)
        for key in [k for k in self.acked_above if k[0] == attempt_id]:
            self.acked_above.pop(key, None)
        for key in [k for k in self.sent_upto if k[0] == attempt_id]:
            self.sent_upto.pop(key, None)

    # --- sending ---------------------------------------------------------------------------
    def due(self, now: float) -> bool:
        """Whether a paused writer may be tried again (then call ``pump``)."""
        if self.blocked and any(until <= now for until in self.blocked.values()):
            self.blocked = {k: v for k, v in self.blocked.items() if v > now}
            return True
        return False

    def pump(self) -> None:
        """Send what the bridge has not acknowledged, per writer in seq order."""
        now = time.monotonic()
        tokens_by_attempt = self._tokens()
        for attempt_id in self._attempts():
            try:
                if not self._pump_attempt(attempt_id, tokens_by_attempt.get(str(attempt_id), {}), now):
                    return  # the socket is gone
            except (JournalError, OSError) as exc:
                self._unreadable(attempt_id, exc)

    def _pump_attempt(self, attempt_id: int, tokens: dict, now: float) -> bool:
        acked = None
        for writer, top in self.journal.high_water(attempt_id).items():
            key = (attempt_id, writer)
            if self.blocked.get(key, 0) > now:
                continue
            if key not in self.sent_upto:
                acked = acked if acked is not None else self.journal.acked(attempt_id)
                self.sent_upto[key] = acked.get(writer, {}).get("seq", 0)
            token = tokens.get(writer)
            if top <= self.sent_upto[key] or token is None or self.bad_tokens.get(key) == token:
                continue
            flying = sum(1 for a, w, _ in self.inflight.values() if (a, w) == key)
            if flying >= WINDOW:
                continue
            pending = self.journal.pending(attempt_id, writer, self.sent_upto[key])
            while pending and flying < WINDOW:
                batch, pending = take_batch(pending)
                sent = self._send(P.EVENTS, {"attempt_id": attempt_id, "token": token, "events": batch})
                if sent is None:
                    return False
                seqs = [e["seq"] for e in batch]
                self.inflight[sent] = (attempt_id, writer, seqs)
                self.sent_upto[key] = seqs[-1]
                flying += 1
        return True

    def check(self) -> None:
        """Report every damaged journal file now (start-up)."""
        try:
            self._attempts()
        except OSError as exc:  # the journal directory itself
            log.error("cannot list the journal: %s", exc)

    def _attempts(self) -> list[int]:
        """The journal's attempts; each damaged one is reported once (its sound part still goes)."""
        found = self.journal.attempts()
        for attempt_id in found:
            if attempt_id in self.damaged:
                continue
            try:
                damaged = self.journal.damaged(attempt_id)
            except (JournalError, OSError) as exc:
                self._unreadable(attempt_id, exc)
                continue
            if damaged is not None:
                self.damaged[attempt_id] = damaged
                self._on_damaged(attempt_id, damaged)
        return found

    def _unreadable(self, attempt_id: int, exc: Exception) -> None:
        if attempt_id not in self.damaged:
            self.damaged[attempt_id] = {"error": str(exc)}
            self._on_damaged(attempt_id, {"error": str(exc)})

    # --- helpers ---------------------------------------------------------------------------
    def _mark_acked(self, attempt_id: int, writer: str, seq: int, head: str, *, force: bool = False) -> None:
        try:
            self.journal.mark_acked(attempt_id, writer, seq, head, force=force)
        except (JournalError, OSError) as exc:
            log.warning("cannot record the ack of attempt %s writer %s seq %s: %s", attempt_id, writer, seq, exc)

    def _retry_later(self, attempt_id: int, writer: str, from_seq: int) -> None:
        key = (attempt_id, writer)
        self.sent_upto[key] = min(self.sent_upto.get(key, 0), from_seq - 1)
        self.blocked[key] = time.monotonic() + RETRY_SECONDS

    def _reject(self, attempt_id: int, writer: str, seq: Any, code: str, message: Any) -> None:
        errors = self.rejected.setdefault(attempt_id, [])
        errors.append({"writer": writer, "seq": seq, "error": code, "message": message})
        del errors[:-50]
        log.warning("the bridge refused attempt %s writer %s seq %s: %s %s", attempt_id, writer, seq, code, message)


def take_batch(pending: list[dict]) -> tuple[list[dict], list[dict]]:
    """The next message's events (at least one, at most ``MAX_BATCH`` events and about
    ``MAX_BATCH_BYTES`` encoded) and the rest, in seq order."""
    size, count = 0, 0
    for event in pending[:MAX_BATCH]:
        size += len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) + 1
        if count and size > MAX_BATCH_BYTES:
            break
        count += 1
    return pending[:count], pending[count:]
