"""zh_CN is complete and the compiled catalogue matches its source (the seeds' users read
Chinese; English is the source language)."""
from __future__ import annotations

import gettext
import importlib.util
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "bridge" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"


def _script():
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.req("L1")
def test_every_message_has_a_zh_cn_translation():
    gaps = _script().missing("zh_Hans_CN")
    assert not gaps, "untranslated (run scripts/i18n.py update, translate, compile):\n" + "\n".join(gaps)


def test_compiled_catalogue_matches_the_po_file():
    with open(CATALOG / "messages.po", "rb") as fh:
        po = read_po(fh)
    with open(CATALOG / "messages.mo", "rb") as fh:
        mo = gettext.GNUTranslations(fh)
    stale = [m.id for m in po if m.id and isinstance(m.id, str) and m.string and mo.gettext(m.id) != m.string]
    assert not stale, "messages.mo is stale: run `make translations`:\n" + "\n".join(stale[:10])


def test_messages_with_a_percent_sign_render(app):
    """A service's message may hold a lone % ("a grade of 150%"): translating it in a
    template must not %-format it (Jinja's _ does)."""
    with app.test_request_context("/"):
        from flask import render_template_string

        html = render_template_string('{% from "_macros.html" import field_error %}'
                                      '{{ field_error({"x": "a grade of 150% is too much"}, "x") }}{{ tr("") }}')
    assert "a grade of 150% is too much" in html
