"""Assignment and Grade Services (AGS 2.0) in Moodle's shapes (fixtures 07–12).

Each endpoint demands its own scope (bug 5: the library checks one scope list per
service). The library's list handlers crash on paging (bug 7) and return a ``{"content":…}``
page object instead of Moodle's bare array, so ``handle_get_lineitems`` and
``handle_get_results`` are overridden; scores are validated here (bug 12: the library has
a TODO) and answered 200 with an empty body, like Moodle.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from flask import Blueprint, request
from lti1p3platform.exceptions import LineItemNotFoundException, LtiServiceException
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.response import Response
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import AssignmentsGradesService, TPage, authenticate

from . import shapes
from .adapter import FlaskRequest, SandboxPlatformConf
from .course import find_user
from .records import LineItem, Score
from .services import PagedResponse, page, parse_paging, serve
from .vocab import (
    ACTIVITY_PROGRESS,
    GRADING_PROGRESS,
    MEDIA_LINEITEM,
    MEDIA_LINEITEMS,
    MEDIA_RESULTS,
    MEDIA_SCORE,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
)

bp = Blueprint("sandbox_ags", __name__)

READ_LINEITEMS = [SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY]
WRITE_LINEITEMS = [SCOPE_LINEITEM]


def _is_number(value: Any) -> bool:
    """A JSON number: not a bool, not NaN or infinite (Python's json accepts those)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_timestamp(value: Any, what: str) -> dt.datetime:
    """An ISO 8601 date-time with a time zone, as the AGS spec requires."""
    if not isinstance(value, str):
        raise LtiServiceException(f"{what} must be an ISO 8601 string", 400)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise LtiServiceException(f"{what} is not an ISO 8601 date-time", 400) from exc
    if parsed.tzinfo is None:
        raise LtiServiceException(f"{what} needs a time zone", 400)
    return parsed


def _require_media_type(actual: str | None, expected: str) -> None:
    if (actual or "").lower() != expected:
        raise LtiServiceException(f"No context or unsupported content type (send {expected})", 400)


class SandboxAGS(AssignmentsGradesService):
    def __init__(self, request: FlaskRequest, conf: SandboxPlatformConf, *, scopes: list[str],
                 line_item_id: int | None = None):
        urls, type_id = conf.sandbox.urls, conf.tool.type_id
        super().__init__(request, conf, urls.lineitems(type_id),
                         urls.lineitem(line_item_id, type_id) if line_item_id is not None else None)
        self.conf = conf
        self._scopes = scopes

    @property
    def allowed_scopes(self) -> list[str]:
        return self._scopes

    # --- helpers --------------------------------------------------------------------------
    @property
    def _urls(self):
        return self.conf.sandbox.urls

    def _own_item(self, line_item_id: Any) -> LineItem:
        item = self.conf.sandbox.line_item(line_item_id)
        if item is None or item.type_id != self.conf.tool.type_id:
            raise LineItemNotFoundException(f"Line item {line_item_id} does not exist")
        return item

    def _validated_fields(self, data: Any, *, partial: bool = False) -> dict[str, Any]:
        """Line-item JSON → state fields; 400 on anything malformed."""
        if not isinstance(data, dict):
            raise LtiServiceException("The body must be a JSON line item", 400)
        fields: dict[str, Any] = {}
        if "scoreMaximum" in data or not partial:
            if not _is_number(data.get("scoreMaximum")) or data["scoreMaximum"] <= 0:
                raise LtiServiceException("scoreMaximum must be a number > 0", 400)
            fields["score_maximum"] = float(data["scoreMaximum"])
        if "label" in data or not partial:
            if not isinstance(data.get("label"), str) or not data["label"].strip():
                raise LtiServiceException("label must be a non-empty string", 400)
            fields["label"] = data["label"].strip()
        for key, name in (("resourceId", "resource_id"), ("tag", "tag")):
            if key in data:
                if not isinstance(data[key], str):
                    raise LtiServiceException(f"{key} must be a string", 400)
                fields[name] = data[key]
        for key, name in (("startDateTime", "start_date_time"), ("endDateTime", "end_date_time")):
            if data.get(key) is not None:
                parse_timestamp(data[key], key)
                fields[name] = data[key]
        if data.get("resourceLinkId") not in (None, ""):
            activity = self.conf.sandbox.activity(data["resourceLinkId"])
            if activity is None or activity.client_id != self.conf.tool.client_id:
                raise LtiServiceException("resourceLinkId is not a resource link of this tool", 400)
            fields["activity_id"] = activity.id
        return fields

    def _own_items(self, resource_link_id: str | None = None, resource_id: str | None = None,
                   tag: str | None = None) -> list[LineItem]:
        items = [li for li in self.conf.sandbox.line_items if li.type_id == self.conf.tool.type_id]
        if resource_link_id:
            items = [li for li in items if str(li.activity_id) == str(resource_link_id)]
        if resource_id:
            items = [li for li in items if li.resource_id == resource_id]
        if tag:
            items = [li for li in items if li.tag == tag]
        return items

    # --- the library's abstract methods -------------------------------------------------
    def find_lineitems(self, page: int = 1, limit: int | None = None, line_item_id: str | None = None,
                       resource_link_id: str | None = None, resource_id: str | None = None,
                       tag: str | None = None, **ignored: Any) -> TPage:
        items = self._own_items(resource_link_id, resource_id, tag)
        return {"content": [shapes.line_item(li, self._urls) for li in items], "has_next": False}

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        return shapes.line_item(self._own_item(line_item_id), self._urls)  # type: ignore[return-value]

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        _require_media_type(self.request.content_type, MEDIA_LINEITEM)
        fields = self._validated_fields(creation_data)
        item = self.conf.sandbox.create_line_item(type_id=self.conf.tool.type_id, created_by="tool", **fields)
        return shapes.created_line_item(item, self._urls)  # type: ignore[return-value]

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        _require_media_type(self.request.content_type, MEDIA_LINEITEM)
        item = self._own_item(update_data.get("id"))
        fields = self._validated_fields({k: v for k, v in update_data.items() if k != "id"}, partial=True)
        return shapes.line_item(self.conf.sandbox.update_line_item(item.id, **fields), self._urls)  # type: ignore

    def delete_lineitem(self, line_item_id: str) -> None:
        self.conf.sandbox.delete_line_item(self._own_item(line_item_id).id)

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        _require_media_type(self.request.content_type, MEDIA_SCORE)
        item = self._own_item(line_item_id)
        record = self._validated_score(item, score)
        outcome = self.conf.sandbox.record_score(record)
        if outcome == "refused":
            raise LtiServiceException(
                f"Refusing score with an earlier timestamp for item {item.id} and user {record.user_id}", 409)
        return UpdateScoreStatus.SUCCESS

    def get_results(self, line_item_id: str, page: int = 1, limit: int | None = None,
                    user_id: str | None = None, **ignored: Any) -> TPage:
        item = self._own_item(line_item_id)
        scores = self.conf.sandbox.scores(item.id)
        if user_id:
            scores = [s for s in scores if s.user_id == str(user_id)]
        return {"content": [shapes.result(s, item, self._urls) for s in scores], "has_next": False}

    def _validated_score(self, item: LineItem, body: Any) -> Score:
        """Moodle's checks (userId gradable in the course, ISO timestamp, both progress
        values) plus the spec's: scores are numbers ≥ 0, scoreMaximum > 0."""
        if not isinstance(body, dict):
            raise LtiServiceException("Incorrect score received: the body must be a JSON score", 400)
        user = find_user(body.get("userId")) if isinstance(body.get("userId"), (str, int)) else None
        if user is None or not user.gradable:
            raise LtiServiceException("Incorrect score received: userId is not a gradable user of the course", 400)
        parse_timestamp(body.get("timestamp"), "timestamp")
        if body.get("activityProgress") not in ACTIVITY_PROGRESS:
            raise LtiServiceException(f"Incorrect score received: activityProgress must be one of {ACTIVITY_PROGRESS}", 400)
        if body.get("gradingProgress") not in GRADING_PROGRESS:
            raise LtiServiceException(f"Incorrect score received: gradingProgress must be one of {GRADING_PROGRESS}", 400)
        given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
        if given is not None and (not _is_number(given) or given < 0):
            raise LtiServiceException("Incorrect score received: scoreGiven must be a number >= 0", 400)
        if given is not None and maximum is None:
            raise LtiServiceException("Incorrect score received: scoreGiven needs scoreMaximum", 400)
        if maximum is not None and (not _is_number(maximum) or maximum <= 0):
            raise LtiServiceException("Incorrect score received: scoreMaximum must be a number > 0", 400)
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise LtiServiceException("Incorrect score received: comment must be a string", 400)
        return Score(line_item_id=item.id, user_id=str(user.id), timestamp=body["timestamp"],
                     activity_progress=body["activityProgress"], grading_progress=body["gradingProgress"],
                     score_given=None if given is None else float(given),
                     score_maximum=None if maximum is None else float(maximum),
                     comment=comment or "", client_id=self.conf.tool.client_id)

    # --- handlers the library gets wrong -------------------------------------------------
    @authenticate(allow_methods=["GET"], accept=MEDIA_LINEITEMS)
    def handle_get_lineitems(self) -> Response:
        query = dict(self.request.get_data)
        limit, offset = parse_paging(query)
        everything = self.find_lineitems(resource_link_id=query.get("resource_link_id"),
                                         resource_id=query.get("resource_id"), tag=query.get("tag"))["content"]
        items, next_url = page(everything, limit, offset, self.ags.lineitems_url, query)
        return PagedResponse(items, next_url=next_url)

    @authenticate(allow_methods=["GET"], accept=MEDIA_RESULTS)
    def handle_get_results(self, line_item_id: str) -> Response:
        query = dict(self.request.get_data)
        limit, offset = parse_paging(query)
        try:
            everything = self.get_results(line_item_id, user_id=query.get("user_id"))["content"]
        except LineItemNotFoundException:
            raise LtiServiceException("Line item does not exist", 404)
        base = self._urls.results(int(line_item_id), self.conf.tool.type_id)
        results, next_url = page(everything, limit, offset, base, {k: v for k, v in query.items() if k != "type_id"})
        return PagedResponse(results, next_url=next_url)

    @authenticate(allow_methods=["PUT"], accept=MEDIA_LINEITEM)
    def handle_update_lineitem(self, line_item_id: str) -> Response:
        data = self.request.json
        if not isinstance(data, dict):  # the library calls .update() on it
            raise LtiServiceException("The body must be a JSON line item", 400)
        try:
            return Response(result=self.update_lineitem({**data, "id": line_item_id}), code=200, message="success")
        except LineItemNotFoundException:
            raise LtiServiceException("Line item does not exist", 404)


def _service(scopes: list[str], line_item_id: int | None = None):
    return lambda req, conf: SandboxAGS(req, conf, scopes=scopes, line_item_id=line_item_id)


LINEITEMS = "/mod/lti/services.php/<int:course_id>/lineitems"
LINEITEM = LINEITEMS + "/<int:item_id>/lineitem"


@bp.get(LINEITEMS)
def get_lineitems(course_id: int):
    return serve(request.args.get("type_id"), _service(READ_LINEITEMS), "handle_get_lineitems",
                 media_type=MEDIA_LINEITEMS, course_id=course_id)


@bp.post(LINEITEMS)
def create_lineitem(course_id: int):
    return serve(request.args.get("type_id"), _service(WRITE_LINEITEMS), "handle_create_lineitem",
                 media_type=MEDIA_LINEITEM, course_id=course_id)


@bp.get(LINEITEM)
def get_lineitem(course_id: int, item_id: int):
    return serve(request.args.get("type_id"), _service(READ_LINEITEMS, item_id), "handle_get_lineitem",
                 str(item_id), media_type=MEDIA_LINEITEM, course_id=course_id)


@bp.put(LINEITEM)
def update_lineitem(course_id: int, item_id: int):
    return serve(request.args.get("type_id"), _service(WRITE_LINEITEMS, item_id), "handle_update_lineitem",
                 str(item_id), media_type=MEDIA_LINEITEM, course_id=course_id)


@bp.delete(LINEITEM)
def delete_lineitem(course_id: int, item_id: int):
    return serve(request.args.get("type_id"), _service(WRITE_LINEITEMS, item_id), "handle_delete_lineitem",
                 str(item_id), course_id=course_id)


@bp.post(LINEITEM + "/scores")
def post_score(course_id: int, item_id: int):
    """200 with an empty body, content type score+json — exactly what Moodle answers."""
    return serve(request.args.get("type_id"), _service([SCOPE_SCORE], item_id), "handle_update_score",
                 str(item_id), media_type=MEDIA_SCORE, course_id=course_id)


@bp.get(LINEITEM + "/results")
def get_results(course_id: int, item_id: int):
    return serve(request.args.get("type_id"), _service([SCOPE_RESULT_READONLY], item_id), "handle_get_results",
                 str(item_id), media_type=MEDIA_RESULTS, course_id=course_id)
