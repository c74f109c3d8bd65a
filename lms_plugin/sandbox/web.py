"""Small helpers shared by the sandbox's views: the state object, error pages and JSON."""
from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, render_template, request

from .state import Sandbox


def sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def error_page(status: int, title: str, message: str, *, code: str | None = None) -> tuple[str, int]:
    """An HTML error page (what Moodle shows instead of reaching the tool)."""
    return render_template("sandbox/error.html", title=title, message=message, code=code), status


def json_response(body: Any, status: int = 200, *, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> Response:
    text = "" if body is None else json.dumps(body, separators=(",", ":"))
    resp = Response(text, status=status, content_type=f"{content_type}; charset=utf-8")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def moodle_service_error(status: int, detail: str | None = None) -> Response:
    """A service error in Moodle's JSON shape (fixture service-13). For 401 and 503 the
    ``reason`` is the HTTP phrase as in Moodle; ``detail`` (sandbox-only) says why."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "status": status,
        "reason": phrase if status in (401, 503) or not detail else detail,
        "request": {"method": request.method, "url": request.path,
                    "accept": request.headers.get("Accept", "*/*")},
    }
    if detail and body["reason"] != detail:
        body["detail"] = detail
    return json_response(body, status)
