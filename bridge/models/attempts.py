"""Attempts and the answer event stream (DESIGN "Answers are events", C5–C7, C10).

An attempt is (candidate, exam) in one session: not_logged_in → logged_in → rules_read →
in_exam ⇄ locked → submitted; absent; voided (re-exam opens a new attempt). Every answer
change is an ``AnswerEvent``, idempotent on (attempt, writer, seq); the current answer to an
item is its newest applied event.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge import clock
from bridge.db import Base, TimestampMixin

STATUSES = ("not_logged_in", "logged_in", "rules_read", "in_exam", "locked", "submitted", "absent", "voided")


class Attempt(TimestampMixin, Base):
    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer, default=1)  # 2, 3… after a re-exam
    status: Mapped[str] = mapped_column(String(20), default="not_logged_in", index=True)
    epoch: Mapped[int] = mapped_column(Integer, default=1)
    items: Mapped[list] = mapped_column(JSON, default=list)  # [{"question_id", "points", "order"}]
    logged_in_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    rules_read_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    started_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    deadline_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    extra_seconds: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    submit_reason: Mapped[str] = mapped_column(String(20), default="")  # candidate | locks | deadline | proctor
    lock_count: Mapped[int] = mapped_column(Integer, default=0)
    unlock_code_hash: Mapped[Optional[str]] = mapped_column(String(64))
    unlock_code_expires_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    score: Mapped[Optional[float]] = mapped_column(Float)
    score_complete: Mapped[bool] = mapped_column(Boolean, default=False)  # subjective items graded
    mode: Mapped[str] = mapped_column(String(10), default="lms")  # lms | code | kiosk

    exam = relationship("Exam")
    session = relationship("ExamSession")
    user = relationship("User")

    __table_args__ = (UniqueConstraint("exam_id", "user_id", "number"),)


class AnswerEvent(Base):
    """One answer change. ``status``: applied | fenced (older epoch) | conflict (the key was
    reused with another payload; kept for audit, never applied)."""

    __tablename__ = "answer_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    writer: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    question_id: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(Integer, default=1)
    client_time: Mapped[Optional[float]] = mapped_column(Float)
    server_time: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
    status: Mapped[str] = mapped_column(String(10), default="applied")
    prev_hash: Mapped[Optional[str]] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("attempt_id", "writer", "seq"),)


class AnswerHead(Base):
    """Per (attempt, writer): the highest seq stored and the chain head (the hash of the
    writer's most recently accepted event). Kept by the batch that appends the events, so
    an autosave never scans the stream to find where a writer's chain ends."""

    __tablename__ = "answer_heads"

    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True)
    writer: Mapped[str] = mapped_column(String(64), primary_key=True)
    max_seq: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(64))


class AnswerFile(TimestampMixin, Base):
    """A file uploaded as the answer to an upload item; events refer to it by sha256."""

    __tablename__ = "answer_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AttemptLog(Base):
    """The candidate log (P7): time, address, action — logins, locks, unlocks, submits."""

    __tablename__ = "attempt_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
    address: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class ItemGrade(Base):
    """Points for one item of an attempt: automatic for objective items, a teacher's for the rest."""

    __tablename__ = "item_grades"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(Integer)
    points: Mapped[float] = mapped_column(Float)
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    grader_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str] = mapped_column(Text, default="")
    graded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)

    __table_args__ = (UniqueConstraint("attempt_id", "question_id"),)


class InfoFormResponse(TimestampMixin, Base):
    """The pre-exam information form (C2), once per attempt."""

    __tablename__ = "info_form_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), unique=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class ThrottleCounter(Base):
    """Failures per key (an exam code, an account, an address) in a fixed window."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)
