"""The sandbox's records: plain dataclasses, JSON-serialisable with ``asdict``.

Names follow Moodle: a *tool type* (``type_id``, also the LTI deployment id) is a
registration; an *activity* is an LTI instance (its id is the ``resource_link.id``); a
*line item* is a grade item.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolRegistration:
    client_id: str
    deployment_id: str
    type_id: int
    name: str
    login_url: str
    launch_url: str
    deeplink_url: str | None
    jwks_url: str
    redirect_uris: list[str]
    scopes: list[str]
    description: str = ""
    domain: str = ""
    custom: dict[str, str] = field(default_factory=dict)
    send_name: bool = True
    send_email: bool = True
    default_container: str = "window"  # Moodle: dynamic registrations default to embedded
    registered_by: str = "api"  # api | manual | dynamic
    active: bool = True
    logo_uri: str = ""
    created_at: float = 0.0

    @property
    def supports_deep_linking(self) -> bool:
        return bool(self.deeplink_url)


@dataclass
class Activity:
    """A resource link placed in the course."""

    id: int
    type_id: int
    client_id: str
    title: str
    url: str | None = None  # None: the tool's launch URL
    description: str = ""
    custom: dict[str, str] = field(default_factory=dict)
    container: str | None = None  # None: the tool's default
    created_by: str = "api"  # api | form | deep linking
    created_at: float = 0.0


@dataclass
class LineItem:
    id: int
    type_id: int
    label: str
    score_maximum: float
    resource_id: str = ""
    tag: str = ""
    activity_id: int | None = None
    start_date_time: str | None = None
    end_date_time: str | None = None
    created_by: str = "api"  # api | deep linking | tool
    created_at: float = 0.0


@dataclass
class Score:
    """One score POST as received. ``applied`` is False when a newer score was already on
    record (the post was ignored or refused)."""

    line_item_id: int
    user_id: str
    timestamp: str
    activity_progress: str
    grading_progress: str
    score_given: float | None = None
    score_maximum: float | None = None
    comment: str = ""
    received_at: float = 0.0
    applied: bool = True
    client_id: str = ""

    def grade(self, line_item_maximum: float) -> float | None:
        """The gradebook value: scaled to the line item's maximum, and only when FullyGraded
        (Moodle drops ``scoreGiven`` otherwise)."""
        if self.score_given is None or self.grading_progress != "FullyGraded":
            return None
        maximum = self.score_maximum or 1.0
        return round(self.score_given / maximum * line_item_maximum, 5)

    @property
    def timestamp_dt(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.timestamp.replace("Z", "+00:00"))


@dataclass
class LaunchHint:
    """What an ``lti_message_hint`` stands for: one launch, used once."""

    launch_id: str
    user_id: int
    client_id: str
    message_type: str  # LtiResourceLinkRequest | LtiDeepLinkingRequest
    activity_id: int | None
    container: str
    sesskey: str
    created_at: float
    used_at: float | None = None


@dataclass
class AccessToken:
    token_hash: str  # sha256 of the opaque token; the token itself is never stored
    client_id: str
    scopes: list[str]
    expires_at: float


@dataclass
class RegistrationToken:
    jti: str
    client_id: str  # the client id the registration will get (Moodle puts it in `sub`)
    expires_at: float
    used_at: float | None = None


def to_dict(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


def from_dict(cls, data: dict[str, Any]):
    """Build ``cls`` from a dict, ignoring unknown keys (older/newer state files)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
