"""Untrusted HTML has one way onto a page: ``bridge.web.html.clean`` (the ``clean_html`` and
``candidate_html`` filters). Every other way to print unescaped (a ``safe`` filter, a
``Markup(...)``, an ``autoescape false`` block, an ``__html__`` method) must be on the
reviewed list below, with why it is safe; a new one fails here until someone reviews it.
And the exam rules, the one piece of teacher HTML candidates meet before any item, reach
the rules page cleaned."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.models.papers import Paper
from tests.delivery import factories

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("bridge", "lms_plugin")
# What prints without escaping: in templates and in Python alike.
UNESCAPED = re.compile(r"\|\s*safe\b|\bMarkup\s*\(|\bautoescape\s+false\b|\bdef\s+__html__\b|"
                       r"\bimport\s+Markup\s+as\b|\bMarkup\s*=")

# (file, the line as written, stripped) → why it is safe.
REVIEWED = {
    ("bridge/web/html.py",
     'return Markup(nh3.clean(text, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "data"},'):
        "THE sanitiser: the string is nh3's output with the allow-listed tags, attributes and URL schemes",
    ("bridge/timezones.py",
     """return Markup('<time class="localtime" datetime="{}" data-tz="{}">{}</time>').format(utc, name, text)"""):
        "a constant template; Markup.format escapes every argument (a timestamp, a zone name, its display)",
}


def _sources():
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".py", ".html", ".htm", ".j2", ".jinja", ".txt", ".xml") and path.is_file() \
                    and "translations" not in path.parts:
                yield path


def _found() -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "tests/web/test_html_inventory.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if UNESCAPED.search(line):
                found.setdefault((rel, line.strip()), number)
    return found


@pytest.mark.req("C4")
def test_every_unescaped_output_is_on_the_reviewed_list():
    found = _found()
    unreviewed = [f"{rel}:{number}: {line}" for (rel, line), number in sorted(found.items())
                  if (rel, line) not in REVIEWED]
    assert not unreviewed, ("unescaped output that is not on the reviewed list: pass untrusted HTML through "
                            "the clean_html filter (bridge.web.html.clean), or review it and add it to "
                            "REVIEWED with why it is safe:\n" + "\n".join(unreviewed))
    stale = [key for key in REVIEWED if key not in found]
    assert not stale, f"reviewed entries no longer in the code (drop them): {stale}"


def test_the_inventory_sees_what_it_looks_for():
    """The scan itself: each way to print unescaped is caught, escaped output is not."""
    for line in ("{{ paper.rules_html|safe }}", "{{ x | safe }}", "Markup(html)", "markupsafe.Markup (s)",
                 "{% autoescape false %}", "def __html__(self):", "from markupsafe import Markup as M"):
        assert UNESCAPED.search(line), line
    for line in ("{{ paper.rules_html|clean_html }}", "{{ q.stem_html|candidate_html(a, q) }}",
                 "secrets.token_urlsafe(32)", "from markupsafe import Markup", "{{ x|safe_name }}"):
        assert not UNESCAPED.search(line), line
    assert any(rel == "bridge/web/html.py" for rel, _line in _found())


HOSTILE_RULES = """<p>Bring your <b>ID card</b>.</p>
<script>document.title = 'pwned-script'</script>
<img src="x" onerror="document.title='pwned-onerror'">
<a href="javascript:document.title='pwned-js'">the full rules</a>
<iframe src="https://evil.example/phish"></iframe>
<p style="position:fixed;inset:0" onclick="alert(1)">Stay seated.</p>"""


@pytest.mark.req("C3")
def test_hostile_rules_reach_the_candidate_cleaned(app, db_session):
    """Issue 13: a paper's rules went to candidates through ``|safe``, scripts and all."""
    sitting = factories.sitting(db_session)
    db_session.add(Paper(exam_id=sitting.exam_id, rules_html=HOSTILE_RULES))
    db_session.commit()
    attempt_id, user_id = factories.attempt(db_session, sitting, status="logged_in")
    http = app.test_client()
    cookie, _csrf = factories.session_cookie(app, user_id)
    http.set_cookie(factories.SESSION_COOKIE, cookie, domain="localhost")

    page = http.get(f"/attempt/{attempt_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    rules = html[html.index('<div class="rules">'):html.index('id="confirm-rules"')]
    assert "<p>Bring your <b>ID card</b>.</p>" in rules and "Stay seated." in rules   # the teacher's text stays
    assert "the full rules" in rules
    for hostile in ("<script", "pwned", "onerror", "onclick", "javascript:", "<iframe", "evil.example", "style="):
        assert hostile not in rules, hostile
