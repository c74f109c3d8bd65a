"""Assignment and Grade Services: one line item per exam, scores into it (L5).

Moodle shapes (LTI-NOTES, captured from Moodle 4.5.6): the line-item list is a bare JSON array
(the spec's container; some LMSs wrap it in an object), a line item's id carries a query string
(``…/lineitems/2/lineitem?type_id=1``) so ``/scores`` and ``/results`` go into the path before
it, and a score POST answers 200 with an empty body.

``find_or_create_lineitem`` works on an Exam in a session; ``ensure_lineitem``,
``post_score`` and ``fetch_results`` take plain values and credentials, so the outbox can call
them after its database transaction has ended.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.models.exams import Exam
from lms_plugin.errors import ServiceError
from lms_plugin.models import ResourceLink
from lms_plugin.services import service_token as st

LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"

TAG = "exambridge"
ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")


# --- URLs ----------------------------------------------------------------------------------
def _append_path(url: str, segment: str) -> str:
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + "/" + segment
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def scores_url(lineitem_url: str) -> str:
    """``…/lineitem?type_id=2`` → ``…/lineitem/scores?type_id=2`` (the path, not the query)."""
    return _append_path(lineitem_url, "scores")


def results_url(lineitem_url: str) -> str:
    """``…/lineitem?type_id=2`` → ``…/lineitem/results?type_id=2``."""
    return _append_path(lineitem_url, "results")


# --- parsing -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LineItem:
    id: str
    label: str = ""
    score_maximum: float | None = None
    resource_id: str = ""
    tag: str = ""
    resource_link_id: str = ""


@dataclasses.dataclass(frozen=True)
class Result:
    user_id: str
    result_score: float | None
    result_maximum: float | None
    comment: str = ""
    score_of: str = ""
    timestamp: str = ""


def _s(value: Any) -> str:
    return str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_lineitem(entry: Any) -> LineItem | None:
    """One line item, or None when it has no id (the only field we cannot do without)."""
    if not isinstance(entry, dict) or not _s(entry.get("id")):
        return None
    return LineItem(id=_s(entry["id"]), label=_s(entry.get("label")),
                    score_maximum=_num(entry.get("scoreMaximum")),
                    resource_id=_s(entry.get("resourceId")), tag=_s(entry.get("tag")),
                    resource_link_id=_s(entry.get("resourceLinkId")))


def _items(body: Any, keys: Iterable[str]) -> list:
    """The entries of a container: a bare array (the spec, Moodle) or an object wrapping one."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), list):
                return body[key]
    raise ServiceError("The LMS answered with something that is not a list of entries.",
                       reason="bad_container", retryable=False)


def parse_lineitems(body: Any) -> list[LineItem]:
    items = (parse_lineitem(e) for e in _items(body, ("lineItems", "lineitems", "items")))
    return [i for i in items if i is not None]


def parse_results(body: Any) -> list[Result]:
    results = []
    for e in _items(body, ("results", "items")):
        if isinstance(e, dict) and _s(e.get("userId")):
            results.append(Result(user_id=_s(e["userId"]), result_score=_num(e.get("resultScore")),
                                  result_maximum=_num(e.get("resultMaximum")),
                                  comment=_s(e.get("comment")), score_of=_s(e.get("scoreOf")),
                                  timestamp=_s(e.get("timestamp"))))
    return results


def score_body(*, user_sub: str, score_given: float, score_maximum: float, comment: str,
               activity_progress: str, grading_progress: str, timestamp: str) -> dict:
    """The AGS score document (service-09's shape). An empty comment is left out."""
    body = {"userId": user_sub, "scoreGiven": score_given, "scoreMaximum": score_maximum,
            "activityProgress": activity_progress, "gradingProgress": grading_progress,
            "timestamp": timestamp}
    if comment:
        body["comment"] = comment
    return body


def match_lineitem(items: Iterable[LineItem], *, resource_id: str,
                   resource_link_id: str | None = None) -> LineItem | None:
    """Our line item for an exam: ``resourceId`` equal to the exam's public id; failing that
    (an LMS that drops resourceId), our tag on the exam's resource link."""
    items = list(items)
    for item in items:
        if resource_id and item.resource_id == resource_id:
            return item
    if resource_link_id:
        for item in items:
            if item.tag == TAG and item.resource_link_id == resource_link_id:
                return item
    return None


