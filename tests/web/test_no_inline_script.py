"""The bridge's Content-Security-Policy runs scripts from its own files only
(bridge/web/security_headers.py): a template with an inline ``<script>`` block, an ``on*=``
handler or a ``javascript:`` URL would simply not work. This test finds them in every
template the bridge serves before a browser does. Data for a script goes in ``data-*``
attributes or a ``<script type="application/json">`` block, which CSP never executes.
The sandbox LMS (lms_plugin/sandbox) is a separate app with its own pages: not checked."""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "bridge" / "templates", ROOT / "lms_plugin" / "templates"]
DATA_TYPES = {"application/json", "application/ld+json"}


class _Finder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._inline_script_at: tuple[int, int] | None = None

    def handle_starttag(self, tag, attrs):
        where = "line %d" % self.getpos()[0]
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.found.append(f"{where}: <{tag} {name}=…> (an inline event handler)")
            if name.lower() in ("href", "src", "action", "formaction") and (value or "").strip().lower() \
                    .startswith("javascript:"):
                self.found.append(f"{where}: <{tag} {name}=\"javascript:…\">")
        if tag == "script":
            kinds = dict((k.lower(), (v or "").strip().lower()) for k, v in attrs)
            if "src" not in kinds and kinds.get("type") not in DATA_TYPES:
                self.found.append(f"{where}: <script> without src (inline script)")


def offences(text: str) -> list[str]:
    finder = _Finder()
    finder.feed(text)
    finder.close()
    return finder.found


def templates() -> list[Path]:
    found = [p for d in TEMPLATE_DIRS for p in sorted(d.rglob("*.html"))]
    return [p for p in found if "sandbox" not in p.relative_to(ROOT).parts]


def test_the_finder_catches_each_kind():
    """The check itself fails on what it is there to catch (and passes JSON data blocks)."""
    assert offences("<script>alert(1)</script>")
    assert offences("<SCRIPT type='text/javascript'>x()</SCRIPT>")
    assert offences('<button onclick="window.print()">Print</button>')
    assert offences('<form method="post" onsubmit="return confirm(1)">')
    assert offences('<a href="javascript:void(0)">x</a>')
    assert offences('<p data-x="{{ a > b }}"><img src=x onerror={{ y }}></p>')
    assert not offences('<script src="/static/exam.js"></script><script id="t" type="application/json">{}</script>')
    assert not offences('<form data-confirm="Sure?" data-online="1"><button data-print>P</button></form>')


@pytest.mark.req("C6", "L6")
def test_no_template_carries_inline_script_or_handlers():
    paths = templates()
    assert len(paths) > 50  # both template folders were found
    bad = {str(p.relative_to(ROOT)): found for p in paths if (found := offences(p.read_text(encoding="utf-8")))}
    assert not bad, ("the Content-Security-Policy would refuse these; move the code to bridge/static/*.js "
                     f"(data through data-* attributes or a JSON block): {bad}")
