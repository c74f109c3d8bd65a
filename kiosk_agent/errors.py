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


# The journal's refusals stand apart from AgentError: the exam page's local endpoint answers
# each with its own reply (kiosk_agent.local_endpoint), the agent never exits on one.
class JournalError(Exception):
    """Nothing was written; the message says why."""


class JournalInvalid(JournalError):
    """An event is malformed (the exam page sent something the bridge would refuse too)."""


class JournalConflict(JournalError):
    """(attempt, writer, seq) is already journaled with another payload: the stored one is kept."""


class JournalFull(JournalError):
    """The disk (or the file-size limit) is full: the new records were not written, the
    earlier ones are intact."""


class JournalCorrupt(JournalError):
    """The attempt's journal file is damaged in the middle (not a torn tail): it is read up
    to the damage and never written again."""
