"""The answer event stream of an attempt (DESIGN "Answers are events", C5, C7).

Every answer change is appended as an ``AnswerEvent`` keyed by (attempt, writer, seq):
``writer`` names the device or browser tab and ``seq`` counts that writer's changes from 1.
The same key sent again with the same payload is a duplicate (a retry): it is answered with
the stored acknowledgement and nothing is written. The same key with another payload is a
conflict: nothing is overwritten, the attempt's log records it and the caller gets 409.

Current answer of an item: the newest applied event, where within one writer the higher
seq is newer and across writers the later acceptance (event id) is newer. So a late event
(a lower seq of a writer that already has a higher seq for that item) never becomes current,
and a duplicate never changes anything. Events from an epoch older than the attempt's are
stored ``fenced`` (kept for audit, never applied).

Whose epoch (DESIGN "Epochs"): an event from outside is stamped with the epoch of the
credential that carried it (a ``Carrier``), never with the ``epoch`` it names itself: the
kiosk's forward token proves its epoch; a browser session proves its sign-in time, which is
the attempt's current epoch unless a resume raised the epoch after it (``session_epoch``).
An event's own ``epoch`` can only make it older. Anything older than the attempt's epoch is
stored ``fenced`` and answered with the error ``fenced`` (``Fenced``), so the old seat of a
resumed candidate never writes the answer, whatever epoch (or none) its events carry. Only
trusted callers (the console, a pack import after its own checks) append without a carrier.

Each writer's events form a hash chain in acceptance order:
``hash = sha256(canonical([prev_hash or "", attempt_id, writer, seq, epoch, payload_hash]))``
(``epoch`` as the event carries it, null counting as 1, like ``kiosk_agent.answer_pack.model``;
the stored ``epoch`` column is the one it was applied in)
with ``payload_hash = sha256(canonical({"question_id", "response"}))`` and canonical =
JSON with sorted keys, no spaces, UTF-8. The ack returns the new head, so a device can prove
what the bridge stored and continue the chain offline.

Response shapes per item type (any may add ``"flagged": bool``):
single ``{"choice": id|null}``; multiple ``{"choices": [id, ...]}``; truefalse
``{"value": true|false|null}``; fill ``{"blanks": [str|null, ...]}`` (one per blank);
essay ``{"text": str, "format": "html"|"plain"}``; upload ``{"sha256": hex|null, "name": str}``.

Callers run ``append`` and ``submit`` through ``bridge.runtime.writer`` (group commit); the services
only flush.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, DomainError, Invalid, InvalidState, NotFound
from bridge.i18n import N_, translate
from bridge.models.attempts import AnswerEvent, AnswerHead, Attempt, AttemptLog
from bridge.services.delivery import answer_store
from bridge.services.delivery import responses
from kiosk_agent.answer_pack import model as pack_model

log = logging.getLogger(__name__)

DEADLINE_GRACE_SECONDS = 5.0  # saves in flight when the time runs out still count
MAX_RESPONSE_BYTES = 64 * 1024
MAX_WRITER_LENGTH = 64
MAX_SEQ = 2**31 - 1
_WRITER_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")

# Autosave is the hot path (issue 3: 1,000 saves/s on 2 cores): a batch of events costs a
# constant number of statements (``answer_store``), never ORM objects.
_attempts = Attempt.__table__
_log = AttemptLog.__table__

# Built once: a statement built per call costs more CPU than running it.
_INSERT_LOG = insert(_log)

# --- errors (codes are what the API reports per event) ---------------------------------
class AttemptLocked(InvalidState):
    code = "locked"


class AttemptSubmitted(InvalidState):
    code = "submitted"


class NotInExam(InvalidState):
    code = "not_in_exam"


class DeadlinePassed(InvalidState):
    code = "deadline"


class TooEarly(InvalidState):
    code = "too_early"


class Fenced(InvalidState):
    """Stored as ``fenced`` (kept for audit, never the answer): the credential that carried the
    event is older than the attempt's epoch. ``keep_writes``: the event row stays."""

    code = "fenced"
    keep_writes = True


FENCED_MESSAGE = N_("Not counted: this exam was moved to another seat (a resume) after this page signed in. "
                    "The answer is kept for the record only. Sign in again to continue on this PC.")

#: The attempt-log actions that raise an attempt's epoch (``session_epoch`` reads their time).
EPOCH_ACTIONS = ("breakpoint_resume",)


