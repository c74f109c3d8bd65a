"""LTI tables: platforms and deployments, the tool's keys, login state, resource links,
the score outbox and one-time tickets. They live on the bridge's metadata."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge import clock
from bridge.db import Base, TimestampMixin


class Platform(TimestampMixin, Base):
    """An LMS the tool trusts: one (issuer, client_id) registration."""

    __tablename__ = "platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    auth_login_url: Mapped[str] = mapped_column(String(2000))
    auth_token_url: Mapped[str] = mapped_column(String(2000))
    jwks_url: Mapped[str] = mapped_column(String(2000))
    registered_by: Mapped[str] = mapped_column(String(20), default="cli")  # cli | admin | dynamic
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    product: Mapped[str] = mapped_column(String(100), default="")

    deployments = relationship("Deployment", back_populates="platform", cascade="all, delete-orphan")

    __table_args__ = (UniqueConstraint("issuer", "client_id"),)


class Deployment(TimestampMixin, Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))

    platform = relationship("Platform", back_populates="deployments")

    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)


class ToolKey(TimestampMixin, Base):
    """The tool's RSA signing keys. The newest unretired key signs; retired keys stay in the
    JWKS until ``retired_at`` + grace so platforms holding a cached JWKS keep verifying.
    The private key is kept sealed with the bridge's secret (``lms_plugin.services.tool_keys``),
    never in clear."""

    __tablename__ = "tool_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_sealed: Mapped[str] = mapped_column(Text)  # hex(nonce ‖ AES-GCM(PEM)), bridge.services.signing.seal
    public_jwk: Mapped[dict] = mapped_column(JSON)
    retired_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


class LoginState(Base):
    """OIDC login state, server-side and single use, bound to the browser by a cookie whose
    value hashes to ``binding_hash``."""

    __tablename__ = "lti_login_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    target_link_uri: Mapped[str] = mapped_column(String(2000))
    binding_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive, index=True)
    consumed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


class UsedNonce(Base):
    __tablename__ = "lti_used_nonces"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive, index=True)

    __table_args__ = (UniqueConstraint("platform_id", "nonce"),)


class ResourceLink(TimestampMixin, Base):
    __tablename__ = "resource_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="")
    exam_id: Mapped[Optional[int]] = mapped_column(ForeignKey("exams.id", ondelete="SET NULL"))
    lineitem_url: Mapped[Optional[str]] = mapped_column(String(2000))  # the activity's own column (AGS claim)

    exam = relationship("Exam")

    __table_args__ = (UniqueConstraint("course_id", "resource_link_id"),)


class ScoreOutbox(TimestampMixin, Base):
    """A score waiting to reach the LMS gradebook (L5). Rows are never deleted: a sent row
    records when it was delivered; a newer score for the same (exam, user) supersedes an
    unsent older one. ``idempotency_key`` makes publishing the same score twice a no-op."""

    __tablename__ = "score_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    activity_progress: Mapped[str] = mapped_column(String(30), default="Completed")
    grading_progress: Mapped[str] = mapped_column(String(30), default="FullyGraded")
    timestamp: Mapped[str] = mapped_column(String(40))  # ISO 8601 sent as the AGS timestamp
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    # pending | sent | superseded | failed (permanent: the LMS refused the score itself)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    user = relationship("User")
    exam = relationship("Exam")


class RegistrationTicket(TimestampMixin, Base):
    """A one-time dynamic-registration URL issued by an admin (production mode)."""

    __tablename__ = "lti_registration_tickets"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    platform_id: Mapped[Optional[int]] = mapped_column(ForeignKey("platforms.id", ondelete="SET NULL"))


class LaunchTicket(TimestampMixin, Base):
    """Single-use ticket that carries a login initiation into a new top-level window when the
    browser blocks the tool's cookies inside the LMS iframe (L6)."""

    __tablename__ = "lti_launch_tickets"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    params: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
