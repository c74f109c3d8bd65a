"""The attempt's life (DESIGN "States"): log in → read the rules → in the exam ⇄ locked →
submitted. The server's clock rules every deadline: deadline = the session's start + the
exam's duration + extra time (a late arrival loses the time, C3)."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import random
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Forbidden, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt, AttemptLog
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, Paper
from bridge.services.exams import papers, exam_sessions
from bridge.services.people import throttle
from bridge.services.exams import sitting_state
from bridge.services.exams.sitting_state import items_open

UNLOCK_CODE_LIFETIME = dt.timedelta(minutes=10)
UNLOCK_CODE_TRIES = 5  # tries at one unlock code; a wrong fifth voids it (as authorization codes lock)
CODE_WINDOW = dt.timedelta(minutes=15)
CODE_LIMITS = {"code": 30, "account": 5, "address": 20}  # failures per window


def log(session: Session, attempt: Attempt, action: str, *, address: str = "", actor: str = "",
        detail: dict | None = None) -> None:
    session.add(AttemptLog(attempt_id=attempt.id, action=action, address=address[:64], actor=actor[:100],
                           detail=detail or {}))


def _paper(session: Session, exam_id: int) -> Paper:
    paper = session.scalars(select(Paper).where(Paper.exam_id == exam_id)).first()
    if paper is None:
        raise InvalidState("This exam has no paper yet. Ask the teacher.")
    return paper


def current(session: Session, exam_id: int, user_id: int) -> Attempt | None:
    """The candidate's live attempt (the newest not voided)."""
    return session.scalars(select(Attempt).where(Attempt.exam_id == exam_id, Attempt.user_id == user_id,
                                                 Attempt.status != "voided").order_by(Attempt.number.desc())).first()


def log_in(session: Session, exam: Exam, user_id: int, *, address: str = "", mode: str = "lms") -> Attempt:
    """Open (or re-open) the candidate's attempt in their session; refused after the late-login
    cutoff for a candidate who never logged in."""
    sitting = exam_sessions.session_of(session, exam.id, user_id)
    if sitting is None:
        raise Forbidden("You are not on the list of any session of this exam. Ask your teacher or proctor.")
    paper = _paper(session, exam.id)
    attempt = current(session, exam.id, user_id)
    now = clock.utcnow_naive()
    room = sitting_state.candidate_sitting(session, sitting, user_id)
    if room is not None and (attempt is None or attempt.status == "not_logged_in") \
            and not sitting_state.login_open(room, sitting, now):
        raise Forbidden("The login of your room is not open yet. Wait for the proctor.")
    if attempt is not None and attempt.status == "absent":
        raise Forbidden("You were registered absent from this session. Ask the proctor.")
    starts_at = sitting_state.room_start(room, sitting) if room is not None else sitting.starts_at
    if attempt is None:
        if now > starts_at + dt.timedelta(minutes=paper.late_login_minutes):
            message = (f"The login for this session closed {paper.late_login_minutes} minutes after its start. "
                       "Ask the proctor.")
            raise Forbidden(message)
        attempt = Attempt(exam_id=exam.id, session_id=sitting.id, user_id=user_id, status="logged_in",
                          logged_in_at=now, mode=mode)
        session.add(attempt)
        session.flush()
        log(session, attempt, "login", address=address, detail={"mode": mode})
    elif attempt.status == "not_logged_in":
        attempt.status, attempt.logged_in_at = "logged_in", now
        log(session, attempt, "login", address=address, detail={"mode": mode})
    else:
        log(session, attempt, "resume", address=address, detail={"status": attempt.status})
    session.flush()
    return settle(session, attempt)


def read_rules(session: Session, attempt: Attempt, *, address: str = "") -> Attempt:
    if attempt.status == "logged_in":
        attempt.status, attempt.rules_read_at = "rules_read", clock.utcnow_naive()
        log(session, attempt, "rules_read", address=address)
        session.flush()
    return attempt


class StartNotOpen(InvalidState):
    """The start is refused for now: before the start time, the authorization or the proctor's
    "allow start". The waiting page tells which and opens the exam when the gate opens."""


@dataclass(frozen=True)
class StartGate:
    """Whether the start is open, by the server's clock (the waiting page's one clock).
    ``reason``: "open", "time" (the countdown), "proctor" (the room's "allow start") or
    "authorization" (the session's authorization). ``remaining_ms`` is rounded up, so a page
    that waits it out never asks before the server opens."""

    reason: str
    starts_at: dt.datetime
    remaining_ms: int

    @property
    def open(self) -> bool:
        return self.reason == "open"


