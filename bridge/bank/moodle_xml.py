"""Moodle XML question files, as Moodle 4.x "Export questions" writes them.

``parse`` reads a ``<quiz>`` of ``<question type="…">`` elements into the neutral model;
one bad question is skipped with its reason, a hostile or malformed file is refused whole.
``export`` (in ``moodle_export``) writes the model back as Moodle XML.

The XML parser is defusedxml's with DTDs forbidden: a question file never needs one, and
refusing every DOCTYPE stops external entities (XXE), entity expansion (billion laughs)
and parameter entities before anything is read or expanded.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Callable

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from . import cloze
from .mapping import Unsupported, auto_name, category_path, numeric_blank
from .model import Blank, Choice, FormatError, ImportReport, Item, Media, Skipped, validate
from .moodle_export import IGNORE_SPACES_TAG, export  # noqa: F401  (re-exported)
from .safety import MediaError, decode_media, image_mime, media_name, read_text
from .textfmt import to_html

FORMAT = "moodle_xml"
SUPPORTED = ("multichoice", "truefalse", "shortanswer", "numerical", "essay", "cloze")
# Moodle's file-type groups that an essay's "accepted file types" may name.
_FILE_GROUPS = {
    "document": (".doc", ".docx", ".odt", ".pdf", ".rtf", ".txt"),
    "spreadsheet": (".csv", ".ods", ".xls", ".xlsx"),
    "presentation": (".odp", ".ppt", ".pptx"),
    "image": (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".svg", ".tif", ".tiff", ".webp"),
    "web_image": (".gif", ".jpeg", ".jpg", ".png", ".svg", ".webp"),
    "archive": (".7z", ".gz", ".rar", ".tar", ".tgz", ".zip"),
}


def parse(data: bytes) -> ImportReport:
    """Read a Moodle XML question file; raises FormatError when the file can't be read."""
    root, lines = _load(read_text(data))
    if root.tag != "quiz":
        raise FormatError(
            f"the file's top element is <{root.tag}>, but a Moodle XML question file starts "
            "with <quiz>. In Moodle use Question bank → Export → 'Moodle XML format'.")
    items: list[Item] = []
    skipped: list[Skipped] = []
    category: tuple[str, ...] = ()
    number = 0
    for element, line in zip(root.findall("question"), lines):
        qtype = element.get("type", "")
        if qtype == "category":
            category = category_path(_text(element, "category"))
            continue
        number += 1
        name = " ".join(_text(element, "name").split())
        where = f"question {number} '{name}' (line {line})" if name else \
            f"question {number} (line {line})"
        try:
            item = _convert(element, qtype, replace(_BLANK_ITEM, category=category), where)
            item = replace(item, idnumber=" ".join((element.findtext("idnumber") or "").split())[:100])
            problem = validate(item)
            if problem:
                raise Unsupported(problem)
        except (Unsupported, MediaError) as exc:
            skipped.append(Skipped(where, str(exc)))
            continue
        items.append(item)
    return ImportReport(items=tuple(items), skipped=tuple(skipped), format=FORMAT)


_BLANK_ITEM = Item(qtype="", name="", stem_html="")


