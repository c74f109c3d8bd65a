"""The agent's durable answer journal (K4): answers are safe on the exam PC before anything
is acknowledged, with or without the network.

One append-only file per attempt, ``attempt-<id>.jsonl`` in the journal's directory, one
JSON record per line. Every record carries ``c``, the first 16 hex digits of the sha256 of
its canonical form without ``c``, so a damaged line is recognised. Records:

* ``{"t": "event", writer, seq, question_id, response, client_time, epoch, prev, hash, mono, boot, wall}``:
  an answer change, chained per writer exactly as the bridge chains it
  (``kiosk_agent.answer_pack.model``), with the agent's monotonic clock and boot id at the
  time it was journaled;
* ``{"t": "ack", writer, seq, head}``: the bridge acknowledged the writer up to ``seq``;
* ``{"t": "meta", data}``: what the pack manifest needs (exam_id, session_id,
  admission_number, seat, deadline, epoch…); later records update earlier ones;
* ``{"t": "clock", server_time, mono, boot}``: the bridge's time seen at that monotonic
  instant, which dates offline events on the bridge's clock (``at`` in a pack).

Durability: every call that writes returns only after ``fsync`` of the file (and, when the
file is new, of the directory). A power cut can leave a torn tail (a partial last line or
garbage after the last good record): it was never acknowledged, so it is ignored on reading
and cut off before the next write. A bad record followed by good ones is not a torn tail:
that attempt is *damaged*. Its records before the damage are read and can be uploaded and
exported as usual; ``damaged(attempt_id)`` names the file and line and lists the intact
records after the damage (never used silently, never deleted); the file is never written
again (``JournalCorrupt``; acks are then kept in memory only). Other attempts are not
affected. A full disk (or a file-size limit) raises ``JournalFull`` and leaves the earlier
records intact.

Thread-safe (one lock per journal); one process per directory.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from kiosk_agent.answer_pack import model as pack_model
from kiosk_agent.errors import JournalConflict, JournalCorrupt, JournalError, JournalFull, JournalInvalid

MAX_SEQ = 2**31 - 1
MAX_RESPONSE_BYTES = 64 * 1024
_WRITER_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
_FILE_RE = re.compile(r"^attempt-(\d+)\.jsonl$")
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
EVENT_FIELDS = ("writer", "seq", "question_id", "response", "client_time", "epoch")


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: anchors then hold for this process only
        return "proc-" + uuid.uuid4().hex


_BOOT = _boot_id()


def _checksum(record: dict) -> str:
    return hashlib.sha256(pack_model.canonical(record)).hexdigest()[:16]


def _line(record: dict) -> bytes:
    record = dict(record)
    record["c"] = _checksum(record)
    return pack_model.canonical(record) + b"\n"


def _parse_line(raw: bytes) -> dict | None:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("c"), str):
        return None
    c = record.pop("c")
    return record if c == _checksum(record) and record.get("t") in ("event", "ack", "meta", "clock") else None


class _Attempt:
    """One attempt's journal, as read from its file."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, int], dict] = {}
        self.order: dict[str, list[int]] = {}     # per writer, seqs in journal (= seq) order
        self.sequence: list[tuple[str, int]] = []  # every event's key, in journal order
        self.heads: dict[str, str] = {}           # per writer, the last hash
        self.acked: dict[str, dict[str, Any]] = {}
        self.ack_heads: dict[str, dict[int, str]] = {}  # per writer: every acked seq → the bridge's head then
        self.meta: dict[str, Any] = {}
        self.clocks: dict[str, dict[str, float]] = {}  # boot id → latest anchor
        self.length = 0                           # bytes of valid records
        self.torn_bytes = 0                       # garbage after them (cut off before the next write)
        self.damaged: dict[str, Any] | None = None  # a damaged record followed by intact ones (see Journal.damaged)

    def apply(self, record: dict) -> None:
        kind = record["t"]
        if kind == "event":
            key = (record["writer"], record["seq"])
            self.events[key] = record
            self.order.setdefault(record["writer"], []).append(record["seq"])
            self.sequence.append(key)
            self.heads[record["writer"]] = record["hash"]
        elif kind == "ack":
            self.acked[record["writer"]] = {"seq": record["seq"], "head": record["head"]}
            if record["seq"]:
                self.ack_heads.setdefault(record["writer"], {})[record["seq"]] = record["head"]
        elif kind == "meta":
            self.meta.update(record["data"])
        elif kind == "clock":
            self.clocks[record["boot"]] = {"server_time": record["server_time"], "mono": record["mono"]}


