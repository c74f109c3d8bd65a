"""Importing answer packs (K5, P6; DESIGN "Answer pack"; docs/answer-pack.md).

``import_pack(writer_or_session, data, actor=, secret_key=, allow_unregistered=False, reason="")`` verifies a
``.epack`` file and merges its events into the attempt's stream:

1. A file imported before (same sha256) is reported ``already_imported``; nothing changes.
2. The pack must open with one of this bridge's pack keys (signature, key, format: else
   ``PackRejected`` saying what is wrong), name an attempt of this bridge in the session and
   exam its manifest states, and that attempt must not be voided. The device key must be a
   registered kiosk's (the one the manifest names, when it names one), and that kiosk must
   be known to have carried the attempt (``forwarding.carried``: it forwarded events for it
   with a valid forward token; a heartbeat naming the attempt is the kiosk's own word and
   does not count). Otherwise the pack is refused, unless a proctor overrides with
   ``allow_unregistered=True`` and a ``reason``: the override is audited
   (``pack.import_override``: who, why, the device key). A carried pack's events are
   stamped with the newest epoch the kiosk proved (its binding), never newer: after a
   resume the old seat's pack is stored fenced, whatever epoch its events name.
3. Every event goes through ``answers.append`` (idempotent on (attempt, writer, seq): a
   stored event is a duplicate, never overwritten; a reused key with another payload is a
   logged conflict), in jobs of the group writer of at most ``CHUNK_EVENTS`` events, one
   savepoint per event. The bridge decides from its own stream, never from the kiosk's
   ``manifest.acked`` (kept in the format, it grants nothing): every event the bridge does
   not hold is the offline tail, taken only if
   * the chain continues from what the bridge stores: the event before it in the pack is
     stored here with the hash the event names as ``prev`` (or was taken just before it by
     this import; the writer's first event continues the empty chain), and
   * it was made before the deadline (its ``at``, the bridge's clock as the agent's
     monotonic clock carried it, else its client time).
   Accepted tail events are flagged for the proctor: a ``pack_offline_tail`` line in the
   attempt's log.
4. The import is recorded (``pack_imports``: sha256, manifest, counts, actor, time) and
   audited. A pack older than one already imported adds nothing (its events are all
   stored) and the report says so.

``answers.append`` still refuses new events once the attempt is submitted or its deadline
has passed (plus grace), so a tail imported after that is reported as refused with append's
reason: collect packs before the deadline sweeper closes the attempt.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from bridge import clock
from bridge.errors import DomainError, Invalid
from bridge.i18n import N_
from bridge.models.attempts import AnswerEvent, Attempt, AttemptLog
from bridge.models.packs import PackImport
from bridge.models.devices import Kiosk
from bridge.services import audit
from bridge.services.delivery import answers, pack_keys
from bridge.services.delivery import forwarding
from kiosk_agent.answer_pack import PackError, open_pack
from kiosk_agent.answer_pack.codec import unb64url

log = logging.getLogger(__name__)

MAX_PACK_BYTES = 80 * 1024 * 1024
CHUNK_EVENTS = 200  # events per group-writer job: a large pack never holds up autosaves for long


class PackRejected(Invalid):
    """Nothing of the pack was imported; ``message`` says why, ``detail`` the codec's words."""

    code = "pack_rejected"


_CODEC_MESSAGES = {
    "not_a_pack": N_("This file is not an answer pack (.epack)."),
    "truncated": N_("The answer pack is truncated: copy it from the kiosk again."),
    "unsupported_version": N_("This answer pack's format version is not supported by this bridge: update the "
                              "bridge or export the pack again."),
    "signature_invalid": N_("The answer pack was changed after the kiosk made it (its signature or encryption "
                            "does not verify); it is refused."),
    "foreign_key": N_("This answer pack is sealed to another bridge's key: import it on the bridge the kiosk "
                      "was connected to."),
    "malformed": N_("The answer pack's content is invalid: the agent that made it is faulty."),
}


