"""What a walk through the product must never meet: an error document (4xx/5xx) in any
browser context, a traceback or error record in the server's log, and (in Chinese) English
interface text that the catalogue translates.

``Watch`` collects all three while a walk runs; ``Watch.assert_clean()`` fails with the
list of what it saw."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.pofile import read_po

CATALOG = Path(__file__).resolve().parents[2] / "bridge" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
# English words that may stand in a Chinese page: product and protocol names, units, codes.
ALLOWED_WORDS = {"ExamBridge", "LMS", "LTI", "UTC", "CSV", "XLSX", "PDF", "HTML", "GIFT", "Moodle", "XML", "Aiken",
                 "QTI", "English", "ID", "OK", "AGS", "NRPS", "min", "KB", "MB"}


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(f"{record.name}: {record.getMessage()}"
                                + (" (with traceback)" if record.exc_info else ""))


def _catalogue_phrases() -> list[str]:
    """Translated msgids of two words or more, longest first (a short one may sit inside a
    longer one)."""
    with open(CATALOG, "rb") as fh:
        po = read_po(fh)
    out = set()
    for m in po:
        ids = m.id if isinstance(m.id, (tuple, list)) else (m.id,)
        for mid in ids:
            if not mid or "%(" in mid or "{" in mid or "<" in mid:
                continue
            if len(re.findall(r"[A-Za-z]{2,}", mid)) >= 2:
                out.add(mid.strip())
    return sorted(out, key=len, reverse=True)


@dataclass
class Watch:
    """Install with ``Watch.start(contexts…)``; add contexts later with ``watch(ctx)``."""
    bad_documents: list[str] = field(default_factory=list)
    handler: _Records = field(default_factory=_Records)
    english: list[str] = field(default_factory=list)
    user_text: set[str] = field(default_factory=set)

    def __post_init__(self):
        logging.getLogger().addHandler(self.handler)

    def stop(self) -> None:
        logging.getLogger().removeHandler(self.handler)

    def watch(self, ctx):
        def on_response(resp):
            try:
                doc = resp.request.resource_type == "document"
            except Exception:  # the request went away with its page
                return
            if doc and resp.status >= 400:
                self.bad_documents.append(f"{resp.status} {resp.request.method} {resp.url}")
        ctx.on("response", on_response)
        return ctx

    def look_for_english(self, page, where: str) -> None:
        """Every English catalogue phrase, and every run of English words not in what
        people typed (names, titles, questions), found in the page's visible text."""
        text = page.locator("body").inner_text()
        for known in sorted(self.user_text, key=len, reverse=True):
            text = text.replace(known, " ")
        for phrase in _phrases():
            if phrase in text:
                self.english.append(f"{where}: {phrase!r}")
                text = text.replace(phrase, " ")
        for run in re.findall(r"[A-Za-z][A-Za-z']+(?:[ ,][A-Za-z][A-Za-z']+)+", text):
            words = [w for w in re.split(r"[ ,]", run) if w]
            if any(w not in ALLOWED_WORDS for w in words):
                self.english.append(f"{where}: {run!r}")

    def assert_clean(self) -> None:
        problems = ([f"error page: {d}" for d in self.bad_documents]
                    + [f"server log: {r}" for r in self.handler.records]
                    + [f"untranslated: {e}" for e in self.english])
        assert not problems, "the walk met:\n" + "\n".join(problems)


_PHRASES: list[str] | None = None


def _phrases() -> list[str]:
    global _PHRASES
    if _PHRASES is None:
        _PHRASES = _catalogue_phrases()
    return _PHRASES
