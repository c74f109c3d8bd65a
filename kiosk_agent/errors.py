"""One root for everything the agent refuses or fails at: ``AgentError``.

Each subclass carries a message that says what to do about it; the CLI prints it and exits
with the subclass's ``exit_code`` (services and scripts can tell them apart).
"""
from __future__ import annotations


class AgentError(Exception):
    """Anything the agent cannot do; ``str(exc)`` says what to fix."""
    exit_code = 1


class ConfigError(AgentError):
    """A bad command-line option or configuration value."""
    exit_code = 2


class EnrolmentError(AgentError):
    """The bridge refused the room's kiosk enrolment code (or the room)."""
    exit_code = 3


class IdentityError(AgentError):
    """The device identity in the data directory cannot be read or written."""
    exit_code = 4


class DiskFullError(AgentError):
    """The data directory's disk is full: answers cannot be journaled."""
    exit_code = 5


class AlreadyRunning(AgentError):
    """Another agent holds this data directory."""
    exit_code = 6


class LockdownError(AgentError):
    """A lockdown backend cannot do what it was asked (wrong OS, missing browser, ...)."""
    exit_code = 7