@dataclass
class PackReport:
    status: str            # imported | already_imported
    sha256: str
    attempt_id: int
    kiosk_id: int | None
    accepted: int = 0      # events stored by this import
    duplicate: int = 0     # events the bridge already held
    refused: int = 0       # events not stored (reason in messages)
    flagged: int = 0       # offline-tail events among the accepted ones
    older: bool = False    # no newer than a pack imported before
    override: str | None = None  # the proctor's reason when an unregistered/unbound device was let in
    messages: list[str] = field(default_factory=list)
    tail: dict[str, list[int]] = field(default_factory=dict)  # writer → seqs of the flagged offline tail

    def add(self, part: "_Part") -> None:
        self.accepted += part.accepted
        self.duplicate += part.duplicate
        self.refused += part.refused
        self.flagged += part.flagged
        for writer, seqs in part.tail.items():
            self.tail.setdefault(writer, []).extend(seqs)
        self.messages.extend(part.messages)

    def lines(self) -> list[str]:
        head = ("already imported: nothing changed" if self.status == "already_imported"
                else f"imported pack {self.sha256[:12]}")
        out = [f"{head} (attempt {self.attempt_id}, kiosk {self.kiosk_id if self.kiosk_id is not None else '-'})",
               f"accepted {self.accepted}, duplicate {self.duplicate}, refused {self.refused}, "
               f"offline tail flagged {self.flagged}"]
        return out + [f"- {m}" for m in self.messages]


# --- entry point ----------------------------------------------------------------------------
@dataclass
class _Plan:
    """What the opening job found, as plain values for the merging jobs."""

    digest: str
    attempt_id: int
    manifest: dict
    events: list[dict]
    limit: float | None  # the deadline plus grace, seconds since the epoch
    proven: int | None = None  # the newest epoch the kiosk's binding proves (None: an override)

    def chunks(self, size: int):
        """(writer, seq of the pack's event before the piece or None, events) per writer, in
        pieces of at most ``size`` events."""
        for writer in self.manifest["writers"]:
            mine = [e for e in self.events if e["writer"] == writer]
            for start in range(0, len(mine), size):
                yield writer, mine[start - 1]["seq"] if start else None, mine[start:start + size]