def start_gate(session: Session, attempt: Attempt, now: dt.datetime | None = None) -> StartGate:
    sitting = session.get(ExamSession, attempt.session_id)
    now = now or clock.utcnow_naive()
    room = sitting_state.candidate_sitting(session, sitting, attempt.user_id)
    starts_at = sitting_state.room_start(room, sitting) if room is not None else sitting.starts_at
    remaining_ms = max(0, math.ceil((starts_at - now) / dt.timedelta(milliseconds=1)))
    if not items_open(session, sitting, attempt.user_id):
        reason = "authorization"
    elif room is not None and room.start_allowed_at is None:
        reason = "proctor"
    elif now < starts_at:
        reason = "time"
    else:
        reason = "open"
    return StartGate(reason=reason, starts_at=starts_at, remaining_ms=remaining_ms)


def start(session: Session, attempt: Attempt, *, address: str = "", seed: int | None = None) -> Attempt:
    """Into the exam: only after the rules are confirmed, once the session has started and is
    authorized (``start_gate``). The candidate's items are drawn once, at the first start."""
    attempt = settle(session, attempt)
    if attempt.status in ("in_exam", "locked", "submitted"):
        return attempt
    if attempt.status != "rules_read":
        raise InvalidState("Confirm that you have read the exam rules first.")
    now = clock.utcnow_naive()
    gate = start_gate(session, attempt, now)
    if gate.reason == "authorization":
        raise StartNotOpen("The session is not authorized yet. Wait for the proctor.")
    if gate.reason == "proctor":
        raise StartNotOpen("The proctor has not allowed the start yet.")
    if gate.reason == "time":
        seconds = math.ceil(gate.remaining_ms / 1000)
        message = f"The exam starts in {seconds // 60} min {seconds % 60} s."
        raise StartNotOpen(message)
    starts_at = gate.starts_at
    exam = session.get(Exam, attempt.exam_id)
    if not attempt.items:
        rng = random.Random(seed if seed is not None else secrets.randbits(64))
        attempt.items = papers.compose(session, _paper(session, exam.id), rng)
    attempt.status, attempt.started_at = "in_exam", attempt.started_at or now
    attempt.deadline_at = starts_at + dt.timedelta(minutes=exam.duration_minutes, seconds=attempt.extra_seconds)
    log(session, attempt, "start", address=address,
        detail={"late_seconds": max(0, int((now - starts_at).total_seconds()))})
    session.flush()
    return attempt


_SWEEP_LOCK_KEY = 0x45425357  # "EBSW": one sweeper at a time across workers (PostgreSQL)


def sweep(session: Session, *, limit: int = 500) -> int:
    """Apply every deadline that has passed (idempotent): attempts still in the exam or
    locked at their deadline are submitted with what is stored. Returns how many."""
    from sqlalchemy import text

    if session.get_bind().dialect.name == "postgresql" and not session.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SWEEP_LOCK_KEY}).scalar():
        return 0  # another worker is sweeping
    due = list(session.scalars(select(Attempt).where(Attempt.status.in_(("in_exam", "locked")),
                                                     Attempt.deadline_at <= clock.utcnow_naive()).limit(limit)))
    for attempt in due:
        submit(session, attempt, reason="deadline", actor="system:sweeper")
    return len(due)


def remaining_ms(attempt: Attempt) -> int | None:
    if attempt.deadline_at is None:
        return None
    return max(0, int((attempt.deadline_at - clock.utcnow_naive()).total_seconds() * 1000))


def settle(session: Session, attempt: Attempt) -> Attempt:
    """Apply what time decided: past the deadline, an attempt in the exam (or locked) is
    submitted with what is stored (idempotent; the sweeper calls it too)."""
    if attempt.status in ("in_exam", "locked") and attempt.deadline_at and clock.utcnow_naive() >= attempt.deadline_at:
        submit(session, attempt, reason="deadline")
    return attempt


def submit(session: Session, attempt: Attempt, *, reason: str, address: str = "", actor: str = "") -> Attempt:
    """Submitted once, whatever the number of calls; objective items are scored then. One
    implementation for every path (the page's submit, the N-th lock, the deadline, the
    proctor): ``submits.submit``."""
    from bridge.services.delivery import submits

    if attempt.status == "submitted":
        return attempt
    submits.submit(session, attempt.id, reason=reason, idempotency_key=None, actor=actor, address=address)
    session.refresh(attempt)  # submits.submit writes through Core: reload what it changed
    return attempt


