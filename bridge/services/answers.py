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

Each writer's events form a hash chain in acceptance order:
``hash = sha256(canonical([prev_hash or "", attempt_id, writer, seq, epoch, payload_hash]))``
with ``payload_hash = sha256(canonical({"question_id", "response"}))`` and canonical =
JSON with sorted keys, no spaces, UTF-8. The ack returns the new head, so a device can prove
what the bridge stored and continue the chain offline.

Response shapes per item type (any may add ``"flagged": bool``):
single ``{"choice": id|null}``; multiple ``{"choices": [id, ...]}``; truefalse
``{"value": true|false|null}``; fill ``{"blanks": [str|null, ...]}`` (one per blank);
essay ``{"text": str, "format": "html"|"plain"}``; upload ``{"sha256": hex|null, "name": str}``.

Callers run ``append`` and ``submit`` through ``bridge.writer`` (group commit); the services
only flush.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.util
import json
import logging
import re
import weakref
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.attempts import AnswerEvent, Attempt, AttemptLog
from bridge.models.bank import Question

log = logging.getLogger(__name__)

DEADLINE_GRACE_SECONDS = 5.0  # saves in flight when the time runs out still count
MAX_RESPONSE_BYTES = 64 * 1024
MAX_WRITER_LENGTH = 64
MAX_SEQ = 2**31 - 1
SUBMIT_REASONS = ("candidate", "locks", "deadline", "proctor")
_WRITER_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
QUESTION_CACHE_SECONDS = 60.0  # item definitions do not change under a running exam

# Autosave is the hot path (issue 3: 1,000 saves/s on 2 cores): it uses Core statements on
# the transaction's connection, a handful per event, rather than loading ORM objects.
_events = AnswerEvent.__table__
_attempts = Attempt.__table__
_log = AttemptLog.__table__
_questions = Question.__table__
# Per database (engine): two apps in one process (tests, a site node beside a central bridge)
# must never see each other's questions under the same id.
_question_cache: "weakref.WeakKeyDictionary[object, dict[int, tuple[float, Row | None]]]" = weakref.WeakKeyDictionary()

# Built once: a statement built per call costs more CPU than running it.
_SELECT_ATTEMPT = (select(_attempts.c.id, _attempts.c.status, _attempts.c.epoch, _attempts.c.deadline_at,
                          _attempts.c["items"], _attempts.c.submitted_at, _attempts.c.submit_reason)
                   .where(_attempts.c.id == bindparam("attempt_id")).with_for_update())
_SELECT_STORED = (select(_events.c.seq, _events.c.payload_hash, _events.c.hash, _events.c.server_time,
                         _events.c.status)
                  .where(_events.c.attempt_id == bindparam("attempt_id"), _events.c.writer == bindparam("writer"),
                         _events.c.seq == bindparam("seq")))
_SELECT_HEAD = (select(_events.c.hash)
                .where(_events.c.attempt_id == bindparam("attempt_id"), _events.c.writer == bindparam("writer"))
                .order_by(_events.c.id.desc()).limit(1))
_SELECT_QUESTION = (select(_questions.c.qtype, _questions.c.choices, _questions.c.blanks)
                    .where(_questions.c.id == bindparam("question_id")))
_INSERT_EVENT = {name: (dialect.insert(_events).on_conflict_do_nothing(index_elements=["attempt_id", "writer", "seq"])
                        .returning(_events.c.id))
                 for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}
_INSERT_LOG = insert(_log)
_SUBMIT = (update(_attempts).where(_attempts.c.id == bindparam("attempt_id"))
           .values(status="submitted", submitted_at=bindparam("now"), submit_reason=bindparam("reason")))


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


@dataclass(frozen=True)
class SubmitResult:
    status: str
    submitted_at: str  # ISO 8601, UTC
    reason: str
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- hashing ------------------------------------------------------------------------------
def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def payload_hash(question_id: int, response: dict) -> str:
    return hashlib.sha256(canonical({"question_id": question_id, "response": response})).hexdigest()


def event_hash(prev_hash: str | None, attempt_id: int, writer: str, seq: int, epoch: int,
               payload: str) -> str:
    return hashlib.sha256(canonical([prev_hash or "", attempt_id, writer, seq, epoch, payload])).hexdigest()


