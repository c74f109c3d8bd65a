"""Writing the neutral model as Moodle XML that Moodle 4.x imports and ``parse`` reads back.

Mapping: single/multiple → multichoice; truefalse → truefalse; fill with one unmarked blank
→ shortanswer, other fill items → cloze (``{1:SHORTANSWER:=…}`` at each ``[[n]]``);
essay → essay; upload → essay with attachments. The per-blank whitespace rule, which Moodle
lacks, travels in an ``<exambridge_ignorespaces>`` element that Moodle's importer ignores.
All media is attached to the question text, where ``@@PLUGINFILE@@/name`` finds it.
"""
from __future__ import annotations

import base64
import re
from typing import Iterable
from xml.sax.saxutils import escape, quoteattr

from . import cloze
from .mapping import category_text
from .model import Item, blank_marks

IGNORE_SPACES_TAG = "exambridge_ignorespaces"
# Characters XML 1.0 can't carry at all; dropped rather than writing an unreadable file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def export(items: Iterable[Item]) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<quiz>"]
    category: tuple[str, ...] | None = None
    for item in items:
        if item.category != category and (category is not None or item.category):
            out.append(_category(item.category))
        category = item.category
        out.append(_question(item))
    out.append("</quiz>")
    return ("\n".join(out) + "\n").encode("utf-8")


def _category(path: tuple[str, ...]) -> str:
    return ('  <question type="category">\n'
            f"    <category><text>{_plain(category_text(path))}</text></category>\n"
            '    <info format="html"><text></text></info>\n'
            "  </question>")


def _question(item: Item) -> str:
    qtype, body = _BODIES[_kind(item)](item)
    stem = cloze.from_fill(item.stem_html, item.blanks) if qtype == "cloze" else item.stem_html
    files = "".join(
        f'\n      <file name={quoteattr(m.name.rsplit("/", 1)[-1])} '
        f'path={quoteattr(_folder(m.name))} encoding="base64">'
        f'{base64.b64encode(m.data).decode("ascii")}</file>' for m in item.media)
    tags = "".join(f"<tag><text>{_plain(t)}</text></tag>" for t in item.tags)
    return "\n".join([
        f'  <question type="{qtype}">',
        f"    <name><text>{_plain(item.name)}</text></name>",
        f'    <questiontext format="html">\n      <text>{_cdata(stem)}</text>{files}\n'
        "    </questiontext>",
        f'    <generalfeedback format="html"><text>{_cdata(item.general_feedback_html)}'
        "</text></generalfeedback>",
        f"    <defaultgrade>{item.points:.7f}</defaultgrade>",
        "    <penalty>0.0000000</penalty>",
        "    <hidden>0</hidden>",
        f"    <idnumber>{_plain(item.idnumber)}</idnumber>",
        *body,
        f"    <tags>{tags}</tags>",
        "  </question>",
    ])


def _kind(item: Item) -> str:
    if item.qtype == "fill" and (len(item.blanks) != 1 or blank_marks(item.stem_html)):
        return "cloze"
    return item.qtype


def _choices(item: Item) -> tuple[str, list[str]]:
    lines = [
        f"    <single>{'true' if item.qtype == 'single' else 'false'}</single>",
        f"    <shuffleanswers>{'true' if item.shuffle else 'false'}</shuffleanswers>",
        "    <answernumbering>abc</answernumbering>",
        "    <showstandardinstruction>0</showstandardinstruction>",
    ]
    for choice in item.choices:
        lines.append(
            f'    <answer fraction="{choice.fraction * 100:.5f}" format="html">'
            f"<text>{_cdata(choice.text_html)}</text>"
            f'<feedback format="html"><text>{_cdata(choice.feedback_html)}</text></feedback>'
            "</answer>")
    return "multichoice", lines


def _truefalse(item: Item) -> tuple[str, list[str]]:
    def answer(value: bool) -> str:
        fraction = 100 if item.correct is value else 0
        return (f'    <answer fraction="{fraction}" format="moodle_auto_format">'
                f"<text>{'true' if value else 'false'}</text>"
                '<feedback format="html"><text></text></feedback></answer>')
    return "truefalse", [answer(True), answer(False)]


def _shortanswer(item: Item) -> tuple[str, list[str]]:
    blank = item.blanks[0]
    lines = [f"    <usecase>{1 if blank.case_sensitive else 0}</usecase>"]
    lines += [f'    <answer fraction="100" format="moodle_auto_format"><text>{_plain(a)}</text>'
              '<feedback format="html"><text></text></feedback></answer>'
              for a in blank.accepted]
    return "shortanswer", lines + [_spaces(item)]


def _cloze(item: Item) -> tuple[str, list[str]]:
    return "cloze", [_spaces(item)]


def _essay(item: Item) -> tuple[str, list[str]]:
    upload = item.qtype == "upload"
    return "essay", [
        f"    <responseformat>{'noinline' if upload else 'editor'}</responseformat>",
        f"    <responserequired>{0 if upload else 1}</responserequired>",
        "    <responsefieldlines>10</responsefieldlines>",
        f"    <attachments>{1 if upload else 0}</attachments>",
        f"    <attachmentsrequired>{1 if upload else 0}</attachmentsrequired>",
        f"    <maxbytes>{item.upload_max_bytes or 0}</maxbytes>",
        f"    <filetypeslist>{_plain(','.join(item.upload_extensions))}</filetypeslist>",
        '    <graderinfo format="html"><text></text></graderinfo>',
        '    <responsetemplate format="html"><text></text></responsetemplate>',
    ]


_BODIES = {"single": _choices, "multiple": _choices, "truefalse": _truefalse,
           "fill": _shortanswer, "cloze": _cloze, "essay": _essay, "upload": _essay}


def _spaces(item: Item) -> str:
    flags = " ".join("1" if b.ignore_spaces else "0" for b in item.blanks)
    return f"    <{IGNORE_SPACES_TAG}>{flags}</{IGNORE_SPACES_TAG}>"


def _folder(name: str) -> str:
    folder = name.rsplit("/", 1)[0] if "/" in name else ""
    return f"/{folder}/" if folder else "/"


def _plain(text: str) -> str:
    return escape(_NOT_XML.sub("", text))


def _cdata(text: str) -> str:
    text = _NOT_XML.sub("", text)
    if not text:
        return ""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
