"""Question text formats (Moodle's html, moodle_auto_format, plain_text, markdown) to HTML.

Only enough conversion to show the text faithfully: plain text and Markdown become escaped
paragraphs (Markdown also keeps **bold** and `code`). TeX such as \\(x^2\\) or $$x$$ is left
as text either way, for the exam page's math renderer.
"""
from __future__ import annotations

import html
import re

FORMATS = ("html", "moodle_auto_format", "plain_text", "markdown")
_BLOCK_TAG = re.compile(r"<(p|div|br|table|ul|ol|h[1-6]|pre|blockquote)\b", re.IGNORECASE)


def to_html(text: str, fmt: str) -> str:
    """HTML for ``text`` written in Moodle format ``fmt`` (unknown formats count as html)."""
    if fmt == "plain_text":
        return _paragraphs(html.escape(text, quote=False))
    if fmt == "markdown":
        return _paragraphs(_inline_markdown(html.escape(text, quote=False)))
    if fmt == "moodle_auto_format" and not _BLOCK_TAG.search(text):
        # Moodle's auto format is HTML whose line breaks count; keep tags, show the breaks.
        return _paragraphs(text)
    return text


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))]
    return "".join(f"<p>{b.replace(chr(10), '<br>')}</p>" for b in blocks if b)


def _inline_markdown(escaped: str) -> str:
    escaped = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*\n]+)\*\*", r"<strong>\1</strong>", escaped)
