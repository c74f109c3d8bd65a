"""LTI errors. Each names what was wrong so the 4xx page and the audit line can say it."""
from __future__ import annotations

from bridge.errors import DomainError


class LtiError(DomainError):
    http_status = 400
    code = "lti_error"

    def __init__(self, message: str, *, reason: str, detail: str | None = None):
        super().__init__(message, detail=detail)
        self.reason = reason  # a stable machine name: bad_signature, unknown_kid, wrong_aud, ...


class LaunchRejected(LtiError):
    """The launch fails a check of the IMS security framework."""

    http_status = 401
    code = "launch_rejected"


class LoginRejected(LtiError):
    http_status = 400
    code = "login_rejected"


class ServiceError(LtiError):
    """An LTI Advantage service call (token, NRPS, AGS) failed."""

    http_status = 502
    code = "lms_service_error"

    def __init__(self, message: str, *, reason: str, status: int | None = None,
                 retryable: bool = True, detail: str | None = None):
        super().__init__(message, reason=reason, detail=detail)
        self.status = status
        self.retryable = retryable


class RegistrationError(LtiError):
    http_status = 400
    code = "registration_failed"