class Journal:
    """``Journal(directory)``; see the module docstring. ``fsync`` and ``write`` are the
    operating system's unless a unit test injects its own."""

    def __init__(self, directory: str | os.PathLike, *, fsync: Callable[[int], None] = os.fsync,
                 write: Callable[[int, bytes], int] = os.write,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.directory = Path(directory)
        self._fsync = fsync
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            self._sync_directory(self.directory.parent)  # the new directory's entry is durable too
        self._write = write
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._cache: dict[int, _Attempt] = {}
        _ignore_sigxfsz()

    # -- reading -----------------------------------------------------------------------
    def path(self, attempt_id: int) -> Path:
        return self.directory / f"attempt-{int(attempt_id)}.jsonl"

    def _state(self, attempt_id: int) -> _Attempt:
        state = self._cache.get(attempt_id)
        if state is None:
            state = self._load(attempt_id)
            self._cache[attempt_id] = state
        return state

    def _load(self, attempt_id: int) -> _Attempt:
        state = _Attempt()
        try:
            data = self.path(attempt_id).read_bytes()
        except FileNotFoundError:
            return state
        pos, bad_at, after = 0, None, []
        for number, raw in enumerate(data.split(b"\n"), start=1):
            end = pos + len(raw) + 1
            pos = end
            if end > len(data):  # the last piece has no newline: a torn write (or nothing)
                break
            record = _parse_line(raw)
            if record is None:
                bad_at = bad_at or number
                continue
            if bad_at is not None:  # an intact record after a damaged one: reported, not used
                after.append({"line": number, "t": record["t"],
                              **{k: record[k] for k in ("writer", "seq") if k in record}})
                continue
            state.apply(record)
            state.length = end
        state.torn_bytes = len(data) - state.length
        if after:
            state.damaged = {"file": str(self.path(attempt_id)), "line": bad_at,
                             "valid_before": len(state.sequence), "valid_after": len(after),
                             "events_after": [r for r in after if r["t"] == "event"][:100],
                             "size": len(data)}
        return state

    def damaged(self, attempt_id: int) -> dict[str, Any] | None:
        """For a damaged journal file (a bad record followed by intact ones): ``{file, line (the
        first bad one), valid_before (events read), valid_after (intact records after the
        damage, not used), events_after: [{line, t, writer, seq}...] (at most 100), size}``;
        None for a sound file."""
        with self._lock:
            damaged = self._state(attempt_id).damaged
            return None if damaged is None else dict(damaged)

    def attempts(self) -> list[int]:
        with self._lock:
            found = {int(m.group(1)) for p in self.directory.iterdir() if (m := _FILE_RE.match(p.name))}
            return sorted(found | {a for a, s in self._cache.items() if s.length})

    def high_water(self, attempt_id: int) -> dict[str, int]:
        with self._lock:
            state = self._state(attempt_id)
            return {w: max(seqs) for w, seqs in state.order.items() if seqs}

    def heads(self, attempt_id: int) -> dict[str, dict[str, Any]]:
        """Per writer: the highest seq journaled and the chain head (its hash)."""
        with self._lock:
            state = self._state(attempt_id)
            return {w: {"seq": max(seqs), "head": state.heads[w]} for w, seqs in state.order.items()}

    def seqs(self, attempt_id: int, writer: str, after_seq: int = 0) -> list[int]:
        """The writer's journaled seqs above ``after_seq``, in order."""
        with self._lock:
            return [s for s in self._state(attempt_id).order.get(writer, ()) if s > after_seq]

    def acked_head_at(self, attempt_id: int, writer: str, seq: int) -> str | None:
        """The head the bridge acknowledged for the writer's ``seq`` (None when it never
        acknowledged exactly that seq)."""
        with self._lock:
            return self._state(attempt_id).ack_heads.get(writer, {}).get(seq)

    def pending(self, attempt_id: int, writer: str, after_seq: int) -> list[dict]:
        """The writer's events with seq > ``after_seq``, in seq order, in the shape the
        bridge takes (writer, seq, question_id, response, client_time, epoch)."""
        with self._lock:
            state = self._state(attempt_id)
            seqs = sorted(s for s in state.order.get(writer, ()) if s > after_seq)
            return [{k: state.events[(writer, s)][k] for k in EVENT_FIELDS} for s in seqs]

    def records(self, attempt_id: int) -> list[dict]:
        """Every event in journal order, with its chain (``prev``, ``hash``) and ``at``: the
        bridge's time of journaling estimated from the newest clock anchor of the same boot
        (None without one). This is what goes into a pack."""
        with self._lock:
            state = self._state(attempt_id)
            out = []
            for key in state.sequence:
                event = state.events[key]
                anchor = state.clocks.get(event["boot"])
                at = None if anchor is None else round(anchor["server_time"] + event["mono"] - anchor["mono"], 3)
                out.append({**{k: event[k] for k in EVENT_FIELDS}, "prev": event["prev"], "hash": event["hash"],
                            "at": at})
            return out

    def acked(self, attempt_id: int) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {w: dict(a) for w, a in self._state(attempt_id).acked.items() if a["seq"]}

    def meta(self, attempt_id: int) -> dict[str, Any]:
        with self._lock:
            return dict(self._state(attempt_id).meta)

    def torn_bytes(self, attempt_id: int) -> int:
        """Bytes of a torn tail found on reading (0 when the file ended cleanly)."""
        with self._lock:
            return self._state(attempt_id).torn_bytes

    # -- writing -----------------------------------------------------------------------
    def append(self, attempt_id: int, events: list[dict]) -> list[int]:
        """Journal ``events`` (fsynced before returning); returns their seqs. A re-append of
        a journaled event is a no-op; the same (writer, seq) with another payload raises
        JournalConflict and nothing of the call is written. Within a writer, a new event's
        seq must be higher than every journaled one (the page counts up)."""
        attempt_id = _positive(attempt_id, "attempt_id")
        if not isinstance(events, list) or not events:
            raise JournalInvalid("events must be a non-empty list")
        with self._lock:
            state = self._state(attempt_id)
            heads = dict(state.heads)
            high = {w: max(s) for w, s in state.order.items() if s}
            new: list[dict] = []
            seen: dict[tuple[str, int], dict] = {}
            mono, wall = self._monotonic(), time.time()
            for event in events:
                clean = _check_event(event)
                key = (clean["writer"], clean["seq"])
                stored = state.events.get(key) or seen.get(key)
                if stored is not None:
                    if any(stored[k] != clean[k] for k in ("question_id", "response", "epoch")):
                        raise JournalConflict(f"writer {key[0]} seq {key[1]} is already journaled with another "
                                              "answer; the journaled one is kept (reload the exam page)")
                    continue
                if clean["seq"] <= high.get(clean["writer"], 0):
                    raise JournalInvalid(f"writer {key[0]} seq {key[1]} is older than seq {high[clean['writer']]} "
                                         "already journaled; events of a writer are journaled in seq order")
                prev = heads.get(clean["writer"])
                digest = pack_model.chain_event(prev, attempt_id, clean)
                record = {"t": "event", **clean, "prev": prev or "", "hash": digest, "mono": mono,
                          "boot": _BOOT, "wall": wall}
                heads[clean["writer"]] = digest
                high[clean["writer"]] = clean["seq"]
                seen[key] = record
                new.append(record)
            if new:
                self._write_records(attempt_id, state, new)
            return [e["seq"] for e in events]

    def mark_acked(self, attempt_id: int, writer: str, seq: int, head: str, *, force: bool = False) -> None:
        """Record that the bridge holds everything of ``writer`` up to ``seq``, its chain head
        then being ``head`` (durable; an ack older than the one recorded changes nothing).
        ``force`` records it even when lower (the bridge's own word in ``welcome.heads``;
        seq 0 then means it holds nothing of that writer). On a damaged file the ack is kept
        in memory only."""
        attempt_id = _positive(attempt_id, "attempt_id")
        if not (force and seq == 0 and type(seq) is int):
            seq = _positive(seq, "seq")
        if not isinstance(writer, str) or not _WRITER_RE.match(writer) or not isinstance(head, str):
            raise JournalInvalid("writer must be 1-64 of A-Z a-z 0-9 . _ : @ - and head a text")
        with self._lock:
            state = self._state(attempt_id)
            have = state.acked.get(writer, {}).get("seq", 0)
            same = have == seq and (seq == 0 or state.ack_heads.get(writer, {}).get(seq) == head)
            if same or have > seq and not force:
                return
            record = {"t": "ack", "writer": writer, "seq": seq, "head": head}
            if state.damaged is not None:
                state.apply(record)
                return
            self._write_records(attempt_id, state, [record])

    def set_meta(self, attempt_id: int, data: dict) -> None:
        """Merge ``data`` into the attempt's metadata (durable). Keys the pack manifest uses:
        exam_id, session_id, admission_number, seat, deadline, epoch."""
        attempt_id = _positive(attempt_id, "attempt_id")
        if not isinstance(data, dict):
            raise JournalInvalid("meta must be an object")
        try:
            pack_model.canonical(data)
        except (TypeError, ValueError):
            raise JournalInvalid("meta must be plain JSON") from None
        with self._lock:
            state = self._state(attempt_id)
            self._write_records(attempt_id, state, [{"t": "meta", "data": data}])

    def note_server_time(self, attempt_id: int, server_time: float) -> None:
        """Anchor the bridge's clock (``server_time`` from welcome or a heartbeat ack) to this
        instant of the monotonic clock; events of the same boot are then dated on the
        bridge's clock in a pack. Call it once per connection, not per heartbeat."""
        attempt_id = _positive(attempt_id, "attempt_id")
        if type(server_time) not in (int, float):
            raise JournalInvalid("server_time must be seconds since the epoch")
        with self._lock:
            state = self._state(attempt_id)
            self._write_records(attempt_id, state, [{"t": "clock", "server_time": float(server_time),
                                                     "mono": self._monotonic(), "boot": _BOOT}])

    def wipe(self, attempt_id: int) -> None:
        """Delete the attempt's journal (only once the bridge holds everything: the caller checks)."""
        with self._lock:
            self._cache.pop(int(attempt_id), None)
            try:
                self.path(attempt_id).unlink()
            except FileNotFoundError:
                return
            self._sync_directory()

    def export_pack(self, attempt_id: int, *, device_private_key, bridge_public_key, kiosk_id: int | None = None,
                    agent_version: str | None = None, created: float | None = None) -> bytes:
        """The ``.epack`` bytes of this attempt (see kiosk_agent.answer_pack). Needs
        ``exam_id`` and ``session_id`` in the meta."""
        from kiosk_agent.answer_pack import PackError, build_pack

        with self._lock:
            meta = self.meta(attempt_id)
            missing = [k for k in ("exam_id", "session_id") if meta.get(k) is None]
            if missing:
                raise JournalError(f"attempt {attempt_id}: the journal's meta lacks {', '.join(missing)}")
            manifest = {"exam_id": meta["exam_id"], "session_id": meta["session_id"], "attempt_id": int(attempt_id),
                        "created": time.time() if created is None else created,
                        "admission_number": meta.get("admission_number"), "seat": meta.get("seat"),
                        "deadline": meta.get("deadline"), "epoch": meta.get("epoch"), "kiosk_id": kiosk_id,
                        "agent_version": agent_version, "acked": self.acked(attempt_id)}
            try:
                return build_pack(manifest=manifest, events=self.records(attempt_id),
                                  device_private_key=device_private_key, bridge_public_key=bridge_public_key)
            except (PackError, ValueError, TypeError) as exc:  # a bad key or a broken chain
                raise JournalError(f"attempt {attempt_id}: cannot build the answer pack: {exc}") from None

    # -- the file ----------------------------------------------------------------------
    def _write_records(self, attempt_id: int, state: _Attempt, records: list[dict]) -> None:
        path = self.path(attempt_id)
        if state.damaged is not None:  # writing would cut off the intact records after the damage
            raise JournalCorrupt(f"{path} is damaged at line {state.damaged['line']} and is kept as it is for the "
                                 f"proctor: nothing more is journaled for attempt {attempt_id} on this PC (the exam "
                                 "page saves straight to the server)")
        data = b"".join(_line(r) for r in records)
        created = not path.exists()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as exc:
            raise self._os_error(exc, path) from None
        try:
            if state.torn_bytes or os.fstat(fd).st_size != state.length:
                os.ftruncate(fd, state.length)  # cut a torn tail off before writing after it
            os.lseek(fd, state.length, os.SEEK_SET)
            view = memoryview(data)
            try:
                while view:
                    written = self._write(fd, view)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, "no space written")
                    view = view[written:]
                self._fsync(fd)
            except OSError as exc:
                _restore(fd, state.length, self._fsync)
                raise self._os_error(exc, path) from None
        finally:
            os.close(fd)
        if created:
            self._sync_directory()
        state.length += len(data)
        state.torn_bytes = 0
        for record in records:
            state.apply(record)

    def _sync_directory(self, directory: Path | None = None) -> None:
        if os.name == "nt":  # Windows cannot open a directory for fsync; NTFS journals metadata
            return
        fd = os.open(directory or self.directory, os.O_RDONLY)
        try:
            self._fsync(fd)
        finally:
            os.close(fd)

    def _os_error(self, exc: OSError, path: Path) -> JournalError:
        if exc.errno in _FULL_ERRNOS:
            return JournalFull(f"the disk holding {self.directory} is full: the last answer was NOT saved on this "
                               "PC (earlier answers are safe); free space or call the proctor")
        return JournalError(f"cannot write {path}: {exc.strerror or exc}")


