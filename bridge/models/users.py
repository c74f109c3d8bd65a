"""People and their place in a course."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.db import Base, TimestampMixin

ROLES = ("admin", "teacher", "proctor", "candidate")


class User(TimestampMixin, Base):
    """A person. LMS users are found by (platform, sub) through ``lti_identities``;
    local accounts (proctors, site admins, the first admin) have a username."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[Optional[int]] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    lti_sub: Mapped[Optional[str]] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    given_name: Mapped[str] = mapped_column(String(255), default="")
    family_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    sourcedid: Mapped[str] = mapped_column(String(255), default="")
    locale: Mapped[Optional[str]] = mapped_column(String(16))
    username: Mapped[Optional[str]] = mapped_column(String(150), unique=True)
    password_hash: Mapped[Optional[str]] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("platform_id", "lti_sub"),)

    @property
    def display_name(self) -> str:
        return self.name or " ".join(p for p in (self.given_name, self.family_name) if p) \
            or self.username or f"#{self.id}"


class Course(TimestampMixin, Base):
    """An LMS context seen through one deployment (LTI-NOTES: key on iss, deployment, context)."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(255), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    nrps_url: Mapped[Optional[str]] = mapped_column(String(2000))
    ags_lineitems_url: Mapped[Optional[str]] = mapped_column(String(2000))
    ags_scopes: Mapped[list] = mapped_column(JSON, default=list)
    roster_synced_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    deployment = relationship("Deployment")
    members = relationship("CourseMember", back_populates="course", cascade="all, delete-orphan")

    __table_args__ = (UniqueConstraint("deployment_id", "context_id"),)


class CourseMember(TimestampMixin, Base):
    """A user's role in a course. ``role`` follows the LMS; ``designated_proctor`` is set by a
    teacher inside the tool, because Moodle cannot send a proctor role (LTI-NOTES)."""

    __tablename__ = "course_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    lms_roles: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    designated_proctor: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(20), default="launch")  # launch | nrps
    updated_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    course = relationship("Course", back_populates="members")
    user = relationship("User")

    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    @property
    def is_proctor(self) -> bool:
        return self.role == "proctor" or self.designated_proctor