def _epoch_seconds(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def _iso(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z")


# --- append -------------------------------------------------------------------------------
def append(session: Session, attempt_id: int, *, writer: str, seq: int, question_id: int,
           response: dict, client_time: float | None, epoch: int | None) -> Ack:
    """Store one answer change; see the module docstring. Raises Invalid (malformed),
    NotFound, AttemptLocked / AttemptSubmitted / NotInExam / DeadlinePassed (refused, nothing
    stored) or AnswerConflict (key reused with another payload; logged)."""
    _check_key(writer, seq, question_id, client_time, epoch)
    digest = _check_size(question_id, response)
    conn = session.connection()
    attempt = _lock_attempt(conn, attempt_id)
    stored = _stored(conn, attempt_id, writer, seq)
    if stored is not None:  # a retry is answered even after the attempt closed
        return _replay(conn, attempt_id, writer, stored, digest)
    _check_open(attempt)
    epoch = attempt.epoch if epoch is None else epoch
    if epoch > attempt.epoch:
        raise Invalid(N_("The event's epoch is newer than the attempt's: reload the exam page."))
    _check_response(conn, attempt, question_id, response)
    prev = conn.execute(_SELECT_HEAD, {"attempt_id": attempt_id, "writer": writer}).scalar()
    status = "fenced" if epoch < attempt.epoch else "applied"
    now = clock.utcnow_naive()
    digest_chain = event_hash(prev, attempt_id, writer, seq, epoch, digest)
    inserted = conn.execute(_INSERT_EVENT[conn.dialect.name], {
        "attempt_id": attempt_id, "writer": writer, "seq": seq, "question_id": question_id, "response": response,
        "payload_hash": digest, "epoch": epoch, "client_time": client_time, "server_time": now, "status": status,
        "prev_hash": prev, "hash": digest_chain}).first()
    if inserted is None:  # another worker stored this key first (PostgreSQL, scale-out)
        return _replay(conn, attempt_id, writer, _stored(conn, attempt_id, writer, seq), digest)
    return Ack(seq=seq, head=digest_chain, server_time=_epoch_seconds(now), duplicate=False, status=status)


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
        size = len(canonical(response))
    except (TypeError, ValueError):
        raise Invalid(N_("The response is not valid JSON.")) from None
    if size > MAX_RESPONSE_BYTES:
        raise Invalid(N_("The answer is too large (more than 64 KiB); shorten it."))
    return payload_hash(question_id, response)


def _lock_attempt(conn: Connection, attempt_id: int) -> Row:
    """The attempt's row, locked for this transaction on PostgreSQL (SQLite's writer is
    already alone)."""
    row = conn.execute(_SELECT_ATTEMPT, {"attempt_id": attempt_id}).first()
    if row is None:
        raise NotFound(N_("That attempt does not exist."))
    return row


def _stored(conn: Connection, attempt_id: int, writer: str, seq: int) -> Row | None:
    return conn.execute(_SELECT_STORED, {"attempt_id": attempt_id, "writer": writer, "seq": seq}).first()


def _replay(conn: Connection, attempt_id: int, writer: str, stored: Row, digest: str) -> Ack:
    if stored.payload_hash != digest:
        conn.execute(_INSERT_LOG, {"attempt_id": attempt_id, "at": clock.utcnow_naive(), "action": "answer_conflict",
                                   "actor": f"writer:{writer}", "address": "",
                                   "detail": {"writer": writer, "seq": stored.seq,
                                              "stored_hash": stored.payload_hash, "sent_hash": digest}})
        raise AnswerConflict(N_("This save number was already used for a different answer; the stored "
                                "answer is kept. Reload the exam page to continue."))
    return Ack(seq=stored.seq, head=stored.hash, server_time=_epoch_seconds(stored.server_time),
               duplicate=True, status=stored.status)


def _check_open(attempt: Row) -> None:
    if attempt.status == "locked":
        raise AttemptLocked(N_("The exam is locked. Ask the proctor to unlock it; your saved answers are kept."))
    if attempt.status == "submitted":
        raise AttemptSubmitted(N_("This exam has been submitted; answers can no longer change."))
    if attempt.status != "in_exam":
        raise NotInExam(N_("This exam is not in progress, so answers cannot be saved."))
    if attempt.deadline_at is not None:
        late = (clock.utcnow_naive() - attempt.deadline_at).total_seconds()
        if late > DEADLINE_GRACE_SECONDS:
            raise DeadlinePassed(N_("The time for this exam is over; this answer was not saved."))


# --- responses by item type --------------------------------------------------------------
def _check_response(conn: Connection, attempt: Row, question_id: int, response: dict) -> None:
    if question_id not in {int(item["question_id"]) for item in attempt.items or ()}:
        raise Invalid(N_("That question is not part of this exam."))
    question = _question(conn, question_id)
    if question is None:
        raise Invalid(N_("That question no longer exists."))
    body = dict(response)
    flagged = body.pop("flagged", False)
    if not isinstance(flagged, bool):
        raise Invalid(N_("flagged must be true or false."))
    problem = _SHAPES.get(question.qtype, _unknown_type)(question, body)
    if problem:
        raise Invalid(problem)


def _question(conn: Connection, question_id: int) -> Row | None:
    """The item's type, options and blanks, cached for a minute (read once per item, not per save)."""
    now = clock.timestamp()
    cache = _question_cache.setdefault(conn.engine, {})
    hit = cache.get(question_id)
    if hit is not None and now - hit[0] < QUESTION_CACHE_SECONDS:
        return hit[1]
    row = conn.execute(_SELECT_QUESTION, {"question_id": question_id}).first()
    if len(cache) > 50_000:
        cache.clear()
    cache[question_id] = (now, row)
    return row


def _keys(body: dict, required: set[str], optional: set[str] = frozenset()) -> str | None:
    if not required <= body.keys() or not body.keys() <= required | optional:
        names = ", ".join(sorted(required | optional))
        return N_("The response for this kind of question has the fields: %(names)s.") % {"names": names}
    return None


def _choice_ids(question: Row) -> set[str]:
    return {str(choice.get("id")) for choice in question.choices or ()}


def _is_id(value: Any) -> bool:
    return (type(value) is int) or (isinstance(value, str) and 0 < len(value) <= 64)


def _single(question: Row, body: dict) -> str | None:
    choice = body.get("choice")
    if problem := _keys(body, {"choice"}):
        return problem
    if choice is not None and not (_is_id(choice) and str(choice) in _choice_ids(question)):
        return N_("That option is not one of this question's options.")
    return None


def _multiple(question: Row, body: dict) -> str | None:
    choices = body.get("choices")
    if problem := _keys(body, {"choices"}):
        return problem
    if not isinstance(choices, list) or not all(_is_id(c) for c in choices):
        return N_("choices must be a list of option ids.")
    given = [str(c) for c in choices]
    if len(set(given)) != len(given) or not set(given) <= _choice_ids(question):
        return N_("The chosen options must be distinct options of this question.")
    return None


def _truefalse(question: Row, body: dict) -> str | None:
    if problem := _keys(body, {"value"}):
        return problem
    if not (body["value"] is None or isinstance(body["value"], bool)):
        return N_("value must be true, false or null.")
    return None


def _fill(question: Row, body: dict) -> str | None:
    blanks = body.get("blanks")
    if problem := _keys(body, {"blanks"}):
        return problem
    expected = len(question.blanks or ()) or None
    if not isinstance(blanks, list) or not all(b is None or isinstance(b, str) for b in blanks):
        return N_("blanks must be a list of texts (or null for an empty blank).")
    if expected is not None and len(blanks) != expected:
        return N_("This question has %(n)d blank(s).") % {"n": expected}
    return None


def _essay(question: Row, body: dict) -> str | None:
    if problem := _keys(body, {"text"}, {"format"}):
        return problem
    if not isinstance(body["text"], str) or body.get("format", "html") not in ("html", "plain"):
        return N_("text must be a text and format html or plain.")
    return None


def _upload(question: Row, body: dict) -> str | None:
    if problem := _keys(body, {"sha256"}, {"name"}):
        return problem
    digest = body["sha256"]
    if digest is not None and not (isinstance(digest, str) and _SHA256_RE.match(digest)):
        return N_("sha256 must be the uploaded file's SHA-256 in hex (or null to remove it).")
    if not isinstance(body.get("name", ""), str):
        return N_("name must be a text.")
    return None


def _unknown_type(question: Row, body: dict) -> str | None:
    return N_("This question's type cannot be answered here.")


_SHAPES = {"single": _single, "multiple": _multiple, "truefalse": _truefalse, "fill": _fill,
           "essay": _essay, "upload": _upload}


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
    heads: dict[str, dict[str, Any]] = {}
    rows = session.execute(select(AnswerEvent.writer, AnswerEvent.seq, AnswerEvent.hash)
                           .where(AnswerEvent.attempt_id == attempt_id).order_by(AnswerEvent.id))
    for writer, seq, digest in rows:
        head = heads.setdefault(writer, {"max_seq": 0, "head": None})
        head["max_seq"] = max(head["max_seq"], seq)
        head["head"] = digest
    return heads


# --- submit -------------------------------------------------------------------------------
def submit(session: Session, attempt_id: int, *, reason: str, idempotency_key: str | None,
           actor: str = "", address: str = "") -> SubmitResult:
    """Submit the attempt once. A second submit (a retry, another tab) returns the first
    result with ``duplicate=True`` and changes nothing. Scores objective items when the
    scoring service is installed (``bridge.services.scoring``)."""
    if reason not in SUBMIT_REASONS:
        raise Invalid(N_("Unknown reason for submitting."))
    if idempotency_key is not None and (not isinstance(idempotency_key, str) or len(idempotency_key) > 100):
        raise Invalid(N_("The submit key must be a text of at most 100 characters."))
    conn = session.connection()
    attempt = _lock_attempt(conn, attempt_id)
    if attempt.status == "submitted":
        return SubmitResult("submitted", _iso(attempt.submitted_at), attempt.submit_reason, True)
    if attempt.status not in ("in_exam", "locked"):
        raise NotInExam(N_("This exam is not in progress, so it cannot be submitted."))
    now = clock.utcnow_naive()
    if reason == "candidate":
        _check_early_submission(session, attempt_id, now)
    conn.execute(_SUBMIT, {"attempt_id": attempt_id, "now": now, "reason": reason})
    conn.execute(_INSERT_LOG, {"attempt_id": attempt_id, "at": now, "action": "submit", "actor": actor or reason,
                               "address": address, "detail": {"reason": reason, "key": idempotency_key}})
    _score(session, attempt_id)
    return SubmitResult("submitted", _iso(now), reason, False)


def _check_early_submission(session: Session, attempt_id: int, now: dt.datetime) -> None:
    """The paper's early-submission time (C3): a candidate submits no earlier than that many
    minutes after the session's start. Locks, the deadline and the proctor are not bound by it."""
    from bridge.models.papers import ExamSession, Paper

    row = session.execute(select(ExamSession.starts_at, Paper.early_submit_minutes)
                          .join(Attempt, Attempt.session_id == ExamSession.id)
                          .join(Paper, Paper.exam_id == Attempt.exam_id)
                          .where(Attempt.id == attempt_id)).first()
    if row is None or not row.early_submit_minutes:
        return
    opens = row.starts_at + dt.timedelta(minutes=row.early_submit_minutes)
    if now < opens:
        raise TooEarly(N_("Submitting opens %(n)d minutes after the start; keep working until then.")
                       % {"n": row.early_submit_minutes})


@functools.lru_cache(maxsize=1)
def _scoring_module():
    """``bridge.services.scoring`` if installed, looked up once (a miss scans sys.path)."""
    if importlib.util.find_spec("bridge.services.scoring") is None:
        return None
    return importlib.import_module("bridge.services.scoring")


def _score(session: Session, attempt_id: int) -> None:
    """Objective scoring belongs to ``bridge.services.scoring`` (another module, maybe not
    installed yet). A scoring failure never undoes the submission: it is logged and the
    attempt stays unscored for a later run."""
    scoring = _scoring_module()
    if scoring is None:
        return

    try:
        with session.begin_nested():
            attempt = session.get(Attempt, attempt_id, populate_existing=True)
            scoring.score_attempt(session, attempt)
    except Exception:
        log.exception("scoring attempt %s failed; the submission stands", attempt_id)