def _restore(fd: int, length: int, fsync: Callable[[int], None]) -> None:
    """Cut a partial write back off, so the file ends at the last whole record."""
    try:
        os.ftruncate(fd, length)
        fsync(fd)
    except OSError:
        pass  # a torn tail left behind is ignored on reading


def _ignore_sigxfsz() -> None:
    """A file-size limit must surface as JournalFull (EFBIG), not kill the agent."""
    sig = getattr(signal, "SIGXFSZ", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_IGN)
    except (ValueError, OSError):
        pass


def _positive(value: Any, name: str) -> int:
    if type(value) is not int or not 1 <= value <= MAX_SEQ:
        raise JournalInvalid(f"{name} must be a positive whole number")
    return value


def _check_event(event: Any) -> dict:
    if not isinstance(event, dict) or set(event) - set(EVENT_FIELDS):
        raise JournalInvalid("each event is an object with writer, seq, question_id, response, client_time, epoch")
    clean = {name: event.get(name) for name in EVENT_FIELDS}
    if not isinstance(clean["writer"], str) or not _WRITER_RE.match(clean["writer"]):
        raise JournalInvalid("the writer must be 1 to 64 letters, digits or . _ : @ -")
    _positive(clean["seq"], "seq")
    _positive(clean["question_id"], "question_id")
    if clean["epoch"] is not None:
        _positive(clean["epoch"], "epoch")
    if not isinstance(clean["response"], dict):
        raise JournalInvalid("the response must be a JSON object")
    try:
        size = len(pack_model.canonical(clean["response"]))
    except (TypeError, ValueError):
        raise JournalInvalid("the response is not valid JSON") from None
    if size > MAX_RESPONSE_BYTES:
        raise JournalInvalid("the answer is too large (more than 64 KiB)")
    ct = clean["client_time"]
    if ct is not None and (type(ct) not in (int, float) or ct != ct or abs(ct) > 1e13):
        raise JournalInvalid("client_time must be a number of seconds")
    return clean