def lock(session: Session, attempt: Attempt, *, why: str, address: str = "") -> Attempt:
    """Leaving the exam (blur, tab switch, fullscreen exit) locks it (C6); the paper's lock
    limit reached submits it."""
    attempt = settle(session, attempt)
    if attempt.status != "in_exam":
        return attempt
    attempt.status = "locked"
    attempt.lock_count += 1
    log(session, attempt, "lock", address=address, detail={"why": why[:100], "count": attempt.lock_count})
    session.flush()
    if attempt.lock_count >= _paper(session, attempt.exam_id).lock_limit:
        submit(session, attempt, reason="locks", address=address)
    return attempt


def page_unloaded(session: Session, attempt: Attempt, *, why: str = "", address: str = "") -> Attempt:
    """The exam page was reloaded, closed or navigated away from (its ``pagehide``): not a
    lock, since the candidate comes back to the same attempt, but a line in the candidate
    log for the proctor (P7). Leaving the exam without unloading it (another window or app)
    is ``lock``."""
    if attempt.status in ("in_exam", "locked"):
        log(session, attempt, "page_unload", address=address, detail={"why": why[:40]})
        session.flush()
    return attempt


class UnlockRefused(Forbidden):
    """A wrong or expired unlock code. ``keep_writes``: the group writer keeps the
    candidate-log line of the refusal although the unit of work fails."""

    keep_writes = True


def _hash_code(attempt: Attempt, code: str) -> str:
    return hashlib.sha256(f"{attempt.id}:{code}".encode()).hexdigest()


def issue_unlock_code(session: Session, attempt: Attempt, *, actor: str) -> str:
    """A one-time 6-digit code the proctor reads out; valid 10 minutes; only its hash is kept."""
    if attempt.status != "locked":
        raise InvalidState("The attempt is not locked.")
    code = f"{secrets.randbelow(10 ** 6):06d}"
    attempt.unlock_code_hash = _hash_code(attempt, code)
    attempt.unlock_code_expires_at = clock.utcnow_naive() + UNLOCK_CODE_LIFETIME
    log(session, attempt, "unlock_code_issued", actor=actor)
    session.flush()
    return code


def _unlock_try_key(attempt: Attempt) -> str | None:
    """The throttle key of the attempt's current unlock code (a new code starts a new count)."""
    return f"unlock:{attempt.id}:{attempt.unlock_code_hash[:16]}" if attempt.unlock_code_hash else None


def count_unlock_try(session: Session, attempt: Attempt) -> str | None:
    """Count one try at the attempt's current unlock code, committed at once in a transaction
    of its own, before the code is compared: neither a failed unlock nor tries sent at once
    get past ``UNLOCK_CODE_TRIES``. Call it outside any unit of work that has written (on
    SQLite the count must be the only writer); pass what it returns to ``unlock``."""
    key = _unlock_try_key(attempt)
    if key is not None:
        throttle.fail(session, key, window=2 * UNLOCK_CODE_LIFETIME)
    return key


def unlock(session: Session, attempt: Attempt, *, actor: str, code: str | None = None, address: str = "",
           counted: str | None = None) -> Attempt:
    """Back into the exam: by the proctor's console (no code), or by the code the proctor read
    out. A code is compared only when this try was counted for it: ``counted`` names the
    count ``count_unlock_try`` committed first (the candidate's page); without it the try is
    counted here, in the caller's transaction. The fifth wrong try voids the code, and no
    code is compared after that."""
    attempt = settle(session, attempt)
    if attempt.status != "locked":
        return attempt
    if code is not None:
        key = _unlock_try_key(attempt)
        if counted is None and key is not None:
            counted = key
            throttle.add(session, key, window=2 * UNLOCK_CODE_LIFETIME)
        tries = throttle.count(session, key, window=2 * UNLOCK_CODE_LIFETIME) if key else 0
        if key is not None and tries > UNLOCK_CODE_TRIES:
            _void_unlock_code(session, attempt, address)
        expected = attempt.unlock_code_hash
        valid = (expected and counted == key and attempt.unlock_code_expires_at
                 and clock.utcnow_naive() <= attempt.unlock_code_expires_at
                 and hmac.compare_digest(expected, _hash_code(attempt, code.strip())))
        if not valid:
            log(session, attempt, "unlock_refused", address=address, detail={"tries": tries})
            if expected and tries >= UNLOCK_CODE_TRIES:
                _void_unlock_code(session, attempt, address)
            session.flush()
            if tries >= UNLOCK_CODE_TRIES:
                raise UnlockRefused(N_("Too many wrong unlock codes: this code no longer works. Ask the proctor "
                                       "for a new one."))
            raise UnlockRefused("That unlock code is wrong or has expired. Ask the proctor for a new one.")
    attempt.status = "in_exam"
    attempt.unlock_code_hash = attempt.unlock_code_expires_at = None
    log(session, attempt, "unlock", address=address, actor=actor, detail={"by_code": code is not None})
    session.flush()
    return attempt


