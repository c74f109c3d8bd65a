"""The error of a bank file refused as a whole (model and safety both raise it)."""


class FormatError(Exception):
    """The whole file is refused; the message tells the teacher what to fix."""
