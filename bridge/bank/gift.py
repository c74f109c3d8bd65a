"""GIFT, Moodle's plain-text question format (docs.moodle.org "GIFT format").

Questions are separated by blank lines; ``//`` lines are comments; ``$CATEGORY: a/b`` sets
the category of the questions after it; ``::Title::`` names a question and ``[html]``,
``[moodle]``, ``[plain]`` or ``[markdown]`` sets its text format. The answer part in
``{…}`` decides the type, following Moodle's own rules:

``{}`` essay · ``{#…}`` numerical · any ``~`` choice (single when an ``=`` marks the right
answer, multiple when only ``~%n%`` weights do) · ``=a -> b`` matching (not supported) ·
``{T}``/``{F}`` true/false · anything else short answer (fill-in).

When text follows the answer part ("missing word"), the blank is shown in the stem: as
``[[1]]`` for a fill-in item, as ``____`` for the others.
"""
from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Callable

from .mapping import Unsupported, auto_name, category_path, numeric_blank
from .model import Blank, Choice, ImportReport, Item, Skipped, validate
from .safety import read_text
from .textfmt import to_html

FORMAT = "gift"
_ESCAPABLE = "~=#{}:"
# Escaped characters hide behind private-use code points while the markup is split.
_HIDE = {ch: chr(0xE000 + n) for n, ch in enumerate(_ESCAPABLE + "\\")}
_SHOW = {v: k for k, v in _HIDE.items()}
_FORMATS = {"html": "html", "moodle": "moodle_auto_format", "plain": "plain_text",
            "markdown": "markdown"}
_TRUE, _FALSE = ("T", "TRUE"), ("F", "FALSE")
_TEX_TOKEN = re.compile(r"\\[()\[\]]|\$\$|\\n")
_TEX_CLOSE = {"\\(": "\\)", "\\[": "\\]", "$$": "$$"}
_WEIGHT = re.compile(r"^%(-?[0-9]+(?:\.[0-9]+)?)%")


def parse(data: bytes) -> ImportReport:
    """Read a GIFT file; raises FormatError only when the file isn't readable text."""
    text = read_text(data).replace("\r\n", "\n").replace("\r", "\n")
    items: list[Item] = []
    skipped: list[Skipped] = []
    category: tuple[str, ...] = ()
    number = 0
    for line, block in _blocks(text):
        match = re.match(r"\$CATEGORY:(.*)(?:\n|$)", block)
        if match:
            category = category_path(match.group(1))
            block = block[match.end():].strip()
            line += 1
            if not block:
                continue
        number += 1
        title = _title(block)
        where = f"question {number} '{title}' (line {line})" if title else \
            f"question {number} (line {line})"
        try:
            item = replace(_question(_hide(block)), category=category)
            item = replace(item, source=where + item.source)
            problem = validate(item)
            if problem:
                raise Unsupported(problem)
        except Unsupported as exc:
            skipped.append(Skipped(where, str(exc)))
            continue
        items.append(item)
    return ImportReport(items=tuple(items), skipped=tuple(skipped), format=FORMAT)


def _blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each blank-line separated block, comments removed."""
    blocks: list[tuple[int, str]] = []
    lines: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.lstrip().startswith("//"):
            continue
        if line.strip():
            if not lines:
                start = number
            lines.append(line)
        elif lines:
            blocks.append((start, "\n".join(lines).strip()))
            lines = []
    if lines:
        blocks.append((start, "\n".join(lines).strip()))
    return blocks


def _hide(text: str) -> str:
    text = re.sub(r"\\([~=#{}:\\])", lambda m: _HIDE[m.group(1)], text)
    return _line_breaks(text)


def _line_breaks(text: str) -> str:
    """``\\n`` is a line break, except inside TeX (\\(…\\), \\[…\\], $$…$$) where ``\\neq``
    is a command. One pass over the tokens, so a hostile file can't make it slow."""
    out, pos, closing = [], 0, None
    for match in _TEX_TOKEN.finditer(text):
        token = match.group()
        if closing is None and token == "\\n":
            out.append(text[pos:match.start()] + "\n")
            pos = match.end()
        elif closing is None and token in _TEX_CLOSE:
            closing = _TEX_CLOSE[token]
        elif token == closing:
            closing = None
    return "".join(out) + text[pos:]


def _show(text: str) -> str:
    return "".join(_SHOW.get(ch, ch) for ch in text)


def _title(block: str) -> str:
    match = re.match(r"::(.*?)::", _hide(block), re.DOTALL)
    return " ".join(_show(match.group(1)).split()) if match else ""