def _void_unlock_code(session: Session, attempt: Attempt, address: str) -> None:
    if attempt.unlock_code_hash:
        attempt.unlock_code_hash = attempt.unlock_code_expires_at = None
        log(session, attempt, "unlock_code_voided", address=address)


def enter_by_code(session: Session, code: str, user_id: int, *, address: str) -> Attempt:
    """Remote sitting (C1, seed 000): a 6-digit code opens the exam for a rostered candidate
    inside the session's window. Failures count per code, per account and per address; over
    a limit, the answer is 'too many tries' whatever the code."""
    code = (code or "").strip()
    keys = {"code": f"code:{code}", "account": f"account:{user_id}", "address": f"address:{address}"}
    for kind, key in keys.items():
        if throttle.blocked(session, key, limit=CODE_LIMITS[kind], window=CODE_WINDOW):
            raise TooManyTries("Too many wrong exam codes. Wait a quarter of an hour, or ask the proctor.")
    sitting = session.scalars(select(ExamSession).where(ExamSession.exam_code == code)).first() \
        if len(code) == 6 and code.isdigit() else None
    exam = session.get(Exam, sitting.exam_id) if sitting else None
    paper = session.scalars(select(Paper).where(Paper.exam_id == exam.id)).first() if exam else None
    assigned = exam_sessions.session_of(session, exam.id, user_id) if exam else None
    if sitting is None or paper is None or not paper.remote_allowed or assigned is None or assigned.id != sitting.id:
        for kind, key in keys.items():
            throttle.fail(session, key, window=CODE_WINDOW)
        raise NotFound("No exam of yours opens with that code. Check the six digits.")
    return log_in(session, exam, user_id, address=address, mode="code")


class TooManyTries(Forbidden):
    http_status = 429
    code = "too_many_tries"


def get(session: Session, attempt_id: int) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound("That attempt does not exist.")
    return attempt


def validate_info_form(fields: list[dict], data: dict) -> dict:
    """The pre-exam information form (C2): every required field filled, values trimmed."""
    clean, missing = {}, []
    for f in fields:
        name = f.get("name")
        value = str(data.get(name, "")).strip()[:500]
        if f.get("required") and not value:
            missing.append(f.get("label") or name)
        clean[name] = value
    if missing:
        message = f"Please fill in: {', '.join(missing)}."
        raise Invalid(message)
    return clean


def store_upload(session: Session, attempt: Attempt, question_id: int, *, name: str, mime: str, data: bytes):
    """Keep an uploaded answer file (the event that names it is saved by the page)."""
    from pathlib import PurePath

    from bridge.models.attempts import AnswerFile
    from bridge.models.bank import Question

    attempt = settle(session, attempt)
    if attempt.status != "in_exam":
        raise InvalidState("The exam is not open for answers now (locked or submitted).")
    if question_id not in {i["question_id"] for i in attempt.items}:
        raise NotFound("That question is not on your paper.")
    q = session.get(Question, question_id)
    if q is None or q.qtype != "upload":
        raise Invalid("That question does not take a file.")
    name = PurePath(name.replace("\\", "/")).name[:255] or "upload"
    allowed = [e.lower() if e.startswith(".") else "." + e.lower() for e in q.upload_extensions or []]
    if allowed and PurePath(name).suffix.lower() not in allowed:
        message = f"This question takes {', '.join(allowed)} files."
        raise Invalid(message)
    limit = q.upload_max_bytes or 20 * 1024 * 1024
    if len(data) > limit:
        message = f"The file is larger than the {limit // 1024} KB this question allows."
        raise Invalid(message)
    row = AnswerFile(attempt_id=attempt.id, question_id=question_id, name=name, mime=(mime or "application/octet-stream")[:100],
                     size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data)
    session.add(row)
    log(session, attempt, "upload", detail={"question": question_id, "name": name, "size": len(data)})
    session.flush()
    return row
