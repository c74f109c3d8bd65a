"""Why a pack cannot be built or opened. Every message says what is wrong and, where a
person can act on it, what to do."""
from __future__ import annotations


class PackError(ValueError):
    """The root: nothing was read from the pack. ``code`` is stable and machine-readable."""

    code = "invalid"


class NotAPack(PackError):
    code = "not_a_pack"


class Truncated(PackError):
    code = "truncated"


class UnsupportedVersion(PackError):
    code = "unsupported_version"


class SignatureInvalid(PackError):
    code = "signature_invalid"


class ForeignKey(PackError):
    """The pack is sealed to another bridge's pack key."""

    code = "foreign_key"


class Malformed(PackError):
    """Signed and decrypted, but its content breaks the format (an agent bug, not tampering)."""

    code = "malformed"
