"""The question bank of a course: categories, questions and their media (C4, C9)."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.db import Base, TimestampMixin

QTYPES = ("single", "multiple", "truefalse", "fill", "essay", "upload")
OBJECTIVE = frozenset({"single", "multiple", "truefalse", "fill"})


class QuestionCategory(TimestampMixin, Base):
    __tablename__ = "question_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("question_categories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("course_id", "parent_id", "name"),)


class Question(TimestampMixin, Base):
    """One item. ``choices``: [{"id", "html", "fraction", "feedback"}]; ``blanks``:
    [{"accepted": [...], "case_sensitive", "ignore_spaces"}]; ``correct`` for true/false."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[Optional[int]] = mapped_column(ForeignKey("question_categories.id", ondelete="SET NULL"),
                                                       index=True)
    qtype: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255), default="")
    stem_html: Mapped[str] = mapped_column(Text)
    points: Mapped[float] = mapped_column(Float, default=1.0)
    choices: Mapped[list] = mapped_column(JSON, default=list)
    blanks: Mapped[list] = mapped_column(JSON, default=list)
    correct: Mapped[Optional[bool]] = mapped_column(Boolean)
    shuffle: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    general_feedback_html: Mapped[str] = mapped_column(Text, default="")
    upload_extensions: Mapped[list] = mapped_column(JSON, default=list)
    upload_max_bytes: Mapped[Optional[int]] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(300), default="")  # editor | file name and position
    idnumber: Mapped[Optional[str]] = mapped_column(String(100), index=True)  # Moodle's ID number, when imported
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)

    category = relationship("QuestionCategory")


class QuestionMedia(TimestampMixin, Base):
    """An image (or other file) a stem refers to as ``@@PLUGINFILE@@/<name>``."""

    __tablename__ = "question_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (UniqueConstraint("question_id", "name"),)


class BankImportRecord(TimestampMixin, Base):
    """The report of one bank import, kept so the page after the import (a redirect) and a
    reload of it show the same report."""

    __tablename__ = "bank_import_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    format: Mapped[str] = mapped_column(String(20), default="")
    duplicates: Mapped[str] = mapped_column(String(10), default="skip")  # skip | update
    report: Mapped[dict] = mapped_column(JSON, default=dict)
