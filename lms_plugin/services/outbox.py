"""The score outbox (L5): a publish that fails is retried until it succeeds and never lost.

``publish_score`` only writes a row in the caller's transaction; delivery happens later, in
``deliver_due`` (the background worker, or ``exambridge outbox deliver``), one row at a time:

1. claim (short transaction): pick one due pending row — ``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so two workers never take the same row — and push its ``next_attempt_at`` one
   lease ahead. Commit. A worker that dies mid-delivery leaves the row due again when the
   lease runs out.
2. call the LMS with no transaction open: find or create the exam's line item, post the score.
3. record (short transaction): sent, retry later with capped exponential backoff and jitter,
   or failed for good when the LMS refused the score itself. The lease value doubles as a
   fencing token: a worker whose lease was taken over records nothing.

Posting a score twice is harmless — AGS scores carry the publish ``timestamp`` and the
platform ignores older ones — so a retry after a lost answer cannot undo a newer score.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import random
import threading
from typing import Callable

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from bridge import clock
from bridge.errors import Invalid
from bridge.models.exams import Exam
from bridge.models.users import Course, CourseMember
from bridge.services import audit
from lms_plugin.errors import ServiceError
from lms_plugin.models import Deployment, ScoreOutbox
from lms_plugin.services import ags, service_token, tool_keys

log = logging.getLogger(__name__)

STATUSES = ("pending", "sent", "superseded", "failed")
# Only these end a score's delivery: the LMS refused the score itself (a 4xx to the score
# POST), or the person has no LMS identity. `exambridge outbox retry` re-queues them.
PERMANENT_REASONS = frozenset({"score_refused", "no_lti_sub"})
BASE_BACKOFF_SECONDS = 5.0
MIN_LEASE_SECONDS = 60.0
BATCH = 100  # rows per background run; a full batch means "go again at once"


@dataclasses.dataclass(frozen=True)
class DeliveryResult:
    sent: int = 0
    retry: int = 0
    failed: int = 0


# --- publishing --------------------------------------------------------------------------------
def _check_score(exam: Exam, score_given, activity_progress: str, grading_progress: str) -> float:
    maximum = float(exam.score_maximum)
    try:
        score = float(score_given)
    except (TypeError, ValueError):
        raise Invalid(f"The score must be a number between 0 and {maximum:g}.") from None
    if not math.isfinite(score) or not 0 <= score <= maximum:
        raise Invalid(f"The score must be between 0 and {maximum:g} (the exam's maximum); "
                      f"{score_given} is outside that range.")
    if activity_progress not in ags.ACTIVITY_PROGRESS:
        raise Invalid(f"activity progress must be one of {', '.join(ags.ACTIVITY_PROGRESS)}.")
    if grading_progress not in ags.GRADING_PROGRESS:
        raise Invalid(f"grading progress must be one of {', '.join(ags.GRADING_PROGRESS)}.")
    return score


def _check_grade_service(exam: Exam) -> None:
    """Refuse now, not at delivery, when the launch never offered what sending needs."""
    course = exam.course
    if not exam.lineitem_url and not course.ags_lineitems_url:
        raise Invalid("The LMS has not offered grade services for this course. Enable 'IMS LTI "
                      "Assignment and Grade Services' in the tool's settings in the LMS, then "
                      "launch the tool from the course again.")
    if service_token.SCOPE_SCORE not in (course.ags_scopes or []):
        raise Invalid("The LMS has not allowed this tool to send scores for this course. Enable "
                      "'IMS LTI Assignment and Grade Services' (scores) in the tool's settings "
                      "in the LMS, then launch the tool from the course again.")


def idempotency_key(*, exam_id: int, user_id: int, score_given: float, score_maximum: float,
                    comment: str, activity_progress: str, grading_progress: str,
                    follows: str = "") -> str:
    """sha256 over the score's content and the key of the row it follows (``follows``).

    The chain element is what lets a teacher go back to an earlier score: 80, then 90, then 80
    again are three publications, while 80 published twice in a row is one.
    """
    body = json.dumps([exam_id, user_id, repr(float(score_given)), repr(float(score_maximum)),
                       comment, activity_progress, grading_progress, follows],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def on_score_ready(session: Session, *, exam: Exam, user_id: int, score_given, actor: str) -> ScoreOutbox:
    """``bridge.signals.score_ready``'s receiver: the released score goes to the outbox."""
    return publish_score(session, exam, user_id, score_given=score_given, actor=actor)