def import_pack(session_or_writer: Any, data: bytes, *, actor: str, secret_key: str | None = None,
                allow_unregistered: bool = False, reason: str = "") -> PackReport:
    """Verify and merge one pack; see the module docstring. Raises PackRejected.

    ``allow_unregistered`` (with a ``reason``, both audited) is the proctor's override for a
    pack signed by a device that is no registered kiosk, or by a kiosk not known to have
    carried the attempt.

    With a Session everything runs in that session (the caller commits: one unit of work).
    With the app's group writer (``bridge.runtime.writer.get_writer``; anything with
    ``submit(fn, *args)``) the work runs on it as several short jobs: open and
    check; merge at most ``CHUNK_EVENTS`` events per job (so the autosaves of a running exam
    are never held up by a large pack for more than one chunk); record. Should the process
    stop in between, importing the file again finishes the job: the events already merged
    count as duplicates."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_PACK_BYTES:
        raise PackRejected(N_("An answer pack is a file of at most 80 MiB."))
    data = bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    override = None
    if allow_unregistered:
        override = (reason or "").strip()[:500]
        if not override:
            raise PackRejected(N_("Importing a pack from an unregistered or unbound device needs a reason."))
    secret = pack_keys._secret(secret_key)
    if isinstance(session_or_writer, (Session, scoped_session)):
        return merge(session_or_writer, data, digest, actor=actor, secret_key=secret, override=override)
    writer = session_or_writer
    try:
        keys = writer.submit(_keys_unless_imported, digest, secret)
        if isinstance(keys, PackReport):
            return keys
        manifest, events = _decode(data, keys)  # the CPU-heavy part, off the writer
        report, plan = writer.submit(_check, digest, manifest, events, override)
    except PackRejected as exc:
        writer.submit(_audit_refusal, digest, actor, exc.message, exc.detail)
        raise
    for writer_name, before, events in plan.chunks(CHUNK_EVENTS):
        part = writer.submit(_merge_chunk, plan.attempt_id, writer_name, before, events, plan.limit, plan.proven)
        report.add(part)
    try:
        return writer.submit(_finish, plan, report, actor)
    except IntegrityError:  # another worker recorded the same file meanwhile
        return writer.submit(_already, digest)


def merge(session: Session, data: bytes, digest: str, actor: str = "", secret_key: str | None = None,
          override: str | None = None) -> PackReport:
    """The whole import as one unit of work in ``session``."""
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite opens its transaction only at the first write: a SAVEPOINT before it would
        # be the outermost transaction and its RELEASE a commit. Write first (as audit does).
        session.execute(text("UPDATE pack_imports SET id = id WHERE 0"))
    opened = _open(session, data, digest, secret_key, override)
    if isinstance(opened, PackReport):
        return opened
    report, plan = opened
    for writer_name, before, events in plan.chunks(len(plan.events) or 1):
        report.add(_merge_chunk(session, plan.attempt_id, writer_name, before, events, plan.limit, plan.proven))
    return _finish(session, plan, report, actor)


def _audit_refusal(session: Session, digest: str, actor: str, message: str, detail: str | None) -> None:
    audit.record(session, "pack.import", actor=actor, target=f"pack:{digest[:16]}", outcome="refused",
                 detail={"sha256": digest, "message": message, "detail": detail})


def _already(session: Session, digest: str) -> PackReport | None:
    done = session.scalars(select(PackImport).where(PackImport.sha256 == digest)).first()
    if done is None:
        return None
    return PackReport("already_imported", digest, done.attempt_id, done.kiosk_id,
                      messages=[f"this file was imported on {done.imported_at:%Y-%m-%d %H:%M} UTC by "
                                f"{done.actor or 'unknown'}; importing it again is harmless"])


def _keys_unless_imported(session: Session, digest: str,
                          secret_key: str | None) -> PackReport | dict[str, Any]:
    """Job 1 (app path): a report if the file was imported before, else the pack keys."""
    return _already(session, digest) or pack_keys.private_keys(session, secret_key)


def _decode(data: bytes, keys: dict[str, Any]) -> tuple[dict, list[dict]]:
    try:
        return open_pack(data, keys)
    except PackError as exc:
        raise PackRejected(_CODEC_MESSAGES.get(exc.code, _CODEC_MESSAGES["malformed"]), detail=str(exc)) from None


def _open(session: Session, data: bytes, digest: str, secret_key: str | None,
          override: str | None = None) -> PackReport | tuple[PackReport, _Plan]:
    """A report if the file was imported before; else open and check the pack."""
    done = _already(session, digest)
    if done is not None:
        return done
    manifest, events = _decode(data, pack_keys.private_keys(session, secret_key))
    return _check(session, digest, manifest, events, override)


def _check(session: Session, digest: str, manifest: dict, events: list[dict],
           override: str | None = None) -> tuple[PackReport, _Plan]:
    """Job 2 (app path): the attempt, the kiosk and earlier imports of this attempt."""
    attempt = _check_attempt(session, manifest)
    report = PackReport("imported", digest, attempt.id, manifest.get("kiosk_id"))
    proven = _check_kiosk(session, manifest, report, override)
    earlier = list(session.scalars(select(PackImport).where(PackImport.attempt_id == attempt.id)
                                   .order_by(PackImport.id)))
    report.older = bool(earlier) and _not_newer(manifest, earlier)
    if report.older:
        report.messages.append("this pack is not newer than a pack imported before for this attempt: "
                               "nothing older overwrites newer")
    deadline = attempt.deadline_at
    limit = None if deadline is None else (deadline.replace(tzinfo=dt.timezone.utc).timestamp()
                                           + answers.DEADLINE_GRACE_SECONDS)
    return report, _Plan(digest, attempt.id, manifest, events, limit, proven)


# --- checks -------------------------------------------------------------------------------
def _check_attempt(session: Session, manifest: dict) -> Attempt:
    attempt = session.get(Attempt, manifest["attempt_id"])
    if attempt is None:
        raise PackRejected(N_("This answer pack is for an attempt this bridge does not have: import it on the "
                              "bridge that ran the exam."), detail=f"attempt {manifest['attempt_id']}")
    if attempt.session_id != manifest["session_id"] or attempt.exam_id != manifest["exam_id"]:
        raise PackRejected(N_("This answer pack belongs to another exam session than its attempt: it is refused."),
                           detail=f"pack: exam {manifest['exam_id']} session {manifest['session_id']}; attempt "
                                  f"{attempt.id}: exam {attempt.exam_id} session {attempt.session_id}")
    if attempt.status == "voided":
        raise PackRejected(N_("This answer pack is for a voided attempt (the candidate was re-examined): it is "
                              "refused."), detail=f"attempt {attempt.id}")
    return attempt


def _same_key(a: str | None, b: str | None) -> bool:
    try:
        return a is not None and b is not None and unb64url(a) == unb64url(b)
    except ValueError:
        return False


def _check_kiosk(session: Session, manifest: dict, report: PackReport, override: str | None) -> int | None:
    """The device key must be a registered kiosk's (the named one's, when the manifest names a
    registered kiosk) and that kiosk must have carried the attempt; else refused, unless the
    proctor overrides (``override`` is the reason). Returns the newest epoch the kiosk's
    binding proves (None on an override)."""
    device_key = manifest["device_key"]
    kiosk_id = manifest.get("kiosk_id")
    kiosk = session.get(Kiosk, kiosk_id) if type(kiosk_id) is int else None
    if kiosk is not None and not _same_key(kiosk.public_key, device_key):
        raise PackRejected(N_("This answer pack was signed by another device than the kiosk it names: it "
                              "is refused."), detail=f"kiosk {kiosk_id}")
    if kiosk is None:
        kiosk = session.scalars(select(Kiosk).where(Kiosk.public_key.in_(
            {device_key, device_key + "=" * (-len(device_key) % 4)}))).first()
        if kiosk is not None:
            report.kiosk_id = kiosk.id
            if kiosk_id is not None and kiosk_id != kiosk.id:
                report.messages.append(f"the pack names kiosk {kiosk_id} but was signed by kiosk {kiosk.id}'s key")
    if kiosk is None:
        if override is None:
            raise PackRejected(N_("This answer pack was signed by a device that is not a registered kiosk of this "
                                  "bridge: it is refused unless a proctor imports it with a reason."),
                               detail=f"kiosk {kiosk_id if kiosk_id is not None else '(none)'}, "
                                      f"device key {device_key}")
        report.override = override
        report.messages.append(f"kiosk {kiosk_id if kiosk_id is not None else '(none)'} is not registered here: "
                               f"imported on the proctor's override ({override}); its device key {device_key} is "
                               "recorded with this import")
        return None
    bound = forwarding.bound_epochs(session, kiosk.id, report.attempt_id)
    if not bound:
        if override is None:
            raise PackRejected(N_("This answer pack comes from a kiosk that is not known to have carried this "
                                  "attempt: it is refused unless a proctor imports it with a reason."),
                               detail=f"kiosk {kiosk.id}, attempt {report.attempt_id}")
        report.override = override
        report.messages.append(f"kiosk {kiosk.id} is not known to have carried this attempt: imported on the "
                               f"proctor's override ({override})")
        return None
    return bound[-1]


def _not_newer(manifest: dict, earlier: list[PackImport]) -> bool:
    """True when every writer's head seq in this pack is at most what an earlier pack had."""
    seen: dict[str, int] = {}
    for row in earlier:
        for writer, head in (row.manifest.get("heads") or {}).items():
            seen[writer] = max(seen.get(writer, 0), int(head.get("seq", 0)))
    return all(head["seq"] <= seen.get(writer, 0) for writer, head in manifest["heads"].items())