def choose_lineitem(items: Iterable[LineItem], *, resource_id: str,
                    resource_link_ids: Iterable[str] = ()) -> tuple[LineItem, str] | None:
    """The column an exam writes to, found among the course's line items, and where it comes
    from: ``activity`` (the line item of an activity the exam is placed in: its
    ``resourceLinkId`` is one of the exam's resource links; Moodle makes one for every placed
    activity) or ``created`` (one this tool made for the exam earlier, by ``resourceId``).
    None when neither exists: then, and only then, the exam gets a column of its own."""
    items = list(items)
    links = [str(r) for r in resource_link_ids if r]
    for rlid in links:  # the exam's first placement first
        for item in items:
            if item.resource_link_id == rlid:
                return item, "activity"
    for item in items:
        if resource_id and item.resource_id == resource_id:
            return item, "activity" if item.resource_link_id else "created"
    return None


# --- network (plain values) ----------------------------------------------------------------
def _json(resp, what: str) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise ServiceError(f"The LMS answered {what} with something that is not JSON.",
                           reason="bad_response", retryable=False) from None


def list_lineitems(creds: st.PlatformCredentials, lineitems_url: str, *,
                   granted: Iterable[str] | None = None) -> list[LineItem]:
    """Every line item of the course, following rel="next"."""
    granted_set = None if granted is None else set(granted)
    scope = st.SCOPE_LINEITEM if granted_set is None or st.SCOPE_LINEITEM in granted_set \
        else st.SCOPE_LINEITEM_READONLY
    st.require_granted({scope}, granted_set, what="read the gradebook columns")
    items: list[LineItem] = []
    for body in st.get_pages(creds, lineitems_url, scopes={scope}, accept=LINEITEM_CONTAINER,
                             what="list the course's gradebook columns"):
        items.extend(parse_lineitems(body))
    return items


def create_lineitem(creds: st.PlatformCredentials, lineitems_url: str, *, label: str,
                    score_maximum: float, resource_id: str, resource_link_id: str | None = None,
                    granted: Iterable[str] | None = None) -> LineItem:
    st.require_granted({st.SCOPE_LINEITEM}, granted, what="create gradebook columns")
    body = {"label": label, "scoreMaximum": score_maximum, "resourceId": resource_id, "tag": TAG}
    if resource_link_id:
        body["resourceLinkId"] = resource_link_id
    resp = st.call(creds, "POST", lineitems_url, scopes={st.SCOPE_LINEITEM}, accept=LINEITEM,
                   content_type=LINEITEM, body=body)
    if not 200 <= resp.status_code < 300:
        raise st.failure(resp, f"create the gradebook column “{label}”")
    item = parse_lineitem(_json(resp, "the new line item"))
    if item is None:
        raise ServiceError("The LMS created the gradebook column but did not say its address "
                           "(no 'id' in its answer).", reason="bad_response", retryable=False)
    return item


def resolve_lineitem(creds: st.PlatformCredentials, lineitems_url: str, *, label: str,
                     score_maximum: float, resource_id: str, resource_link_ids: Iterable[str] = (),
                     granted: Iterable[str] | None = None) -> tuple[str, str]:
    """(URL, source) of the exam's one column: the line item of an activity it is placed in,
    else the one made for it earlier, else a new one (``created``). See ``choose_lineitem``."""
    links = [str(r) for r in resource_link_ids if r]
    found = choose_lineitem(list_lineitems(creds, lineitems_url, granted=granted),
                            resource_id=resource_id, resource_link_ids=links)
    if found is not None:
        return found[0].id, found[1]
    return create_lineitem(creds, lineitems_url, label=label, score_maximum=score_maximum,
                           resource_id=resource_id, resource_link_id=links[0] if links else None,
                           granted=granted).id, "created"


def ensure_lineitem(creds: st.PlatformCredentials, lineitems_url: str, *, label: str,
                    score_maximum: float, resource_id: str, resource_link_id: str | None = None,
                    granted: Iterable[str] | None = None) -> str:
    """The id (URL) of the exam's line item (``resolve_lineitem`` without the source)."""
    return resolve_lineitem(creds, lineitems_url, label=label, score_maximum=score_maximum,
                            resource_id=resource_id, resource_link_ids=[resource_link_id] if resource_link_id else (),
                            granted=granted)[0]


def delete_lineitem(creds: st.PlatformCredentials, lineitem_url: str, *,
                    granted: Iterable[str] | None = None) -> None:
    """Remove a gradebook column (with its results) from the LMS."""
    st.require_granted({st.SCOPE_LINEITEM}, granted, what="remove gradebook columns")
    resp = st.call(creds, "DELETE", lineitem_url, scopes={st.SCOPE_LINEITEM}, accept="*/*")
    if not 200 <= resp.status_code < 300:
        raise st.failure(resp, "remove the gradebook column")


