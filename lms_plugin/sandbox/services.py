"""What the NRPS and AGS endpoints share: the outage switch, finding the tool a request is
for, paging, and turning lti1p3platform's framework-neutral ``Response`` into Flask's.

Bearer checks use the library's ``authenticate`` decorator with the adapter's
``validate_token`` (opaque tokens, bound to the tool, checked against the endpoint's own
scopes) — see adapter.py. ``handle_resp`` turns every ``LtiServiceException`` into a JSON
4xx in Moodle's shape.
"""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlencode

from flask import Response as FlaskResponse
from flask import request
from lti1p3platform.exceptions import LtiServiceException
from lti1p3platform.response import Response

from .adapter import FlaskRequest, SandboxPlatformConf
from .course import COURSE_ID
from .records import ToolRegistration
from .web import json_response, moodle_service_error, sandbox


class PagedResponse(Response):
    """A ``Response`` that knows its next page (sent as ``Link: <…>; rel="next"``)."""

    def __init__(self, result: Any, *, next_url: str | None = None) -> None:
        super().__init__(result=result, code=200, message="success")
        self.next_url = next_url


def parse_paging(query: dict[str, str]) -> tuple[int | None, int]:
    """Moodle's ``limit`` and ``from``; a bad value is a 400, never a crash (bug 7)."""
    try:
        limit = int(query["limit"]) if query.get("limit") not in (None, "") else None
        offset = int(query["from"]) if query.get("from") not in (None, "") else 0
    except ValueError as exc:
        raise LtiServiceException("limit and from must be integers", 400) from exc
    if (limit is not None and limit < 1) or offset < 0:
        raise LtiServiceException("limit must be at least 1 and from at least 0", 400)
    return limit, offset


def page(items: list[Any], limit: int | None, offset: int, base_url: str,
         query: dict[str, str]) -> tuple[list[Any], str | None]:
    """Slice ``items``; the next-page URL keeps the other query parameters."""
    if limit is None:
        return items[offset:], None
    chunk = items[offset:offset + limit]
    if offset + limit >= len(items):
        return chunk, None
    params = {k: v for k, v in query.items() if k not in ("limit", "from")}
    params.update(limit=str(limit), **{"from": str(offset + limit)})
    sep = "&" if "?" in base_url else "?"
    return chunk, f"{base_url}{sep}{urlencode(params)}"


def to_flask(resp: Response, media_type: str | None = None) -> FlaskResponse:
    if resp.code >= 400:
        return moodle_service_error(resp.code, resp.message)
    headers = {}
    next_url = getattr(resp, "next_url", None)
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    return json_response(resp.result, resp.code, content_type=media_type or resp.media_type, headers=headers)


def serve(type_id: Any, make_service: Callable[[FlaskRequest, SandboxPlatformConf], Any],
          handler_name: str, *args: Any, media_type: str | None = None, course_id: int = COURSE_ID) -> FlaskResponse:
    """Run one service call: outage → 503; unknown course → 404; unknown tool → 401 (no
    token can be valid for it); otherwise the library's bearer-checked handler."""
    sb = sandbox()
    if sb.outage:
        return moodle_service_error(503, "The sandbox is simulating an outage")
    if course_id != COURSE_ID:
        return moodle_service_error(404, f"Not Found: Course {course_id} doesn't exist")
    tool: ToolRegistration | None = sb.tool_by_type(type_id)
    if tool is None:
        return moodle_service_error(401, "No tool type matches this URL")
    conf = SandboxPlatformConf(sandbox=sb, tool=tool)
    service = make_service(FlaskRequest(request), conf)
    handler = getattr(service, handler_name)
    resp = service.handle_resp(lambda: handler(*args))
    return to_flask(resp, media_type)