@dataclass(frozen=True, slots=True)
class Carrier:
    """The credential that carried events to the bridge: the only source of their epoch.
    ``epoch``: what a kiosk's forward token proves; ``signed_in_at``: a browser session's
    sign-in time (seconds since the epoch, the bridge's clock). ``refuse_fenced``: a fenced
    event is answered with ``Fenced`` (the live paths) rather than an Ack whose status is
    ``fenced`` (a pack import counts it)."""

    epoch: int | None = None
    signed_in_at: float | None = None
    refuse_fenced: bool = True


def session_epoch(epoch: int, began: dt.datetime | None, signed_in_at: Any) -> int:
    """The epoch a browser session signed in at ``signed_in_at`` writes in, for an attempt now
    in ``epoch`` that began at ``began`` (None: unknown): the current one when the sign-in is
    not older than the epoch, else an older one (fenced)."""
    if epoch <= 1:
        return epoch
    if began is None or type(signed_in_at) not in (int, float) \
            or signed_in_at < began.replace(tzinfo=dt.timezone.utc).timestamp():
        return epoch - 1
    return epoch


_SELECT_EPOCH_BEGAN = (select(_log.c.attempt_id, func.max(_log.c.at))
                       .where(_log.c.attempt_id.in_(bindparam("ids", expanding=True)),
                              _log.c.action.in_(EPOCH_ACTIONS))
                       .group_by(_log.c.attempt_id))


def epoch_began(conn: Connection | Session, attempt_ids: Sequence[int]) -> dict[int, dt.datetime]:
    """When each attempt's current epoch began (the last epoch-raising log line); attempts
    never resumed are left out."""
    if not attempt_ids:
        return {}
    return {a: at for a, at in conn.execute(_SELECT_EPOCH_BEGAN, {"ids": list(attempt_ids)})}


class AnswerConflict(Conflict):
    """A reused (attempt, writer, seq) with another payload. ``keep_writes``: the group
    writer keeps this job's log line although the job fails."""

    code = "conflict"
    keep_writes = True


# --- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ack:
    seq: int
    head: str           # the writer's chain head after this event (this event's hash)
    server_time: float  # seconds since the epoch when the bridge accepted the event
    duplicate: bool
    status: str         # applied | fenced

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def outcome(event: Any, result: Any) -> dict:
    """One event's entry in an ``acks`` list, the same on every path (the exam page's HTTP
    view and fast path, the kiosk hub): the ack, or ``{"seq", "error", "message"}``."""
    seq = event.get("seq") if isinstance(event, dict) else None
    if isinstance(result, Ack):
        return result.as_dict()
    if isinstance(result, DomainError):
        return {"seq": seq, "error": result.code, "message": result.translated()}
    log.error("saving an answer failed: %r", result)
    return {"seq": seq, "error": "unavailable", "message": translate(N_("Not saved: the server is busy. Send it again."))}


# --- hashing: one implementation, the answer-pack format's (the kiosk chains the same way) ---
canonical = pack_model.canonical
payload_hash = pack_model.payload_hash
event_hash = pack_model.event_hash


