"""Question-bank file formats: Moodle XML (import and export) and GIFT (import).

Pure format code, no database and no Flask: importers return an ``ImportReport`` of neutral
``Item``s plus the ``Skipped`` questions with their reasons; a file that can't be read at
all raises ``FormatError``. See docs/question-formats.md for the mapping.
"""
from .model import (QTYPES, Blank, Choice, FormatError, ImportReport, Item, Media, Skipped,
                    validate)

__all__ = ["QTYPES", "Blank", "Choice", "FormatError", "ImportReport", "Item", "Media",
           "Skipped", "validate"]
