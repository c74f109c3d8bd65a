"""JSON bodies of the NRPS and AGS services in Moodle 4.5's shapes (fixtures service-04..12)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from .course import COURSE_ID, COURSE_LABEL, COURSE_TITLE, User
from .records import LineItem, Score, ToolRegistration
from .urls import MoodleUrls
from .vocab import BASIC_OUTCOME, MESSAGE_TYPE, RESOURCE_LINK_REQUEST


def number(value: float | int) -> float | int:
    """75.0 → 75, as PHP's json_encode prints whole floats."""
    value = float(value)
    return int(value) if value.is_integer() else value


def context() -> dict[str, str]:
    return {"id": str(COURSE_ID), "label": COURSE_LABEL, "title": COURSE_TITLE}


def member(user: User, tool: ToolRegistration, message: dict[str, Any] | None = None) -> dict[str, Any]:
    """One NRPS member. Roles are short names; name/email follow the tool's privacy settings."""
    entry: dict[str, Any] = {"status": "Active", "roles": list(user.roster_roles)}
    if message is not None:
        entry["message"] = [message]
    entry["user_id"] = str(user.id)
    entry["lis_person_sourcedid"] = user.sourcedid
    if tool.send_name:
        entry.update(name=user.name, given_name=user.given_name, family_name=user.family_name)
    if tool.send_email:
        entry["email"] = user.email
    entry["ext_user_username"] = user.username
    return entry


def member_message(sourcedid: str, urls: MoodleUrls) -> dict[str, Any]:
    """With ``rlid``: the resource link's message claims for the member (basic outcome)."""
    return {MESSAGE_TYPE: RESOURCE_LINK_REQUEST,
            BASIC_OUTCOME: {"lis_result_sourcedid": sourcedid,
                            "lis_outcome_service_url": urls.basic_outcome_service}}


def line_item(item: LineItem, urls: MoodleUrls) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": urls.lineitem(item.id, item.type_id),
        "label": item.label,
        "scoreMaximum": number(item.score_maximum),
        "resourceId": item.resource_id,
        "tag": item.tag,
    }
    if item.activity_id is not None:
        body["resourceLinkId"] = str(item.activity_id)
        body["ltiLinkId"] = str(item.activity_id)
    if item.start_date_time:
        body["startDateTime"] = item.start_date_time
    if item.end_date_time:
        body["endDateTime"] = item.end_date_time
    return body


def created_line_item(item: LineItem, urls: MoodleUrls) -> dict[str, Any]:
    """The 201 body of a line-item POST: Moodle echoes the fields it was sent plus ``id``."""
    body = line_item(item, urls)
    body.pop("ltiLinkId", None)
    body["id"] = body.pop("id")  # last, as Moodle prints it
    return body


def moodle_timestamp(value: dt.datetime) -> str:
    """Seconds and a numeric UTC offset: 2026-11-22T00:03:45+00:00."""
    return value.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat()


def result(score: Score, item: LineItem, urls: MoodleUrls) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": urls.results(item.id, item.type_id, user_id=score.user_id),
        "userId": score.user_id,
    }
    grade = score.grade(item.score_maximum)
    if grade is not None:
        body["resultScore"] = number(grade)
    body["resultMaximum"] = number(item.score_maximum)
    if score.comment:
        body["comment"] = score.comment
    body["scoreOf"] = urls.lineitem(item.id, item.type_id)
    body["timestamp"] = moodle_timestamp(score.timestamp_dt)
    return body