# --- the merge ------------------------------------------------------------------------------
def _stored(session: Session, attempt_id: int, writer: str) -> dict[int, str]:
    return dict(session.execute(select(AnswerEvent.seq, AnswerEvent.hash)
                                .where(AnswerEvent.attempt_id == attempt_id, AnswerEvent.writer == writer)).all())


@dataclass
class _Part:
    accepted: int = 0
    duplicate: int = 0
    refused: int = 0
    flagged: int = 0
    tail: dict[str, list[int]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


def _merge_chunk(session: Session, attempt_id: int, writer: str, before: int | None, events: list[dict],
                 limit: float | None, proven: int | None = None) -> _Part:
    """Job 3 (repeated): merge some events of one writer (``before``: the seq of the pack's
    event before them); see the module docstring."""
    part = _Part()
    stored = _stored(session, attempt_id, writer)  # seq -> hash, as the bridge holds it
    broken: list[int] = []  # tail events whose chain does not continue from the bridge's
    broken_at: str | None = None
    late: list[int] = []
    for event in events:
        previous, before = before, event["seq"]
        if event["seq"] in stored:  # the bridge holds it: a duplicate or a logged conflict
            _count(part, writer, event, _append(session, attempt_id, event, proven), tail=False)
            continue
        made = event.get("at") if event.get("at") is not None else event.get("client_time")
        if limit is not None and made is not None and made > limit:
            late.append(event["seq"])
            continue
        linked = (event.get("prev") or "") == (stored.get(previous) if previous is not None else "")
        if not linked:
            if broken_at is None:
                broken_at = (f"writer {writer}: seq {event['seq']} does not continue the chain the bridge stores "
                             f"(seq {previous} is {'missing' if previous not in stored else 'different'} here)")
            broken.append(event["seq"])
            continue
        outcome = _append(session, attempt_id, event, proven)
        if isinstance(outcome, answers.Ack):
            stored[event["seq"]] = outcome.head  # what the bridge now holds, as a later chunk reads it
        _count(part, writer, event, outcome, tail=True)
    if broken:
        part.refused += len(broken)
        part.messages.append(f"{broken_at}; the offline tail is refused (seq {_span(broken)})")
    if late:
        part.refused += len(late)
        part.messages.append(f"writer {writer}: seq {_span(late)} were made after the deadline and are refused")
    return part


def _count(part: _Part, writer: str, event: dict, outcome: answers.Ack | DomainError, *, tail: bool) -> None:
    if isinstance(outcome, answers.Ack):
        if outcome.duplicate:
            part.duplicate += 1
        else:
            part.accepted += 1
            if tail:
                part.flagged += 1
                part.tail.setdefault(writer, []).append(event["seq"])
    else:
        part.refused += 1
        part.messages.append(f"writer {writer} seq {event['seq']}: {outcome.message}")


def _append(session: Session, attempt_id: int, event: dict, proven: int | None = None) -> answers.Ack | DomainError:
    """One ``answers.append`` in its own savepoint: a refusal undoes only its own writes (a
    conflict keeps its log line, as on the group writer). ``proven``: the epoch the kiosk's
    binding proves, the newest the event may be stored in (None: the proctor's override)."""
    savepoint = session.begin_nested()
    try:
        ack = answers.append(session, attempt_id, writer=event["writer"], seq=event["seq"],
                             question_id=event["question_id"], response=event["response"],
                             client_time=event["client_time"], epoch=event["epoch"],
                             carrier=None if proven is None else answers.Carrier(epoch=proven, refuse_fenced=False))
    except DomainError as exc:
        if getattr(exc, "keep_writes", False):
            savepoint.commit()
        else:
            savepoint.rollback()
        return exc
    savepoint.commit()
    return ack


def _span(seqs: list[int]) -> str:
    return str(seqs[0]) if len(seqs) == 1 else f"{min(seqs)}-{max(seqs)} ({len(seqs)} events)"


def _finish(session: Session, plan: _Plan, report: PackReport, actor: str) -> PackReport:
    """Job 4: record the import (its sha256 is unique), the attempt's log lines and the audit."""
    now = clock.utcnow_naive()
    attempt_id, manifest, digest = plan.attempt_id, plan.manifest, plan.digest
    session.add(PackImport(sha256=digest, attempt_id=attempt_id, kiosk_id=report.kiosk_id,
                           device_key=manifest["device_key"], manifest=manifest, accepted=report.accepted,
                           duplicate=report.duplicate, refused=report.refused, flagged=report.flagged,
                           messages=report.messages, actor=actor[:255], imported_at=now))
    counts = {"accepted": report.accepted, "duplicate": report.duplicate, "refused": report.refused,
              "flagged": report.flagged}
    session.add(AttemptLog(attempt_id=attempt_id, at=now, action="pack_import", actor=actor[:100],
                           detail={"sha256": digest, "kiosk_id": report.kiosk_id, "seat": manifest.get("seat"),
                                   **counts}))
    if report.tail:
        session.add(AttemptLog(attempt_id=attempt_id, at=now, action="pack_offline_tail", actor=actor[:100],
                               detail={"sha256": digest, "writers": {w: _span(s) for w, s in report.tail.items()},
                                       "count": report.flagged}))
    session.flush()
    audit.record(session, "pack.import", actor=actor, target=f"attempt:{attempt_id}",
                 detail={"sha256": digest, "kiosk_id": report.kiosk_id, "older": report.older, **counts})
    if report.override is not None:
        audit.record(session, "pack.import_override", actor=actor, target=f"attempt:{attempt_id}",
                     detail={"sha256": digest, "reason": report.override, "kiosk_id": report.kiosk_id,
                             "device_key": manifest["device_key"]})
    return report
