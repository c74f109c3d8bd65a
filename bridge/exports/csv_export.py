"""The one CSV writer of every export (violations, resumes, candidate logs, audit, results,
seat plans): UTF-8 with a BOM (so Excel and WPS read the Chinese right), CRLF rows, and
no cell a spreadsheet would run as a formula.

A name, description or note comes from candidates, kiosks and the LMS, so it may be
``=HYPERLINK("http://x")``. Following OWASP's CSV-injection rule, a *text* cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``; real numbers
(``int``, ``float``, ``Decimal``) are written as they are, so a score of -2 stays a number.
``unescape`` undoes the prefix for files the bridge reads back (the seat plan import).
The XLSX writer (``bridge.exports.xlsx``) applies the same ``cell`` rule to its text cells.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any, Iterable

MIME = "text/csv"
BOM = "\ufeff"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape(text: str) -> str:
    """``text`` as a spreadsheet shows it and never evaluates it."""
    return "'" + text if text.startswith(TRIGGERS) else text


def unescape(text: str) -> str:
    """Undo ``escape`` on a cell read back from one of our files."""
    return text[1:] if text.startswith("'") and text[1:].startswith(TRIGGERS) else text


def cell(value: Any) -> Any:
    """One value as a cell: None is empty, numbers stay numbers, times are written
    ``YYYY-MM-DD HH:MM:SS``, everything else is text, escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return escape(str(value))


def text(rows: Iterable[Iterable[Any]], *, bom: bool = True) -> str:
    """The whole file: every row through ``cell``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return (BOM if bom else "") + out.getvalue()


def encoded(rows: Iterable[Iterable[Any]], *, bom: bool = True) -> bytes:
    """``text`` as the UTF-8 bytes a download sends."""
    return text(rows, bom=bom).encode("utf-8")
