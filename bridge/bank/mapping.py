"""Decisions shared by the importers: numbers as text, names, category paths."""
from __future__ import annotations

import re

from .model import Blank, plain_text

NAME_LENGTH = 60


class Unsupported(Exception):
    """One question can't be imported; it becomes a Skipped entry with this message."""


def numeric_blank(answers: list[tuple[float, str, str]]) -> Blank:
    """A numerical question as a text-matched blank, or Unsupported.

    ``answers`` holds (fraction, value, tolerance) as written. ExamBridge grades blanks by
    text, so only exact answers (tolerance 0) keep their meaning; a tolerance would turn a
    right answer such as 3.141 into a wrong one, so those questions are refused instead.
    The accepted texts are the value as written plus its plain form ("3.0" also takes "3").
    Partial-credit answers are dropped.
    """
    accepted: list[str] = []
    for fraction, value, tolerance in answers:
        if fraction < 1 - 1e-6 or value.strip() == "*":
            continue
        number = _number(value, "answer")
        if tolerance.strip() and _number(tolerance, "tolerance") != 0:
            raise Unsupported(
                f"the numerical answer {value.strip()} has a tolerance of ±{tolerance.strip()}; "
                "ExamBridge marks numbers as exact text, so set the tolerance to 0 or "
                "make it a fill-in-the-blank question with the accepted answers")
        for text in (value.strip(), f"{number:g}"):
            if text not in accepted:
                accepted.append(text)
    if not accepted:
        raise Unsupported("the numerical question has no answer worth 100%")
    return Blank(accepted=tuple(accepted))


def _number(text: str, what: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise Unsupported(f"the numerical {what} {text.strip()!r} is not a number") from None


def auto_name(name: str, stem_html: str) -> str:
    """The question's name, or the start of its text when the file gives none."""
    name = " ".join(name.split())
    if name:
        return name
    text = re.sub(r"\[\[[0-9]+\]\]", "____", plain_text(stem_html))
    return text if len(text) <= NAME_LENGTH else text[: NAME_LENGTH - 1].rstrip() + "…"


def category_path(raw: str) -> tuple[str, ...]:
    """``$course$/top/Unit 1/Algebra`` → ("Unit 1", "Algebra").

    Moodle writes a slash inside a category name as ``//``; the context prefix
    (``$course$``, ``$system$``, ``$module$``, ``$coursecategory$``) and the ``top``
    category every context has are dropped.
    """
    parts = [p.replace("//", "/").strip() for p in re.split(r"(?<!/)/(?!/)", raw.strip())]
    parts = [p for p in parts if p]
    if parts and re.fullmatch(r"\$[a-z]+\$", parts[0]):
        parts = parts[1:]
    if parts and parts[0] == "top":
        parts = parts[1:]
    return tuple(parts)


def category_text(path: tuple[str, ...]) -> str:
    """The inverse of ``category_path``, as Moodle's importer expects it."""
    return "/".join(["$course$", "top", *(p.replace("/", "//") for p in path)])