class _LineBuilder(ET.TreeBuilder):
    """Records the line of each top-level <question> so messages can point at it."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: DefusedXMLParser | None = None
        self.depth = 0
        self.lines: list[int] = []

    def start(self, tag, attrs):
        self.depth += 1
        if self.depth == 2 and tag == "question" and self.parser is not None:
            self.lines.append(self.parser.parser.CurrentLineNumber)
        return super().start(tag, attrs)

    def end(self, tag):
        self.depth -= 1
        return super().end(tag)


def _load(text: str) -> tuple[ET.Element, list[int]]:
    builder = _LineBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(text)
        root = parser.close()
    except DefusedXmlException:
        raise FormatError(
            "the file declares a DOCTYPE or entities (<!DOCTYPE …> / <!ENTITY …>). Question "
            "files never need them and they can be used to read server files, so the file "
            "is refused. Remove the <!DOCTYPE …> part or export the questions from Moodle "
            "again.") from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise FormatError(
            f"the file is not well-formed XML: {_expat_message(exc)} at line {line}, "
            f"column {column + 1}. Fix that spot or export the questions from Moodle "
            "again.") from None
    return root, builder.lines


def _expat_message(exc: ET.ParseError) -> str:
    return re.sub(r": line [0-9]+, column [0-9]+$", "", str(exc))


def _convert(element: ET.Element, qtype: str, base: Item, where: str) -> Item:
    convert = _CONVERTERS.get(qtype)
    if convert is None:
        shown = qtype or "(none)"
        raise Unsupported(f"type {shown} is not supported; ExamBridge imports "
                          f"{', '.join(SUPPORTED)} questions")
    stem = _html(element.find("questiontext"))
    item = replace(
        base,
        name=auto_name(_text(element, "name"), stem),
        stem_html=stem,
        points=_points(element),
        tags=tuple(t for t in (" ".join(_text(tag).split())
                               for tag in element.findall("tags/tag")) if t),
        general_feedback_html=_html(element.find("generalfeedback")),
        media=_media(element),
        source=where,
    )
    return convert(element, item)


def _multichoice(element: ET.Element, item: Item) -> Item:
    single = _flag(element.findtext("single"), default=True)
    return replace(item, qtype="single" if single else "multiple", choices=tuple(
        Choice(text_html=_html(a), fraction=_fraction(a),
               feedback_html=_html(a.find("feedback")))
        for a in element.findall("answer")),
        shuffle=_flag(element.findtext("shuffleanswers"), default=True))


def _truefalse(element: ET.Element, item: Item) -> Item:
    correct = None
    for answer in element.findall("answer"):
        if _fraction(answer) >= 1 - 1e-6:
            correct = _text(answer).strip().lower() == "true"
    return replace(item, qtype="truefalse", correct=correct)


def _shortanswer(element: ET.Element, item: Item) -> Item:
    accepted = tuple(_text(a).strip() for a in element.findall("answer")
                     if _fraction(a) >= 1 - 1e-6)
    if not accepted:
        raise Unsupported("the short-answer question has no answer worth 100%")
    blank = Blank(accepted=accepted, case_sensitive=_flag(element.findtext("usecase"), False))
    return replace(item, qtype="fill", blanks=_ignore_spaces(element, (blank,)))


def _numerical(element: ET.Element, item: Item) -> Item:
    if any((u.findtext("unit_name") or "").strip() for u in element.findall("units/unit")):
        raise Unsupported("numerical questions with units are not supported; remove the "
                          "units or make it a fill-in-the-blank question")
    blank = numeric_blank([(_fraction(a), _text(a), a.findtext("tolerance") or "")
                           for a in element.findall("answer")])
    return replace(item, qtype="fill", blanks=(blank,),
                   source=item.source + " [numerical: graded as exact text]")


def _essay(element: ET.Element, item: Item) -> Item:
    attachments = _int(element.findtext("attachments"), "attachments")
    if attachments == 0:
        return replace(item, qtype="essay")
    max_bytes = _int(element.findtext("maxbytes"), "maxbytes")
    return replace(item, qtype="upload",
                   upload_extensions=_file_types(element.findtext("filetypeslist") or ""),
                   upload_max_bytes=max_bytes if max_bytes > 0 else None)


def _cloze(element: ET.Element, item: Item) -> Item:
    stem, blanks = cloze.to_fill(item.stem_html)
    return replace(item, qtype="fill", stem_html=stem, blanks=_ignore_spaces(element, blanks),
                   name=auto_name(_text(element, "name"), stem))


_CONVERTERS: dict[str, Callable[[ET.Element, Item], Item]] = {
    "multichoice": _multichoice,
    "truefalse": _truefalse,
    "shortanswer": _shortanswer,
    "numerical": _numerical,
    "essay": _essay,
    "cloze": _cloze,
    "multianswer": _cloze,
}


def _ignore_spaces(element: ET.Element, blanks: tuple[Blank, ...]) -> tuple[Blank, ...]:
    """Apply ExamBridge's own per-blank whitespace rule, which Moodle doesn't have."""
    flags = (element.findtext(IGNORE_SPACES_TAG) or "").split()
    return tuple(replace(b, ignore_spaces=flags[n] != "0") if n < len(flags) else b
                 for n, b in enumerate(blanks))


def _text(element: ET.Element | None, path: str = "") -> str:
    if element is None:
        return ""
    return element.findtext(f"{path}/text" if path else "text") or ""


def _html(element: ET.Element | None) -> str:
    if element is None:
        return ""
    return to_html(_text(element), element.get("format", "html"))


def _media(element: ET.Element) -> tuple[Media, ...]:
    found: dict[str, Media] = {}
    for file in element.iter("file"):
        if file.get("encoding", "base64") != "base64":
            raise MediaError(f"the embedded file {file.get('name')!r} is not base64-encoded")
        folder = (file.get("path") or "/").strip("/")
        name = media_name(f"{folder}/{file.get('name', '')}" if folder else file.get("name", ""))
        data = decode_media(name, file.text or "")
        media = Media(name=name, mime=image_mime(name, data), data=data)
        if found.get(name, media) != media:
            raise MediaError(f"two different embedded files are named {name!r}")
        found[name] = media
    return tuple(found.values())


def _points(element: ET.Element) -> float:
    raw = element.findtext("defaultgrade")
    if raw is None or not raw.strip():
        return 1.0
    try:
        return round(float(raw), 7)
    except ValueError:
        raise Unsupported(f"the default mark {raw.strip()!r} is not a number") from None


def _fraction(answer: ET.Element) -> float:
    raw = answer.get("fraction", "0")
    try:
        return round(float(raw) / 100, 7)
    except ValueError:
        raise Unsupported(f"the answer grade fraction={raw!r} is not a number") from None


def _int(raw: str | None, what: str) -> int:
    try:
        return int((raw or "0").strip() or "0")
    except ValueError:
        raise Unsupported(f"<{what}> must be a whole number (found {raw.strip()!r})") from None


def _flag(raw: str | None, default: bool) -> bool:
    if raw is None or not raw.strip():
        return default
    return raw.strip().lower() in ("1", "true", "yes")


def _file_types(raw: str) -> tuple[str, ...]:
    """Moodle's accepted file types (".pdf,.docx", "document", "image/png") → extensions."""
    out: list[str] = []
    for token in filter(None, re.split(r"[\s,;]+", raw.lower())):
        if token.startswith("."):
            found: tuple[str, ...] = (token,)
        elif token in _FILE_GROUPS:
            found = _FILE_GROUPS[token]
        elif token == "*":
            return ()
        else:
            raise Unsupported(
                f"the accepted file type {token!r} is not an extension ExamBridge knows; "
                "list extensions such as .pdf, .docx, .zip in the essay settings")
        out.extend(e for e in found if e not in out)
    return tuple(out)