def _epoch_seconds(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def _iso(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z")


# --- append -------------------------------------------------------------------------------
def append(session: Session, attempt_id: int, *, writer: str, seq: int, question_id: int,
           response: dict, client_time: float | None, epoch: int | None, carrier: Carrier | None = None) -> Ack:
    """Store one answer change; see the module docstring. Raises Invalid (malformed),
    NotFound, AttemptLocked / AttemptSubmitted / NotInExam / DeadlinePassed (refused, nothing
    stored), AnswerConflict (key reused with another payload; logged) or Fenced (stored, not
    applied). Without a ``carrier`` the caller is trusted with the event's ``epoch``."""
    event = {"writer": writer, "seq": seq, "question_id": question_id, "response": response,
             "client_time": client_time, "epoch": epoch}
    result = append_many(session, [(attempt_id, event, carrier)])[0]
    if isinstance(result, BaseException):
        raise result
    return result


def append_many(session: Session, items: Sequence[tuple[int, dict]]) -> list[Ack | DomainError]:
    """Store a batch of answer changes, each ``(attempt_id, {writer, seq, question_id,
    response, client_time, epoch}, carrier)`` (the carrier may be left out by a trusted
    caller), in order, as if ``append`` ran for each: the result per item is its Ack or the
    DomainError ``append`` would raise (nothing stored for it, except the log line of a
    conflict and the row of a fenced event). The group writer hands whole batches of
    autosaves here; the statements per batch are constant (``bridge.services.delivery.answer_store``),
    plus one read for sessions' events of attempts that were ever resumed."""
    results: list[Any] = [None] * len(items)
    pending = []
    carriers: dict[int, Carrier] = {}
    for index, item in enumerate(items):
        attempt_id, event = item[0], item[1]
        if len(item) > 2 and item[2] is not None:
            carriers[index] = item[2]
        try:
            fields = _event_fields(event)
            _check_key(fields["writer"], fields["seq"], fields["question_id"], fields["client_time"],
                       fields["epoch"])
            digest = _check_size(fields["question_id"], fields["response"])
        except DomainError as exc:
            results[index] = exc
            continue
        pending.append((index, attempt_id, fields, digest))
    if not pending:
        return results
    conn = session.connection()
    store = answer_store.store_for(conn)
    attempts, heads = store.load(conn, sorted({attempt_id for _i, attempt_id, _f, _d in pending}))
    maybe_stored = [(attempt_id, f["writer"], f["seq"]) for _i, attempt_id, f, _d in pending
                    if f["seq"] <= heads.get((attempt_id, f["writer"]), _NO_HEAD).max_seq]
    stored = store.stored(conn, maybe_stored) if maybe_stored else {}
    questions = responses.attempt_questions(conn, [a for a, state in attempts.items() if state.status == "in_exam"])
    resumed = {attempt_id for i, attempt_id, _f, _d in pending if i in carriers and carriers[i].epoch is None
               and attempt_id in attempts and attempts[attempt_id].epoch > 1}
    began = epoch_began(conn, sorted(resumed)) if resumed else {}
    now = clock.utcnow_naive()
    new_events: list[answer_store.NewEvent] = []
    moved: dict[tuple[int, str], answer_store.Head] = {}
    logs: list[dict] = []
    for index, attempt_id, f, digest in pending:
        writer, seq = f["writer"], f["seq"]
        carrier = carriers.get(index)
        prior = stored.get((attempt_id, writer, seq))
        if prior is not None:  # a retry is answered even after the attempt closed
            results[index] = _replay(attempt_id, writer, prior, digest, logs)
            if carrier is not None and carrier.refuse_fenced and prior.status == "fenced" \
                    and isinstance(results[index], Ack):
                results[index] = Fenced(FENCED_MESSAGE)
            continue
        try:
            attempt = attempts.get(attempt_id)
            if attempt is None:
                raise NotFound(N_("That attempt does not exist."))
            _check_open(attempt, now)
            proven = attempt.epoch if carrier is None else _carried_epoch(carrier, attempt, began.get(attempt_id))
            # the event's own epoch can make it older, never newer than what carried it
            epoch = proven if f["epoch"] is None else min(f["epoch"], proven)
            if epoch > attempt.epoch or (proven >= attempt.epoch and (f["epoch"] or 0) > attempt.epoch):
                raise Invalid(N_("The event's epoch is newer than the attempt's: reload the exam page."))
            responses.check_response(conn, questions.get(attempt_id, frozenset()), f["question_id"], f["response"])
        except DomainError as exc:
            results[index] = exc
            continue
        head = moved.get((attempt_id, writer)) or heads.get((attempt_id, writer))
        prev = head.head if head is not None else None
        status = "fenced" if epoch < attempt.epoch else "applied"
        # the hash takes the epoch the event carries (null counts as 1, as in the answer-pack
        # format): the chain must not depend on the attempt's state when the event arrived
        chained = event_hash(prev, attempt_id, writer, seq, f["epoch"] or 1, digest)
        new_events.append(answer_store.NewEvent(
            attempt_id, writer, seq, f["question_id"], _response_json(f["response"]), digest, epoch,
            f["client_time"], now, status, prev, chained))
        stored[(attempt_id, writer, seq)] = answer_store.Stored(seq, digest, chained, now, status)
        moved[(attempt_id, writer)] = answer_store.Head(max(seq, head.max_seq if head else 0), chained)
        results[index] = Ack(seq=seq, head=chained, server_time=_epoch_seconds(now), duplicate=False, status=status)
        if carrier is not None and carrier.refuse_fenced and status == "fenced":
            results[index] = Fenced(FENCED_MESSAGE)
    if logs:
        conn.execute(_INSERT_LOG, logs)
    if new_events:  # last: on PostgreSQL the batch's COMMIT may travel with it
        store.append(conn, new_events, moved.items())
    return results


def _carried_epoch(carrier: Carrier, attempt: "answer_store.AttemptState", began: dt.datetime | None) -> int:
    """The epoch the carrier's credential proves for this attempt."""
    if carrier.epoch is not None:
        return carrier.epoch
    return session_epoch(attempt.epoch, began, carrier.signed_in_at)


_NO_HEAD = answer_store.Head(0, "")
_EVENT_FIELDS = ("writer", "seq", "question_id", "response", "client_time", "epoch")


def _event_fields(event: Any) -> dict:
    if not isinstance(event, dict) or not event.keys() <= set(_EVENT_FIELDS):
        raise Invalid(N_("Each event is an object with writer, seq, question_id, response, client_time and epoch."))
    return {name: event.get(name) for name in _EVENT_FIELDS}


def _response_json(response: dict) -> str:
    return json.dumps(response, ensure_ascii=False, separators=(",", ":"))


def _check_key(writer, seq, question_id, client_time, epoch) -> None:
    if not isinstance(writer, str) or not _WRITER_RE.match(writer):
        raise Invalid(N_("The writer must be 1 to 64 letters, digits or . _ : @ -."))
    for value, name in ((seq, "seq"), (question_id, "question_id")):
        if type(value) is not int or not 1 <= value <= MAX_SEQ:
            raise Invalid(N_("%(name)s must be a positive whole number.") % {"name": name})
    if epoch is not None and (type(epoch) is not int or not 1 <= epoch <= MAX_SEQ):
        raise Invalid(N_("The epoch must be a positive whole number."))
    if client_time is not None and (type(client_time) not in (int, float)
                                    or client_time != client_time or abs(client_time) > 1e13):
        raise Invalid(N_("client_time must be a number of seconds."))


def _check_size(question_id: int, response: Any) -> str:
    if not isinstance(response, dict):
        raise Invalid(N_("The response must be a JSON object."))
    try:
        text = canonical(response)
    except (TypeError, ValueError):
        raise Invalid(N_("The response is not valid JSON.")) from None
    if _has_nul(response):  # PostgreSQL text cannot hold a NUL character
        raise Invalid(N_("The answer contains a NUL character; remove it."))
    size = len(text)
    if size > MAX_RESPONSE_BYTES:
        raise Invalid(N_("The answer is too large (more than 64 KiB); shorten it."))
    return payload_hash(question_id, response)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _replay(attempt_id: int, writer: str, stored: "answer_store.Stored", digest: str, logs: list[dict]):
    """The stored ack of a key sent again, or the conflict (logged) if the payload differs."""
    if stored.payload_hash != digest:
        logs.append({"attempt_id": attempt_id, "at": clock.utcnow_naive(), "action": "answer_conflict",
                     "actor": f"writer:{writer}", "address": "",
                     "detail": {"writer": writer, "seq": stored.seq,
                                "stored_hash": stored.payload_hash, "sent_hash": digest}})
        return AnswerConflict(N_("This save number was already used for a different answer; the stored "
                                 "answer is kept. Reload the exam page to continue."))
    return Ack(seq=stored.seq, head=stored.hash, server_time=_epoch_seconds(stored.server_time),
               duplicate=True, status=stored.status)


def _check_open(attempt, now: dt.datetime) -> None:
    if attempt.status == "locked":
        raise AttemptLocked(N_("The exam is locked. Ask the proctor to unlock it; your saved answers are kept."))
    if attempt.status == "submitted":
        raise AttemptSubmitted(N_("This exam has been submitted; answers can no longer change."))
    if attempt.status != "in_exam":
        raise NotInExam(N_("This exam is not in progress, so answers cannot be saved."))
    if attempt.deadline_at is not None:
        late = (now - attempt.deadline_at).total_seconds()
        if late > DEADLINE_GRACE_SECONDS:
            raise DeadlinePassed(N_("The time for this exam is over; this answer was not saved."))


# --- reading the stream ------------------------------------------------------------------
def current_answers(session: Session, attempt_id: int) -> dict[int, dict]:
    """The current response per question (see the module docstring for "newest")."""
    rows = session.execute(select(AnswerEvent.question_id, AnswerEvent.writer, AnswerEvent.seq,
                                  AnswerEvent.response)
                           .where(AnswerEvent.attempt_id == attempt_id, AnswerEvent.status == "applied")
                           .order_by(AnswerEvent.id))
    newest_seq: dict[tuple[int, str], int] = {}
    current: dict[int, dict] = {}
    for question_id, writer, seq, response in rows:
        key = (question_id, writer)
        if newest_seq.get(key, 0) > seq:
            continue  # late: this writer already changed the item after it
        newest_seq[key] = seq
        current[question_id] = response
    return current


def writer_heads(session: Session, attempt_id: int) -> dict[str, dict[str, Any]]:
    """Per writer: the highest seq stored (the next save uses a higher one) and the chain head."""
    rows = session.execute(select(AnswerHead.writer, AnswerHead.max_seq, AnswerHead.head)
                           .where(AnswerHead.attempt_id == attempt_id).order_by(AnswerHead.writer))
    return {writer: {"max_seq": max_seq, "head": head} for writer, max_seq, head in rows}