def publish_score(session: Session, exam: Exam, user_id: int, *, score_given, comment: str = "",
                  actor: str, activity_progress: str = "Completed",
                  grading_progress: str = "FullyGraded") -> ScoreOutbox:
    """Queue a score for the LMS gradebook; returns the outbox row (flushes, never commits).

    The same score published again while it is the newest publication for (exam, user) is a
    no-op that returns the existing row. A new score supersedes older unsent ones.
    """
    score = _check_score(exam, score_given, activity_progress, grading_progress)
    comment = comment or ""
    member = session.scalars(select(CourseMember).options(joinedload(CourseMember.user)).where(
        CourseMember.course_id == exam.course_id, CourseMember.user_id == user_id)).first()
    if member is None or not member.active:
        raise Invalid("That person is not an active member of this exam's course; sync the "
                      "roster from the LMS and try again.")
    if not member.user.lti_sub:
        raise Invalid(f"{member.user.display_name} has no LMS account, so the LMS gradebook "
                      "cannot take their score.")
    _check_grade_service(exam)

    latest = session.scalars(select(ScoreOutbox).where(
        ScoreOutbox.exam_id == exam.id, ScoreOutbox.user_id == user_id)
        .order_by(ScoreOutbox.id.desc()).limit(1)).first()
    content = dict(exam_id=exam.id, user_id=user_id, score_given=score,
                   score_maximum=float(exam.score_maximum), comment=comment,
                   activity_progress=activity_progress, grading_progress=grading_progress)
    if latest is not None and latest.status in ("pending", "sent") and \
            all(getattr(latest, field) == value for field, value in content.items()):
        return latest
    key = idempotency_key(**content, follows=latest.idempotency_key if latest else "")
    row = ScoreOutbox(idempotency_key=key, timestamp=clock.now().isoformat(timespec="milliseconds"),
                      status="pending", attempts=0, next_attempt_at=clock.utcnow_naive(),
                      last_error="", **content)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same publish raced us and won: that row is ours too
        existing = session.scalars(select(ScoreOutbox).where(ScoreOutbox.idempotency_key == key)).first()
        if existing is None:
            raise
        return existing
    superseded = session.execute(
        update(ScoreOutbox).where(ScoreOutbox.exam_id == exam.id, ScoreOutbox.user_id == user_id,
                                  ScoreOutbox.status == "pending", ScoreOutbox.id != row.id)
        .values(status="superseded"), execution_options={"synchronize_session": "fetch"}).rowcount
    audit.record(session, "score.publish", actor=actor, target=f"exam:{exam.id}/user:{user_id}",
                 detail={"outbox": row.id, "score_given": score,
                         "score_maximum": row.score_maximum, "superseded": superseded})
    return row


# --- reading -----------------------------------------------------------------------------------
def counts(session: Session) -> dict[str, int]:
    """Rows per status; every status is present, zero included."""
    result = dict.fromkeys(STATUSES, 0)
    result.update((status, int(n)) for status, n in session.execute(
        select(ScoreOutbox.status, func.count()).group_by(ScoreOutbox.status)))
    return result


def resend_latest(session: Session, exam_id: int) -> int:
    """After the exam's gradebook column changed: each person's newest score that was already
    delivered goes again (to the new column), with a new timestamp. Returns how many."""
    newest = (select(func.max(ScoreOutbox.id)).where(ScoreOutbox.exam_id == exam_id)
              .group_by(ScoreOutbox.user_id))
    rows = list(session.scalars(select(ScoreOutbox).where(ScoreOutbox.id.in_(newest),
                                                          ScoreOutbox.status == "sent")))
    now = clock.utcnow_naive()
    for row in rows:
        row.status, row.sent_at, row.last_error, row.next_attempt_at = "pending", None, "", now
        row.timestamp = clock.now().isoformat(timespec="milliseconds")
    session.flush()
    return len(rows)


def for_exam(session: Session, exam_id: int) -> list[ScoreOutbox]:
    """The exam's deliveries, newest first, each with its ``user`` loaded."""
    return list(session.scalars(select(ScoreOutbox).options(joinedload(ScoreOutbox.user))
                                .where(ScoreOutbox.exam_id == exam_id)
                                .order_by(ScoreOutbox.id.desc())))


