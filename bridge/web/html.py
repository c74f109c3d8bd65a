"""Question HTML as candidates see it: sanitised (a bank file is untrusted input: no
scripts, handlers or foreign frames), with ``@@PLUGINFILE@@/name`` pointing at the
attempt's media route."""
from __future__ import annotations

import re

import nh3
from flask import Flask, url_for
from markupsafe import Markup

TAGS = {"p", "br", "b", "strong", "i", "em", "u", "s", "sub", "sup", "span", "div", "ul", "ol", "li", "table",
        "thead", "tbody", "tr", "th", "td", "img", "pre", "code", "blockquote", "h3", "h4", "h5", "hr", "a"}
ATTRIBUTES = {"img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"},
              "a": {"href"}, "span": {"class"}, "div": {"class"}}
_PLUGINFILE = re.compile(r"@@PLUGINFILE@@/([^\"'\s>]+)")
_BLANK_MARK = re.compile(r"\[\[([0-9]+)\]\]")  # where a fill-in blank goes (bridge.bank.model)


def candidate_html(html: str, attempt_id: int, question_id: int) -> Markup:
    def media(match: re.Match) -> str:
        return url_for("delivery.media", attempt_id=attempt_id, question_id=question_id, name=match.group(1))

    rewritten = _PLUGINFILE.sub(media, html or "")
    rewritten = _BLANK_MARK.sub(r'<span class="blank-mark">(\1) ______</span>', rewritten)
    clean = nh3.clean(rewritten, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "data"},
                      link_rel="noopener noreferrer")
    return Markup(clean)


def translate(message) -> str:
    """Translate a message computed elsewhere (a service's error). Jinja's ``_`` always
    applies %-formatting, which breaks on a message holding a lone % ("150%")."""
    from flask_babel import get_translations

    return get_translations().ugettext(str(message)) if message else ""


def init_app(app: Flask) -> None:
    app.jinja_env.filters["candidate_html"] = candidate_html
    app.jinja_env.globals["tr"] = translate
