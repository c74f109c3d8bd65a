"""Exams placed in a course. Papers, sessions and attempts arrive with later issues."""
from __future__ import annotations

import secrets
from typing import Optional

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.db import Base, TimestampMixin


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


class Exam(TimestampMixin, Base):
    __tablename__ = "exams"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    score_maximum: Mapped[float] = mapped_column(Float, default=100.0)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lineitem_url: Mapped[Optional[str]] = mapped_column(String(2000))
    # activity | created | chosen: where lineitem_url came from (lms_plugin.services.gradebook)
    lineitem_source: Mapped[Optional[str]] = mapped_column(String(20))
    # What an exam PC must have to sit this exam (V3): bridge.services.venue.envchecks.REQUIREMENTS
    env_requirements: Mapped[Optional[dict]] = mapped_column(JSON)

    course = relationship("Course")
