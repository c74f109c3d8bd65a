"""Moodle's embedded answers (Cloze) markup: ``{1:SHORTANSWER:=Paris~%50%paris#close}``.

Only blanks that are graded by text become ExamBridge blanks: SHORTANSWER (SA, MW),
SHORTANSWER_C (SAC, MWC) and exact NUMERICAL (NM). A Cloze question with a drop-down or
radio sub-question can't be a fill-in item, so it is refused as a whole.
"""
from __future__ import annotations

import re

from .mapping import Unsupported, numeric_blank
from .model import Blank, blank_marks

# The body stops at an unescaped { as well as at }: linear time even on unclosed markup.
_SUB = re.compile(r"\{([0-9]*):([A-Za-z_]+):((?:\\.|[^\\{}])*)\}", re.DOTALL)
_TEXT_TYPES = {"SHORTANSWER": False, "SA": False, "MW": False,
               "SHORTANSWER_C": True, "SAC": True, "MWC": True}
_NUMERIC_TYPES = ("NUMERICAL", "NM")
_SPECIAL = "\\}#~/\""


def to_fill(text: str) -> tuple[str, tuple[Blank, ...]]:
    """Cloze question text → (stem with [[n]] marks, blanks), or Unsupported."""
    if blank_marks(text):
        raise Unsupported("the question text already contains [[n]] marks, which ExamBridge "
                          "uses for its blanks; rewrite them")
    blanks: list[Blank] = []

    def replace(match: re.Match) -> str:
        kind, body = match.group(2).upper(), match.group(3)
        number = len(blanks) + 1
        answers = _answers(body)
        if kind in _TEXT_TYPES:
            accepted = tuple(value for fraction, value, _ in answers if fraction >= 1 - 1e-6)
            if not accepted:
                raise Unsupported(f"blank {number} has no answer worth 100%")
            blanks.append(Blank(accepted=accepted, case_sensitive=_TEXT_TYPES[kind]))
        elif kind in _NUMERIC_TYPES:
            pairs = [(f, *_split_tolerance(v)) for f, v, _ in answers]
            try:
                blanks.append(numeric_blank(pairs))
            except Unsupported as exc:
                raise Unsupported(f"blank {number}: {exc}") from None
        else:
            raise Unsupported(
                f"blank {number} is a {kind} sub-question; only Cloze questions whose "
                "blanks are all SHORTANSWER or NUMERICAL can be imported (as fill-in-the-blank)")
        return f"[[{number}]]"

    stem = _SUB.sub(replace, text)
    if not blanks:
        raise Unsupported("the Cloze question has no {1:SHORTANSWER:=…} blanks")
    return stem, tuple(blanks)


def from_fill(stem_html: str, blanks: tuple[Blank, ...]) -> str:
    """Fill-in stem + blanks → Cloze question text; an unmarked single blank goes last."""
    def sub(blank: Blank) -> str:
        kind = "SHORTANSWER_C" if blank.case_sensitive else "SHORTANSWER"
        return "{1:%s:%s}" % (kind, "~".join("=" + _escape(a) for a in blank.accepted))

    if not blank_marks(stem_html):
        return stem_html + " " + " ".join(sub(b) for b in blanks)
    return re.sub(r"\[\[([0-9]+)\]\]", lambda m: sub(blanks[int(m.group(1)) - 1]), stem_html)


def _answers(body: str) -> list[tuple[float, str, str]]:
    """(fraction, answer, feedback) of each ``~``-separated answer."""
    out = []
    for part in _split(body, "~"):
        part = part.strip()
        fraction = 0.0
        if part.startswith("="):
            fraction, part = 1.0, part[1:]
        else:
            weight = re.match(r"%(-?[0-9.]+)%", part)
            if weight:
                fraction, part = float(weight.group(1)) / 100, part[weight.end():]
        answer, _, feedback = _unescape_split(part, "#")
        out.append((fraction, answer.strip(), feedback.strip()))
    return out


def _split_tolerance(value: str) -> tuple[str, str]:
    number, _, tolerance = value.partition(":")
    return number, tolerance


def _split(text: str, sep: str) -> list[str]:
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current += text[i:i + 2]
            i += 2
            continue
        if text[i] == sep:
            parts.append(current)
            current = ""
        else:
            current += text[i]
        i += 1
    parts.append(current)
    return parts


def _unescape_split(text: str, sep: str) -> tuple[str, str, str]:
    head, *tail = _split(text, sep)
    return _unescape(head), sep if tail else "", _unescape(sep.join(tail))


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)