def post_score(platform: st.PlatformCredentials, lineitem_url: str, *, user_sub: str,
               score_given: float, score_maximum: float, comment: str = "",
               activity_progress: str = "Completed", grading_progress: str = "FullyGraded",
               timestamp: str, granted: Iterable[str] | None = None) -> None:
    """POST one score to ``lineitem_url``/scores. Returns on any 2xx (Moodle: 200, empty body).

    Raises ServiceError: ``retryable=False`` for a 4xx other than 401/408/429 (the LMS refused
    the score itself; the message carries its reason), retryable for 5xx, timeouts, refused
    connections and a 401 that survives one retry with a fresh token.
    """
    st.require_granted({st.SCOPE_SCORE}, granted, what="send scores to the gradebook")
    body = score_body(user_sub=user_sub, score_given=score_given, score_maximum=score_maximum,
                      comment=comment, activity_progress=activity_progress,
                      grading_progress=grading_progress, timestamp=timestamp)
    resp = st.call(platform, "POST", scores_url(lineitem_url), scopes={st.SCOPE_SCORE},
                   accept="*/*", content_type=SCORE, body=body)
    if resp.status_code == 409:
        # Moodle 4.5 refuses a score whose timestamp is not newer than the one it holds,
        # compared to the second ("Refusing score with an earlier timestamp").
        raise ServiceError("The LMS holds a score with the same or a later time for this person; "
                           "the score is sent again with a new time.", reason="stale_timestamp",
                           status=409, retryable=True)
    if not 200 <= resp.status_code < 300:
        error = st.failure(resp, f"accept the score for LMS user {user_sub}")
        if not error.retryable:
            error.reason = "score_refused"  # the LMS refused this score itself
        raise error


def fetch_results(creds: st.PlatformCredentials, lineitem_url: str, *,
                  granted: Iterable[str] | None = None) -> list[Result]:
    """The gradebook's results for a line item (as the LMS scaled them: Moodle shows 7.5/10
    as 75/100)."""
    st.require_granted({st.SCOPE_RESULT_READONLY}, granted, what="read gradebook results")
    resp = st.call(creds, "GET", results_url(lineitem_url), scopes={st.SCOPE_RESULT_READONLY},
                   accept=RESULT_CONTAINER)
    if not 200 <= resp.status_code < 300:
        raise st.failure(resp, "send the gradebook results")
    return parse_results(_json(resp, "the results request"))


# --- on an Exam ----------------------------------------------------------------------------
def resource_link_for(session: Session, exam: Exam) -> str | None:
    """The LMS resource link the exam was placed with (the oldest, if several)."""
    return session.scalars(select(ResourceLink.resource_link_id)
                           .where(ResourceLink.exam_id == exam.id)
                           .order_by(ResourceLink.id).limit(1)).first()


def resource_links_of(session: Session, exam: Exam) -> list[ResourceLink]:
    """Every LMS resource link the exam is placed in, the oldest first."""
    return list(session.scalars(select(ResourceLink).where(ResourceLink.exam_id == exam.id)
                                .order_by(ResourceLink.id)))


def activity_lineitem(session: Session, exam: Exam) -> str | None:
    """The line item a launch said belongs to an activity the exam is placed in (oldest)."""
    return next((link.lineitem_url for link in resource_links_of(session, exam) if link.lineitem_url), None)


def require_lineitems_url(lineitems_url: str | None) -> str:
    """The course's line-item container URL, or a ServiceError saying how to get one."""
    if not lineitems_url:
        raise ServiceError("The LMS has not offered grade services for this course. Enable "
                           "'IMS LTI Assignment and Grade Services' in the tool's settings in the "
                           "LMS, then launch the tool from the course again.",
                           reason="no_ags", retryable=False)
    return lineitems_url


def find_or_create_lineitem(session: Session, exam: Exam, *,
                            resource_link_id: str | None = None) -> str:
    """The exam's line item URL: the stored one, else found in or added to the LMS gradebook
    (and stored in ``exam.lineitem_url``). Flushes; the caller commits."""
    if exam.lineitem_url:
        return exam.lineitem_url
    known = activity_lineitem(session, exam)
    if known:
        exam.lineitem_url, exam.lineitem_source = known, "activity"
        session.flush()
        return known
    course = exam.course
    lineitems_url = require_lineitems_url(course.ags_lineitems_url)
    creds = st.credentials(session, course.deployment.platform)
    links = [resource_link_id] if resource_link_id else [r.resource_link_id for r in resource_links_of(session, exam)]
    url, source = resolve_lineitem(creds, lineitems_url, label=exam.title,
                                   score_maximum=exam.score_maximum, resource_id=exam.public_id,
                                   resource_link_ids=links, granted=course.ags_scopes or [])
    exam.lineitem_url, exam.lineitem_source = url, source
    session.flush()
    return url
