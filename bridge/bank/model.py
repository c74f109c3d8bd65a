"""The neutral form of a question-bank item.

Every importer (Moodle XML, GIFT) produces these frozen dataclasses and the Moodle XML
exporter consumes them, so the rest of ExamBridge never sees a file format. Nothing here
touches the database or Flask.

Fill-in-the-blank stems mark where each blank goes with ``[[1]]``, ``[[2]]`` … in order (see
``blank_marks``). Only a one-blank stem may leave it out: its answer box follows the text,
which is how a Moodle short-answer question looks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import FormatError  # noqa: F401  (the readers raise it as model.FormatError)

QTYPES = ("single", "multiple", "truefalse", "fill", "essay", "upload")
CHOICE_TYPES = ("single", "multiple")

_MARK = re.compile(r"\[\[([0-9]+)\]\]")
_TAG = re.compile(r"<[^<>]*>")
_MEDIA_TAG = re.compile(r"<(img|video|audio|object|embed)\b", re.IGNORECASE)
# Fractions are compared with this slack: Moodle stores them with 7 decimals (0.3333333).
_EPS = 1e-6


@dataclass(frozen=True)
class Choice:
    text_html: str
    fraction: float  # 1.0 correct, 0 wrong; partial and negative values allowed
    feedback_html: str = ""


@dataclass(frozen=True)
class Blank:
    accepted: tuple[str, ...]
    case_sensitive: bool = False
    ignore_spaces: bool = True


@dataclass(frozen=True)
class Media:
    name: str  # as referenced in HTML: @@PLUGINFILE@@/<name>
    mime: str
    data: bytes


@dataclass(frozen=True)
class Item:
    qtype: str
    name: str
    stem_html: str
    points: float = 1.0
    choices: tuple[Choice, ...] = ()
    blanks: tuple[Blank, ...] = ()
    correct: bool | None = None  # truefalse only
    shuffle: bool = True
    category: tuple[str, ...] = ()  # path from the bank's top, e.g. ("Unit 1", "Algebra")
    tags: tuple[str, ...] = ()
    general_feedback_html: str = ""
    upload_extensions: tuple[str, ...] = ()  # ".pdf", ".docx"; empty means any type
    upload_max_bytes: int | None = None  # None: the site's default
    media: tuple[Media, ...] = ()
    source: str = ""  # where the item came from, e.g. "question 3 'Name' (line 41)"
    idnumber: str = ""  # Moodle's ID number: the teacher's own stable name for the question


@dataclass(frozen=True)
class Skipped:
    where: str  # names the line or element so a teacher can find it
    reason: str


@dataclass(frozen=True)
class ImportReport:
    items: tuple[Item, ...]
    skipped: tuple[Skipped, ...]
    format: str  # "moodle_xml" or "gift"


def blank_marks(stem_html: str) -> list[int]:
    """The blank numbers marked in a stem, in order of appearance."""
    return [int(n) for n in _MARK.findall(stem_html)]


def plain_text(html: str) -> str:
    """Text of an HTML fragment with tags dropped and spaces collapsed (for names, checks)."""
    text = _TAG.sub(" ", html).replace("&nbsp;", " ").replace("\u00a0", " ")
    return " ".join(text.split())


def fingerprint(item: Item) -> str:
    """What makes two items the same question whatever file they came from: type, name,
    text and answers (choices with their grades, blanks with their accepted answers, the
    true/false answer), compared as plain text with spaces collapsed. Points, category,
    feedback and media do not count."""
    import hashlib
    import json

    body = {
        "type": item.qtype,
        "name": " ".join(item.name.split()).casefold(),
        "text": plain_text(item.stem_html),
        "choices": [[plain_text(c.text_html), round(float(c.fraction), 4)] for c in item.choices],
        "blanks": [[[" ".join(a.split()) for a in b.accepted], bool(b.case_sensitive)] for b in item.blanks],
        "correct": item.correct,
    }
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def validate(item: Item) -> str | None:
    """The reason an item can't be used in a paper, or None when it can."""
    if item.qtype not in QTYPES:
        return f"type {item.qtype!r} is not one of {', '.join(QTYPES)}"
    if not plain_text(item.stem_html) and not _MEDIA_TAG.search(item.stem_html):
        return "the question text is empty"
    if not item.points > 0:
        return f"the points must be more than 0 (found {item.points:g})"
    if item.choices and item.qtype not in CHOICE_TYPES:
        return f"{item.qtype} questions can't have answer choices"
    if item.blanks and item.qtype != "fill":
        return f"{item.qtype} questions can't have blanks"
    for media in item.media:
        from .safety import MediaError, image_mime  # (safety imports this module)

        try:
            image_mime(media.name, media.data)
        except MediaError as exc:
            return str(exc)
    check = _CHECKS.get(item.qtype)
    return check(item) if check else None


def _check_choices(item: Item) -> str | None:
    if len(item.choices) < 2:
        return f"a choice question needs at least 2 answers (found {len(item.choices)})"
    for n, choice in enumerate(item.choices, 1):
        if not -1 - _EPS <= choice.fraction <= 1 + _EPS:
            return f"answer {n} has a grade of {choice.fraction:.0%}; use -100% to 100%"
        if not plain_text(choice.text_html) and not _MEDIA_TAG.search(choice.text_html):
            return f"answer {n} is empty"
    return None


def _check_single(item: Item) -> str | None:
    problem = _check_choices(item)
    if problem:
        return problem
    right = sum(1 for c in item.choices if abs(c.fraction - 1) < _EPS)
    if right != 1:
        return f"a single-choice question needs exactly one fully correct answer (found {right})"
    return None


def _check_multiple(item: Item) -> str | None:
    problem = _check_choices(item)
    if problem:
        return problem
    positive = sum(c.fraction for c in item.choices if c.fraction > 0)
    if positive <= 0:
        return "a multiple-choice question needs at least one answer with a positive grade"
    if abs(positive - 1) > 0.001:
        return (f"the positive grades of a multiple-choice question must add up to 100% "
                f"(they add up to {positive:.0%})")
    return None


def _check_truefalse(item: Item) -> str | None:
    if item.correct is None:
        return "a true/false question must say whether the statement is true or false"
    return None


def _check_fill(item: Item) -> str | None:
    if not item.blanks:
        return "a fill-in-the-blank question needs at least one blank"
    for n, blank in enumerate(item.blanks, 1):
        if not blank.accepted or any(not a.strip() for a in blank.accepted):
            return f"blank {n} has no accepted answer (or an empty one)"
    marks = blank_marks(item.stem_html)
    expected = list(range(1, len(item.blanks) + 1))
    if (marks or len(item.blanks) > 1) and marks != expected:
        shown = " ".join(f"[[{n}]]" for n in expected)
        return (f"the question has {len(item.blanks)} blank(s), so its text must mark where "
                f"they go with {shown}, each once and in that order (found "
                f"{' '.join(f'[[{n}]]' for n in marks) or 'no marks'})")
    return None


def _check_upload(item: Item) -> str | None:
    if item.upload_max_bytes is not None and item.upload_max_bytes <= 0:
        return "the maximum upload size must be more than 0 bytes"
    bad = [e for e in item.upload_extensions if not re.fullmatch(r"\.[a-z0-9_+-]+", e)]
    if bad:
        return f"allowed file types must be extensions like .pdf (found {', '.join(bad)})"
    return None


_CHECKS = {
    "single": _check_single,
    "multiple": _check_multiple,
    "truefalse": _check_truefalse,
    "fill": _check_fill,
    "upload": _check_upload,
}
