"""Domain errors: services raise these, ``bridge.web.errors`` maps them to HTTP."""
from __future__ import annotations


class DomainError(Exception):
    http_status = 400
    code = "invalid"

    def __init__(self, message: str, *, detail: str | None = None, params: dict | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.params = params or {}  # %(name)s values of ``message``, filled after translation

    def translated(self) -> str:
        """The message in the request's language, its parameters filled in."""
        from bridge.i18n import translate

        return translate(self.message, **self.params)


class Invalid(DomainError):
    http_status = 422
    code = "invalid"


class NotFound(DomainError):
    http_status = 404
    code = "not_found"


class Forbidden(DomainError):
    http_status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    http_status = 401
    code = "unauthorized"


class Conflict(DomainError):
    http_status = 409
    code = "conflict"


class InvalidState(DomainError):
    http_status = 409
    code = "invalid_state"


class ConfigError(Exception):
    """Start-up refused: the message says what to set."""
