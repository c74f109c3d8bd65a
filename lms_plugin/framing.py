"""The exam runs top level, never inside the LMS's iframe (L6, C6).

Moodle's default container embeds the tool in an iframe. The course and exam pages work
there, but an attempt must not: a click on the LMS page around the frame blurs the exam and
counts as leaving it. So the candidate's attempt pages (the list below):

- refuse to render inside a frame: a request the browser marks ``Sec-Fetch-Dest: iframe`` is
  sent to ``/lti/toplevel``, which says the exam runs in a window of its own and opens it
  there with a single-use ticket (the frame's cookies are partitioned under the LMS's site or
  blocked, so the new window has no session until the ticket carries it once);
- are served with ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'``, so a browser that
  sends no fetch metadata still never shows them framed;
- and bridge/static/toplevel.js (on every page) sends framed clicks on links to them to
  ``/lti/toplevel`` for browsers that do not say where a request goes.
"""
from __future__ import annotations

from flask import current_app, redirect, request, url_for
from werkzeug.exceptions import HTTPException

# Pages a candidate sits the exam on; GET ones may be a ticket's destination.
TOPLEVEL_GET = frozenset({"delivery.sit", "delivery.code", "delivery.attempt"})
TOPLEVEL = TOPLEVEL_GET | {"delivery.save_info", "delivery.read_rules", "delivery.start"}


def framed() -> bool:
    return request.headers.get("Sec-Fetch-Dest", "").lower() in ("iframe", "frame")


def toplevel_target(path: str) -> str | None:
    """``path`` when it is one of this tool's attempt pages (a GET destination), else None:
    a ticket never sends anyone elsewhere."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path.split("?", 1)[0], method="GET")
    except HTTPException:
        return None
    return path if endpoint in TOPLEVEL_GET else None


def _guard():
    if request.endpoint not in TOPLEVEL or not framed():
        return None
    if request.method == "GET":
        target = request.full_path.rstrip("?")
    elif "attempt_id" in (request.view_args or {}):
        target = url_for("delivery.attempt", attempt_id=request.view_args["attempt_id"])
    else:
        target = url_for("delivery.code")
    return redirect(url_for("lti.toplevel", next=target), code=303)


def _deny_framing(resp):
    if request.endpoint in TOPLEVEL:
        resp.headers["X-Frame-Options"] = "DENY"
        csp = resp.headers.get("Content-Security-Policy")
        resp.headers["Content-Security-Policy"] = (csp + "; " if csp else "") + "frame-ancestors 'none'"
    return resp


def init_app(app) -> None:
    app.before_request(_guard)
    app.after_request(_deny_framing)
