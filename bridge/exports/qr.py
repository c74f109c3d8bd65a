"""QR codes (segno): a text as an SVG ``data:`` address, for pages and PDFs that fetch
nothing (the admission ticket)."""
from __future__ import annotations

import segno


def svg_data_uri(text: str, *, scale: int = 4) -> str:
    # level M survives a crease or a smudge on a printed ticket and keeps the code small
    return segno.make(text, error="m", micro=False).svg_data_uri(scale=scale, border=2)