# --- delivering --------------------------------------------------------------------------------
def backoff_seconds(attempts: int, *, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before retry number ``attempts`` (1, 2, …): 5 s doubling each time, capped at
    ``cap``, with "equal jitter" (between half and all of it) so retries of many rows spread."""
    ceiling = min(float(cap), BASE_BACKOFF_SECONDS * 2 ** min(max(attempts, 1) - 1, 40))
    return ceiling * (0.5 + 0.5 * rand())


@dataclasses.dataclass(frozen=True)
class _Job:
    """A claimed row and everything needed to deliver it, detached from the database."""

    row_id: int
    lease_until: dt.datetime
    exam_id: int
    platform_id: int
    creds: service_token.PlatformCredentials
    lineitem_url: str | None
    lineitems_url: str | None
    granted: tuple[str, ...]
    exam_title: str
    exam_public_id: str
    exam_maximum: float
    resource_link_ids: tuple[str, ...]   # the exam's placements, oldest first
    activity_lineitem: str | None        # an activity's line item a launch named
    user_sub: str
    score_given: float
    score_maximum: float
    comment: str
    activity_progress: str
    grading_progress: str
    timestamp: str


def _anything_due(make_session: sessionmaker) -> bool:
    """A plain read first: the claim takes SQLite's write lock, and a poll that finds nothing
    must not wait for it behind the group writer's batch (on the loop, that stalls every
    request of the process for the length of the batch)."""
    with make_session() as s:
        return s.execute(select(ScoreOutbox.id).where(ScoreOutbox.status == "pending",
                                                      ScoreOutbox.next_attempt_at <= clock.utcnow_naive())
                         .limit(1)).first() is not None


def _claim(make_session: sessionmaker, *, lease_seconds: float, timeout: float,
           skip_platforms: set[int]) -> _Job | None:
    with make_session() as s, s.begin():
        now = clock.utcnow_naive()
        lease_until = now + dt.timedelta(seconds=lease_seconds)
        due = (select(ScoreOutbox.id)
               .where(ScoreOutbox.status == "pending", ScoreOutbox.next_attempt_at <= now)
               .order_by(ScoreOutbox.next_attempt_at, ScoreOutbox.id).limit(1))
        if skip_platforms:
            due = due.where(ScoreOutbox.exam_id.not_in(
                select(Exam.id).join(Course, Course.id == Exam.course_id)
                .join(Deployment, Deployment.id == Course.deployment_id)
                .where(Deployment.platform_id.in_(skip_platforms))))
        if s.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # One statement that writes first: on SQLite it takes the write lock before reading,
        # on PostgreSQL the subquery skips rows another worker holds.
        row_id = s.execute(
            update(ScoreOutbox)
            .where(ScoreOutbox.id == due.scalar_subquery(), ScoreOutbox.status == "pending")
            .values(next_attempt_at=lease_until).returning(ScoreOutbox.id),
            execution_options={"synchronize_session": False}).scalar()
        if row_id is None:
            return None
        row = s.get(ScoreOutbox, row_id)
        exam, user = row.exam, row.user
        course = exam.course
        platform = course.deployment.platform
        return _Job(
            row_id=row.id, lease_until=lease_until, exam_id=exam.id, platform_id=platform.id,
            creds=service_token.credentials(s, platform, timeout=timeout),
            lineitem_url=exam.lineitem_url, lineitems_url=course.ags_lineitems_url,
            granted=tuple(course.ags_scopes or ()), exam_title=exam.title,
            exam_public_id=exam.public_id, exam_maximum=exam.score_maximum,
            resource_link_ids=() if exam.lineitem_url else tuple(
                link.resource_link_id for link in ags.resource_links_of(s, exam)),
            activity_lineitem=None if exam.lineitem_url else ags.activity_lineitem(s, exam),
            user_sub=user.lti_sub or "", score_given=row.score_given,
            score_maximum=row.score_maximum, comment=row.comment,
            activity_progress=row.activity_progress, grading_progress=row.grading_progress,
            timestamp=row.timestamp)


@dataclasses.dataclass(frozen=True)
class _Outcome:
    lineitem_url: str | None
    error: ServiceError | None = None
    source: str | None = None  # how a column found at delivery came: activity | created


# Creating a line item is not idempotent in the LMS: within a process, one exam at a time.
_lineitem_locks: dict[int, threading.Lock] = {}
_lineitem_locks_guard = threading.Lock()


def _lineitem_lock(exam_id: int) -> threading.Lock:
    with _lineitem_locks_guard:
        return _lineitem_locks.setdefault(exam_id, threading.Lock())


def _deliver(job: _Job, ensure_lineitem: Callable[[_Job], tuple[str, str] | str]) -> _Outcome:
    """The network part: no database session is open here."""
    lineitem_url, source = job.lineitem_url, None
    try:
        if not job.user_sub:
            raise ServiceError("This person has no LMS account any more, so the LMS gradebook "
                               "cannot take their score.", reason="no_lti_sub", retryable=False)
        if not lineitem_url:
            found = ensure_lineitem(job)
            lineitem_url, source = found if isinstance(found, tuple) else (found, "created")
        ags.post_score(job.creds, lineitem_url, user_sub=job.user_sub,
                       score_given=job.score_given, score_maximum=job.score_maximum,
                       comment=job.comment, activity_progress=job.activity_progress,
                       grading_progress=job.grading_progress, timestamp=job.timestamp,
                       granted=job.granted)
        return _Outcome(lineitem_url, None, source)
    except ServiceError as exc:
        return _Outcome(lineitem_url, exc, source)
    except Exception as exc:  # a bug must not lose the score: keep it pending and say why
        log.exception("delivering outbox row %s failed unexpectedly", job.row_id)
        return _Outcome(lineitem_url, ServiceError(f"Internal error while sending: {exc!r}",
                                                   reason="internal_error"))


def _ensure_lineitem(job: _Job) -> tuple[str, str]:
    """The exam's one column (lms_plugin.services.gradebook): the line item of the activity it
    is placed in (named by a launch, or listed by the LMS), else a column of its own."""
    if job.activity_lineitem:
        return job.activity_lineitem, "activity"
    lineitems_url = ags.require_lineitems_url(job.lineitems_url)
    with _lineitem_lock(job.exam_id):
        return ags.resolve_lineitem(job.creds, lineitems_url, label=job.exam_title,
                                    score_maximum=job.exam_maximum, resource_id=job.exam_public_id,
                                    resource_link_ids=job.resource_link_ids, granted=job.granted)


def _record(make_session: sessionmaker, job: _Job, outcome: _Outcome, *, max_backoff: float) -> str:
    """Store the outcome; returns 'sent', 'retry', 'failed' or 'lost' (lease taken over)."""
    with make_session() as s, s.begin():
        # Write first (SQLite takes its write lock here, not at commit) and fence: only the
        # holder of the current lease may record.
        owned = s.execute(
            update(ScoreOutbox)
            .where(ScoreOutbox.id == job.row_id, ScoreOutbox.next_attempt_at == job.lease_until)
            .values(attempts=ScoreOutbox.attempts + 1).returning(ScoreOutbox.id),
            execution_options={"synchronize_session": False}).scalar()
        if owned is None:
            log.warning("outbox row %s: its lease ran out before the result came back (or the "
                        "row is gone); the current owner records it", job.row_id)
            return "lost"
        row = s.get(ScoreOutbox, job.row_id)
        now = clock.utcnow_naive()
        exam = s.get(Exam, job.exam_id)
        if outcome.lineitem_url and not job.lineitem_url:
            if exam is not None and not exam.lineitem_url:
                exam.lineitem_url, exam.lineitem_source = outcome.lineitem_url, outcome.source or "created"
                audit.record(s, "gradebook.column", actor="system:outbox", target=f"exam:{exam.id}",
                             detail={"to": outcome.lineitem_url, "source": exam.lineitem_source})
        error = outcome.error
        if error is None and exam is not None and exam.lineitem_url \
                and exam.lineitem_url != outcome.lineitem_url and row.status == "pending":
            # The exam's column changed while this score was on the wire: it goes again, there.
            row.last_error, row.next_attempt_at = "", now
            return "moved"
        if error is None:
            row.status, row.sent_at, row.last_error, row.next_attempt_at = "sent", now, "", now
            return "sent"
        row.last_error = error.message
        if error.reason == "stale_timestamp" and row.status == "pending":
            row.timestamp = clock.now().isoformat(timespec="milliseconds")
        if error.retryable:
            row.next_attempt_at = now + dt.timedelta(
                seconds=backoff_seconds(row.attempts, cap=max_backoff))
            return "retry"
        if error.reason not in PERMANENT_REASONS:
            # Not a refusal of the score itself but of the set-up (token refused, scope not
            # granted, no grade service): an administrator can fix that, and the score must
            # not be lost meanwhile (L5). Keep it, at the longest backoff.
            row.next_attempt_at = now + dt.timedelta(seconds=max_backoff)
            return "retry"
        row.next_attempt_at = now
        if row.status == "pending":
            row.status = "failed"
        audit.record(s, "score.failed", actor="system:outbox",
                     target=f"exam:{job.exam_id}/user:{row.user_id}", outcome="error",
                     detail={"outbox": row.id, "reason": error.reason, "status": error.status,
                             "message": error.message})
        return "failed"


def deliver_due(app=None, *, limit: int = 100) -> DeliveryResult:
    """Try each due score once (at most ``limit``). Uses its own sessions and transactions, so
    call it outside any open one; ``app`` defaults to the current Flask app."""
    from flask import current_app

    from bridge.extensions import db

    app = app or current_app._get_current_object()
    with app.app_context():
        cfg = app.config
        timeout = float(cfg.get("EXAMBRIDGE_HTTP_TIMEOUT_SECONDS", service_token.DEFAULT_TIMEOUT_SECONDS))
        max_backoff = float(cfg.get("EXAMBRIDGE_OUTBOX_MAX_BACKOFF_SECONDS", 900))
        # The lease covers a token fetch, line-item paging and a post with one 401 retry.
        lease = max(MIN_LEASE_SECONDS, 6 * timeout)
        make_session = sessionmaker(bind=db.engine, expire_on_commit=False)
        if not _anything_due(make_session):
            return DeliveryResult(sent=0, retry=0, failed=0)
        # Make sure the tool has a signing key before any claim holds a write lock: making
        # one inside the claim would need a second writer (SQLite has only one).
        with make_session() as s, s.begin():
            tool_keys.signing_key(s)
        counted = {"sent": 0, "retry": 0, "failed": 0}
        unreachable: set[int] = set()  # platforms that failed retryably in this run
        for _ in range(limit):
            job = _claim(make_session, lease_seconds=lease, timeout=timeout,
                         skip_platforms=unreachable)
            if job is None:
                break
            outcome = _deliver(job, _ensure_lineitem)
            state = _record(make_session, job, outcome, max_backoff=max_backoff)
            if state in counted:
                counted[state] += 1
            if state == "retry":
                unreachable.add(job.platform_id)  # its other rows wait for the next run
        return DeliveryResult(**counted)


# --- background sender -----------------------------------------------------------------------
_wakers: list = []
_wakers_guard = threading.Lock()


def kick() -> None:
    """Wake the background sender(s) now instead of at the next poll."""
    with _wakers_guard:
        for event in _wakers:
            event.set()


def _gevent_active() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return monkey.is_module_patched("socket")


def start_worker(app) -> Callable[[], None]:
    """Run ``deliver_due`` every ``EXAMBRIDGE_OUTBOX_POLL_SECONDS`` or when kicked, in a gevent
    greenlet when gevent has patched the socket module, else in a daemon thread. The loop logs
    and survives every exception. Returns ``stop()``, which ends the loop and waits for it."""
    poll = float(app.config.get("EXAMBRIDGE_OUTBOX_POLL_SECONDS", 5))
    use_gevent = _gevent_active()
    if use_gevent:
        from gevent.event import Event
    else:
        Event = threading.Event
    wake, stopping = Event(), Event()
    with _wakers_guard:
        _wakers.append(wake)

    def loop() -> None:
        while not stopping.is_set():
            busy = False
            try:
                result = deliver_due(app, limit=BATCH)
                busy = result.sent + result.retry + result.failed >= BATCH  # more are due
            except Exception:
                log.exception("score outbox: delivery run failed; trying again in %s s", poll)
            if not busy:
                wake.wait(poll)
            wake.clear()

    if use_gevent:
        import gevent

        runner = gevent.spawn(loop)
        join = runner.join
    else:
        runner = threading.Thread(target=loop, name="exambridge-outbox", daemon=True)
        runner.start()
        join = runner.join

    def stop(timeout: float = 30.0) -> None:
        stopping.set()
        wake.set()
        join(timeout)
        with _wakers_guard:
            if wake in _wakers:
                _wakers.remove(wake)

    return stop
