"""Every requirement id the project cites is one that docs/requirements.md defines.

docs/requirements.md defines an id by a table row whose first cell is the id alone
(``| L1 | … |``; ``read_requirement_ids``, shared with the traceability plugin that writes
build/requirements.json). These tests fail, naming file and line, when

- a ``@pytest.mark.req(...)`` marker anywhere under tests/ names an id the page lacks
  (found with ``ast``, so markers split over lines and ``pytestmark = [...]`` count too);
- a docstring, comment or page cites one: .py files under bridge/, lms_plugin/,
  kiosk_agent/ and tests/, and docs/*.md and README.md;
- the page and the specification (../shared/SPEC.md, when it is there) list different ids.

Citations are recognised only in the forms the code and docs use, so room codes (R101,
R01), violation codes (A101), hex, versions and CSS never count:

- in parentheses, each ``,``/``;``/"and"-separated part that starts with ids, or ends with
  ": " and ids: "(V5)", "(K5, P6; docs/answer-pack.md)", "(P1–P3, P5, P9)", "(C3 §4)",
  "(V1 in part)", "(DESIGN "Answers are events", C5–C7, C10)", "(K2/K3)",
  "(site information: V4–V6)";
- after the word SPEC or requirement(s): "SPEC P1–P16", "Requirements K4 (…), K5 (…) and P6";
- at the start of a line of a docstring, a comment or a page, followed by ":", "'s",
  " in" or " (": "P1: who runs the room", "# P11, P12: the record", "L6 in a real browser:",
  "P10 (the caller has …)".

Strings that are not docstrings (CLI help, messages) are read for the first two forms only.
A range ("V1–V9", "P1-P16", with an en dash or a hyphen) names every id in it, and must run
upwards within one letter. Prose that merely mentions an id ("Everything V3 lists") is not
read. Nothing here starts a process or touches a database.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.fixtures.traceability import read_requirement_ids, requirements_path

ROOT = Path(__file__).resolve().parent.parent
DOC = requirements_path(ROOT)
PY_DIRS = ("bridge", "lms_plugin", "kiosk_agent", "tests")
# This file is left out of the citation scan (not of the marker check): its strings are
# examples for the parser, some of them deliberately unknown ids.
NOT_SCANNED = {Path(__file__).resolve()}

_ID = r"[LCVPKR][1-9][0-9]?"
# One id, or a range of ids: not inside a longer word (R101, A101, 0xC5, #C5C5C5, C01).
_ITEM = rf"(?<![\w-]){_ID}(?:\s*[–-]\s*{_ID})?(?!\w)"
_SEP = r"\s*(?:,|/|;|\band\b)\s*"
_LIST = rf"{_ITEM}(?:{_SEP}{_ITEM})*"
ITEM = re.compile(rf"(?<![\w-])({_ID})(?:\s*[–-]\s*({_ID}))?(?!\w)")
PAREN = re.compile(r"\(([^()]*)\)")
PIECE = re.compile(rf"\s*({_LIST})(?=\s|$)")          # "(V5)", "(C3 §4)", "(K2/K3)"
PIECE_END = re.compile(rf":\s*({_LIST})\s*$")          # "(site information: V4–V6)"
PIECE_SPLIT = re.compile(r"[,;]|\band\b")
# "SPEC P1–P16", "Requirements K4 (local durable journal), K5 (…) and P6 (…)"
_GLOSSED = rf"{_ITEM}(?:\s*\([^()]*\))?"
LABEL = re.compile(rf"\b(?:SPEC|[Rr]equirements?)\s+({_GLOSSED}(?:{_SEP}{_GLOSSED})*)")
LEAD = re.compile(rf"^[ \t]*(?:#+[ \t]*|[-*+][ \t]+|\*\*)?({_LIST})(?:\*\*)?"
                  rf"(?=:|'s\b|’s\b|[ \t]+in\b|[ \t]+\()", re.M)
FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


class BadRange(ValueError):
    pass


def expand(item: re.Match) -> list[str]:
    """The ids one ``ITEM`` names: "P5" -> P5, "P1–P3" -> P1 P2 P3."""
    first, last = item.group(1), item.group(2)
    if last is None:
        return [first]
    lo, hi = int(first[1:]), int(last[1:])
    if first[0] != last[0] or lo >= hi:
        raise BadRange(item.group(0))
    return [f"{first[0]}{n}" for n in range(lo, hi + 1)]


def _spans(text: str, *, lead: bool) -> list[tuple[int, str]]:
    """(offset, citation) for each citation in ``text``, in the order of the text."""
    found: list[tuple[int, str]] = []
    for m in PAREN.finditer(text):
        start = m.start(1)
        for piece in _split_keep_offsets(m.group(1)):
            offset, part = piece
            hit = PIECE.match(part) or PIECE_END.search(part)
            if hit:
                found.append((start + offset + hit.start(1), hit.group(1)))
    found += [(m.start(1), m.group(1)) for m in LABEL.finditer(text)]
    if lead:
        found += [(m.start(1), m.group(1)) for m in LEAD.finditer(text)]
    return sorted(found)


def _split_keep_offsets(content: str) -> list[tuple[int, str]]:
    parts, at = [], 0
    for sep in PIECE_SPLIT.finditer(content):
        parts.append((at, content[at:sep.start()]))
        at = sep.end()
    parts.append((at, content[at:]))
    return parts


def citations(text: str, *, lead: bool = True) -> list[tuple[int, str, list[str]]]:
    """(line offset within ``text``, id or range, ids) for each id or range cited; a range
    that does not run upwards within one letter gives []."""
    out, seen = [], set()
    for offset, cited in _spans(text, lead=lead):
        for item in ITEM.finditer(cited):
            if offset + item.start() in seen:  # read by two forms
                continue
            seen.add(offset + item.start())
            try:
                ids = expand(item)
            except BadRange:
                ids = []
            out.append((text.count("\n", 0, offset + item.start()), item.group(0), ids))
    return out


def _blank(m: re.Match) -> str:
    return re.sub(r"[^\n]", " ", m.group(0))


def markdown_citations(text: str):
    """(line, citation, ids) in a page's prose: fenced blocks and `code spans` are not prose."""
    return [(line + 1, cited, ids)
            for line, cited, ids in citations(CODE_SPAN.sub(_blank, FENCE.sub(_blank, text)))]


