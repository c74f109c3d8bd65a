"""Every stored file the bridge hands back (a question's image, a candidate's uploaded answer)
goes out through ``file_response``: a raster image sniffed from its bytes is shown inline
with that type, anything else is a download; either way the browser may not sniff, and the
response is a sandbox with no content of its own (an SVG or HTML file that slipped into the
database still cannot run script on the bridge's origin)."""
from __future__ import annotations

from urllib.parse import quote

from flask import current_app

from bridge.bank.safety import sniff_image

HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"}


def file_response(data: bytes, *, name: str, inline_images: bool = True, cache: str = "private, max-age=3600"):
    mime = sniff_image(data) if inline_images else None
    name = (name or "file").rsplit("/", 1)[-1]
    resp = current_app.response_class(data, mimetype=mime or "application/octet-stream")
    if mime is None:
        ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name) or "file"
        resp.headers["Content-Disposition"] = (f'attachment; filename="{ascii_name}"; '
                                               f"filename*=UTF-8''{quote(name, safe='')}")
    resp.headers.update(HEADERS)
    resp.headers["Cache-Control"] = cache
    return resp