def _question(block: str) -> Item:
    title = ""
    match = re.match(r"::(.*?)::", block, re.DOTALL)
    if match:
        title, block = _show(match.group(1)), block[match.end():].lstrip()
    fmt = "moodle_auto_format"
    match = re.match(r"\[(html|moodle|plain|markdown)\]", block)
    if match:
        fmt, block = _FORMATS[match.group(1)], block[match.end():]
    start = block.find("{")
    if start < 0:
        raise Unsupported("there is no answer part in {…}, so this is a description; "
                          "descriptions are not supported")
    end = block.find("}", start)
    if end < 0:
        raise Unsupported("the answer part opened with { is not closed with }; "
                          "write \\{ and \\} for braces that are part of the text")
    before, answer, after = block[:start], block[start + 1:end].strip(), block[end + 1:]
    if "{" in after or "}" in after:
        raise Unsupported("the question has more than one answer part {…}; GIFT allows one "
                          "(write \\{ and \\} for braces that are part of the text)")
    answer, _, general = answer.partition("####")
    answer = answer.strip()
    kind, build = _kind(answer)
    missing = "[[1]]" if kind == "fill" else "____"
    raw_stem = before + missing + after if after.strip() else before
    stem = _show(to_html(raw_stem.strip(), fmt))
    item = Item(qtype=kind, name=auto_name(title, stem), stem_html=stem,
                general_feedback_html=_inline(general.strip(), fmt))
    return build(item, answer, fmt)


def _kind(answer: str) -> tuple[str, Callable[[Item, str, str], Item]]:
    """The item type and its answer reader, by Moodle's own order of checks."""
    if not answer:
        return "essay", _essay
    if answer.startswith("#"):
        return "fill", _numerical
    if "~" in answer:
        return ("single" if "=" in answer else "multiple"), _choices
    if "=" in answer and "->" in answer:
        raise Unsupported("type matching is not supported; ExamBridge imports choice, "
                          "true/false, short-answer, numerical and essay questions")
    if answer.split("#", 1)[0].strip().upper() in _TRUE + _FALSE:
        return "truefalse", _truefalse
    return "fill", _shortanswer


def _essay(item: Item, answer: str, fmt: str) -> Item:
    return item


def _choices(item: Item, answer: str, fmt: str) -> Item:
    choices = []
    for part in re.split(r"(?=[=~])", answer):
        part = part.strip()
        if not part:
            continue
        marker, rest = part[0], part[1:].strip()
        fraction, rest = _weight(rest, default=1.0 if marker == "=" else 0.0)
        text, _, feedback = rest.partition("#")
        choices.append(Choice(text_html=_inline(text.strip(), fmt), fraction=fraction,
                              feedback_html=_inline(feedback.strip(), fmt)))
    return replace(item, choices=tuple(choices))


def _truefalse(item: Item, answer: str, fmt: str) -> Item:
    value = answer.split("#", 1)[0].strip().upper()
    return replace(item, correct=value in _TRUE)


def _shortanswer(item: Item, answer: str, fmt: str) -> Item:
    accepted = []
    for part in answer.split("="):
        fraction, rest = _weight(part.strip(), default=1.0)
        text = _show(rest.partition("#")[0]).strip()
        if text and fraction >= 1 - 1e-6:
            accepted.append(text)
    if not accepted:
        raise Unsupported("the short-answer question has no answer worth 100%")
    return replace(item, blanks=(Blank(accepted=tuple(accepted)),))


def _numerical(item: Item, answer: str, fmt: str) -> Item:
    body = answer[1:].strip()
    # Several answers are each introduced by "=": {#=3:0 =%50%3.1:0}; one needs none: {#3}.
    parts = [p.strip() for p in body.split("=")] if "=" in body else [body]
    answers = []
    for part in filter(None, parts):
        fraction, rest = _weight(part, default=1.0)
        value = _show(rest.partition("#")[0]).strip()
        low, dots, high = value.partition("..")
        if dots:
            answers.append((fraction, *_range(low, high)))
        else:
            number, _, tolerance = value.partition(":")
            answers.append((fraction, number, tolerance))
    return replace(item, blanks=(numeric_blank(answers),),
                   source=" [numerical: graded as exact text]")


def _range(low: str, high: str) -> tuple[str, str]:
    """``{#1..5}`` → ("3", "2"): the middle and the tolerance, as Moodle reads a range."""
    try:
        a, b = float(low), float(high)
    except ValueError:
        raise Unsupported(f"the numerical range {low}..{high} is not two numbers") from None
    return f"{(a + b) / 2:g}", f"{abs(b - a) / 2:g}"


def _weight(text: str, default: float) -> tuple[float, str]:
    match = _WEIGHT.match(text)
    if not match:
        return default, text
    return round(float(match.group(1)) / 100, 7), text[match.end():].strip()


def _inline(text: str, fmt: str) -> str:
    """Answer and feedback texts: HTML as written, plain text and Markdown escaped."""
    text = _show(text)
    if fmt in ("plain_text", "markdown"):
        return html.escape(text, quote=False)
    return text