_STRING_PREFIX = re.compile(r"^[rRbBuUfF]*(\"\"\"|'''|\"|')")


def python_citations(source: str):
    """(line, citation, ids) in the comments and strings of a module (lines from 1)."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                docstrings.add((first.value.lineno, first.value.col_offset))
    middle = getattr(tokenize, "FSTRING_MIDDLE", None)  # Python 3.12+
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text, lead = tok.string.lstrip("#"), True
        elif tok.type == tokenize.STRING:
            prefix = _STRING_PREFIX.match(tok.string)
            text = tok.string[prefix.end():] if prefix else tok.string
            lead = tok.start in docstrings
        elif middle is not None and tok.type == middle:
            text, lead = tok.string, False
        else:
            continue
        out += [(tok.start[0] + line, cited, ids) for line, cited, ids in citations(text, lead=lead)]
    return out


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _python_files(*dirs: str):
    for d in dirs:
        yield from sorted(p for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def _markdown_files():
    yield from sorted((ROOT / "docs").glob("*.md"))
    yield ROOT / "README.md"


def _defined() -> list[str]:
    ids = read_requirement_ids(DOC)
    assert ids, f"{_rel(DOC)} is missing or defines no requirement id (rows like '| L1 | … |')"
    return ids


# --- the page itself ---------------------------------------------------------------------
def test_the_page_defines_each_id_once_in_known_groups():
    ids = _defined()
    rows = [m.group(1) for line in DOC.read_text(encoding="utf-8").splitlines()
            if (m := re.match(r"^\|\s*([^|]*?)\s*\|", line))]
    # the first cells that look like an id but do not parse as one (e.g. "P01", "X1")
    odd = [c for c in rows if re.fullmatch(r"[A-Z][0-9]+", c) and not re.fullmatch(_ID, c)]
    assert not odd, f"{_rel(DOC)}: rows whose first cell is not a valid id: {odd}"
    twice = sorted({i for i in rows if rows.count(i) > 1 and re.fullmatch(_ID, i)})
    assert not twice, f"{_rel(DOC)} defines these ids more than once: {twice}"
    assert len(ids) == len(set(ids))


def test_the_files_the_page_names_exist():
    """The "where" column names real paths (it must follow when code moves)."""
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:bridge|lms_plugin|kiosk_agent|tests|docs)/[^`\s]*)`", text))
    assert len(named) > 50, f"only {len(named)} paths named in {_rel(DOC)}"
    gone = sorted(p for p in named if not (ROOT / p.rstrip("/")).exists())
    assert not gone, f"{_rel(DOC)} names paths that do not exist: {gone}"


def read_spec_ids(path: Path) -> list[str]:
    """The ``- L1 …`` bullets under "## Requirements" of SPEC.md."""
    ids, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Requirements"
            continue
        m = re.match(r"^- ([LCVPKR][0-9]+)\s", line) if inside else None
        if m and m.group(1) not in ids:
            ids.append(m.group(1))
    return ids


def test_the_page_and_the_spec_list_the_same_ids():
    spec = ROOT.parent / "shared" / "SPEC.md"
    if not spec.is_file():
        pytest.skip(f"{spec} is not here: nothing to compare docs/requirements.md with")
    spec_ids, ids = read_spec_ids(spec), _defined()
    assert spec_ids, f"{spec} has no requirement bullets under '## Requirements'"
    not_in_spec = [i for i in ids if i not in spec_ids]
    missing = [i for i in spec_ids if i not in ids]
    assert not not_in_spec, f"{_rel(DOC)} defines ids that {spec} does not have: {not_in_spec}"
    assert not missing, f"{_rel(DOC)} lacks ids that {spec} defines: {missing}"


# --- markers -----------------------------------------------------------------------------
def _is_req_marker(func: ast.expr) -> bool:
    """``pytest.mark.req`` or ``mark.req``."""
    return (isinstance(func, ast.Attribute) and func.attr == "req"
            and ((isinstance(func.value, ast.Attribute) and func.value.attr == "mark")
                 or (isinstance(func.value, ast.Name) and func.value.id == "mark")))


def test_every_req_marker_names_defined_ids():
    defined = set(_defined())
    problems, markers = [], 0
    for path in _python_files("tests"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as e:
            problems.append(f"{_rel(path)}:{e.lineno}: cannot parse: {e.msg}")
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _is_req_marker(node.func)):
                continue
            markers += 1
            if not node.args:
                problems.append(f"{_rel(path)}:{node.lineno}: req() names no id")
            for arg in node.args:
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    problems.append(f"{_rel(path)}:{arg.lineno}: req() argument is not a "
                                    f"string literal: {ast.unparse(arg)}")
                elif arg.value not in defined:
                    problems.append(f"{_rel(path)}:{arg.lineno}: req({arg.value!r}) is not "
                                    f"defined in {_rel(DOC)}")
    assert markers > 100, f"only {markers} req markers found under tests/: is the parser broken?"
    assert not problems, "\n".join(problems)


# --- citations in code and docs ------------------------------------------------------------
def _check(path: Path, read, defined: set[str], problems: list[str]) -> int:
    source = path.read_text(encoding="utf-8")
    try:
        found = read(source)
    except (SyntaxError, tokenize.TokenError) as e:
        problems.append(f"{_rel(path)}: cannot parse: {e}")
        return 0
    lines = source.splitlines()
    for line, cited, ids in found:
        where = f"{_rel(path)}:{line}"
        text = lines[line - 1].strip()
        if not ids:
            problems.append(f"{where}: {cited!r} is not a range that runs upwards within one "
                            f"letter: {text}")
        for rid in ids:
            if rid not in defined:
                shown = rid if rid == cited else f"{rid} (in {cited!r})"
                problems.append(f"{where}: {shown} is not defined in {_rel(DOC)}: {text}")
    return len(found)


def test_every_cited_id_is_defined():
    defined = set(_defined())
    problems: list[str] = []
    seen = 0
    for path in _python_files(*PY_DIRS):
        if path.resolve() in NOT_SCANNED:
            continue
        seen += _check(path, python_citations, defined, problems)
    for path in _markdown_files():
        seen += _check(path, markdown_citations, defined, problems)
    assert seen > 100, f"only {seen} citations found: is the parser broken?"
    assert not problems, "\n".join(problems)


# --- the parser on the forms it must (and must not) read -----------------------------------
@pytest.mark.parametrize(("text", "ids"), [
    ("a room binds (V5; seed 002 §3.2).", ["V5"]),
    ("console (P1–P3, P5, P9, P10; seed 001)", ["P1", "P2", "P3", "P5", "P9", "P10"]),
    ("tests (P1–P12,\nP15): a room", [f"P{n}" for n in range(1, 13)] + ["P15"]),
    ('(DESIGN "Answers are events", C5–C7, C10)', ["C5", "C6", "C7", "C10"]),
    ("reports (K1, K2, K7; V1 in part)", ["K1", "K2", "K7", "V1"]),
    ("roster (C3 §4)", ["C3"]),
    ("kiosk (C5, K2) and (K2/K3)", ["C5", "K2", "K2", "K3"]),
    ("hyphen (P1-P3)", ["P1", "P2", "P3"]),
    ("exam day (SPEC P1–P16; seed 001 §二–三)", [f"P{n}" for n in range(1, 17)]),
    ("Requirements K4 (local journal), K5 (a pack\nonly the bridge reads) and P6 (import).",
     ["K4", "K5", "P6"]),
    ("P1: who runs the room", ["P1"]),
    ("  V2: three PCs announce", ["V2"]),
    ("P11, P12: the record", ["P11", "P12"]),
    ("L6 in a real browser: the sandbox", ["L6"]),
    ("P12's verification table", ["P12"]),
    ("P10 (the caller has re-authenticated)", ["P10"]),
    ("(a re-exam's code is valid for an hour: P8)", ["P8"]),
    ("(exam data, exam authorization, site information: V4–V6).", ["V4", "V5", "V6"]),
    ("## End and after the exam (P10–P12)", ["P10", "P11", "P12"]),
    # not citations
    ('room="R101", code (R101) and (R01), violation (A101), site C01', []),
    ("colour #C5C5C5, hex 0xC5, (0xK5), version (v1.2), V1.2.3 and (C5x)", []),
    ("e.g. 2026 1450301 R1 01 007", []),
    ("Review L2: heartbeats", []),
    ("Everything V3 lists", []),
])
def test_the_citation_forms(text, ids):
    assert [i for _, _, found in citations(text) for i in found] == ids


def test_a_citation_read_by_two_forms_counts_once():
    assert [ids for _, _, ids in citations("P11: the record (P11)")] == [["P11"], ["P11"]]
    assert [ids for _, _, ids in citations("SPEC P1 (P2)")] == [["P1"], ["P2"]]
    assert [ids for _, _, ids in citations("(SPEC P3)")] == [["P3"]]


def test_bad_ranges_and_unknown_ids_are_reported(tmp_path):
    bad = [c for _, c, ids in citations("(P5–P3) and (P3–C5)") if not ids]
    assert bad == ["P5–P3", "P3–C5"]
    module = tmp_path / "m.py"
    module.write_text('"""Docs (V1).\n\nMore (P1–P16, K9)."""\nx = 1  # (L7)\nhelp = "code (P15)"\n'
                      'room = "R101"\n', encoding="utf-8")
    found = python_citations(module.read_text(encoding="utf-8"))
    assert [(line, ids) for line, _, ids in found] == [
        (1, ["V1"]), (3, [f"P{n}" for n in range(1, 17)]), (3, ["K9"]), (4, ["L7"]), (5, ["P15"])]
    page = "Intro (V1).\n\n```\ncode (P99)\n```\n\n`(P98)` and (P17)\n"
    assert [(line, ids) for line, _, ids in markdown_citations(page)] == [(1, ["V1"]), (7, ["P17"])]
