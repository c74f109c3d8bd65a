"""The one sanitiser for untrusted HTML. Question stems, choices and feedback come from bank
files and editors, exam rules from the paper's settings: every piece of HTML a page shows
without escaping goes through ``clean`` (nh3: no scripts, handlers, styles, foreign frames or
``javascript:`` URLs), as the ``clean_html`` filter or, for an attempt's items, the
``candidate_html`` filter, which also points ``@@PLUGINFILE@@/name`` at the attempt's media
route. tests/web/test_html_inventory.py fails on any other unescaped output (a ``safe``
filter, a markup object) that its reviewed list does not hold."""
from __future__ import annotations

import re
from typing import Callable

import nh3
from flask import Flask, url_for
from markupsafe import Markup

TAGS = {"p", "br", "b", "strong", "i", "em", "u", "s", "sub", "sup", "span", "div", "ul", "ol", "li", "table",
        "thead", "tbody", "tr", "th", "td", "img", "pre", "code", "blockquote", "h3", "h4", "h5", "hr", "a"}
ATTRIBUTES = {"img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"},
              "a": {"href"}, "span": {"class"}, "div": {"class"}}
_PLUGINFILE = re.compile(r"@@PLUGINFILE@@/([^\"'\s>]+)")
_BLANK_MARK = re.compile(r"\[\[([0-9]+)\]\]")  # where a fill-in blank goes (bridge.bank.model)


def clean(html: str | None, *, media: Callable[[str], str] | None = None, blanks: bool = False) -> Markup:
    """Untrusted HTML made safe to show. ``media`` maps a ``@@PLUGINFILE@@`` file name to its
    URL; ``blanks`` shows a fill-in stem's ``[[n]]`` marks as blanks. Both rewrite the input
    before nh3 parses it, so nothing they add escapes the sanitiser."""
    text = str(html or "")
    if media is not None:
        text = _PLUGINFILE.sub(lambda m: media(m.group(1)), text)
    if blanks:
        text = _BLANK_MARK.sub(r'<span class="blank-mark">(\1) ______</span>', text)
    return Markup(nh3.clean(text, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "data"},
                            attribute_filter=_no_data_links, link_rel="noopener noreferrer"))


def _no_data_links(element: str, attribute: str, value: str) -> str | None:
    """``data:`` is for inline images only: a link to a data URL is a page of the file's making."""
    if attribute == "href" and value.strip().lower().startswith("data:"):
        return None
    return value


def candidate_html(html: str, attempt_id: int, question_id: int) -> Markup:
    """An attempt's item HTML: cleaned, images from the attempt's media route, blanks marked."""
    def media(name: str) -> str:
        return url_for("delivery.media", attempt_id=attempt_id, question_id=question_id, name=name)

    return clean(html, media=media, blanks=True)


def translate(message) -> str:
    """Translate a message computed elsewhere (a service's error). Jinja's ``_`` always
    applies %-formatting, which breaks on a message holding a lone % ("150%")."""
    from flask_babel import get_translations

    return get_translations().ugettext(str(message)) if message else ""


def init_app(app: Flask) -> None:
    app.jinja_env.filters["candidate_html"] = candidate_html
    app.jinja_env.filters["clean_html"] = clean
    app.jinja_env.globals["tr"] = translate
