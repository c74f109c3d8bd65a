"""The sandbox LMS's gradebook: the activities (resource links) placed in the course, their
AGS line items and the scores tools post to them. A mixin of ``state.Sandbox``, kept apart
from the tools, keys and one-time values because it is the part the AGS endpoints and the
grader pages read and write; it works on the ``Sandbox``'s own fields (``_lock``,
``_tools``, ``_activities``, ``_line_items``, ``_scores``) and persists through its
``_save``.
"""
from __future__ import annotations

import copy
from typing import Any

from .records import Activity, LineItem, Score
from .state_shared import CONTAINERS, current_time, require_http_url


class Gradebook:
    """Activities, line items and scores of the one sandbox course."""

    # ------------------------------------------------------------------ activities -----
    def add_activity(self, tool_client_id: str, title: str, custom: dict[str, str] | None = None,
                     line_item: dict[str, Any] | float | None = None, *, url: str | None = None,
                     description: str = "", container: str | None = None,
                     created_by: str = "api") -> Activity:
        """Place a resource link of a registered tool in the course. ``line_item`` is an AGS
        ``lineItem`` dict (``scoreMaximum`` required; ``label``, ``resourceId``, ``tag``) or
        just the maximum; the line item is bound to the new activity."""
        if not (title or "").strip():
            raise ValueError("an activity needs a title")
        if url:
            require_http_url(url, "activity url")
        if container is not None and container not in CONTAINERS:
            raise ValueError(f"container must be one of {CONTAINERS}")
        if line_item is not None and not isinstance(line_item, dict):
            line_item = {"scoreMaximum": line_item}
        if line_item is not None:
            maximum = line_item.get("scoreMaximum")
            if isinstance(maximum, bool) or not isinstance(maximum, (int, float)) or maximum <= 0:
                raise ValueError("lineItem.scoreMaximum must be a number > 0")
        with self._lock:
            tool = self._tools.get(tool_client_id)
            if tool is None:
                raise KeyError(f"unknown tool {tool_client_id!r}")
            activity = Activity(
                id=self._next("activity"), type_id=tool.type_id, client_id=tool.client_id,
                title=title.strip(), url=url or None, description=description,
                custom={str(k): str(v) for k, v in (custom or {}).items()}, container=container,
                created_by=created_by, created_at=current_time())
            self._activities[activity.id] = activity
            if line_item is not None:
                self._create_line_item_locked(
                    type_id=tool.type_id, label=str(line_item.get("label") or activity.title),
                    score_maximum=float(line_item["scoreMaximum"]),
                    resource_id=str(line_item.get("resourceId") or ""), tag=str(line_item.get("tag") or ""),
                    activity_id=activity.id, created_by=created_by)
            self._save()
            return copy.deepcopy(activity)

    @property
    def activities(self) -> list[Activity]:
        with self._lock:
            return [copy.deepcopy(a) for a in sorted(self._activities.values(), key=lambda a: a.id)]

    def activity(self, activity_id) -> Activity | None:
        try:
            key = int(str(activity_id))
        except (TypeError, ValueError):
            return None
        with self._lock:
            activity = self._activities.get(key)
            return copy.deepcopy(activity) if activity else None

    # ------------------------------------------------------------------ line items -----
    def _create_line_item_locked(self, **fields) -> LineItem:
        item = LineItem(id=self._next("line_item"), created_at=current_time(), **fields)
        self._line_items[item.id] = item
        return item

    def create_line_item(self, *, type_id: int, label: str, score_maximum: float, resource_id: str = "",
                         tag: str = "", activity_id: int | None = None, start_date_time: str | None = None,
                         end_date_time: str | None = None, created_by: str = "api") -> LineItem:
        with self._lock:
            item = self._create_line_item_locked(
                type_id=type_id, label=label, score_maximum=float(score_maximum), resource_id=resource_id,
                tag=tag, activity_id=activity_id, start_date_time=start_date_time,
                end_date_time=end_date_time, created_by=created_by)
            self._save()
            return copy.deepcopy(item)

    def update_line_item(self, line_item_id: int, **fields) -> LineItem:
        with self._lock:
            item = self._line_items[line_item_id]
            for name, value in fields.items():
                if not hasattr(item, name) or name in ("id", "type_id", "created_at"):
                    raise AttributeError(name)
                setattr(item, name, value)
            self._save()
            return copy.deepcopy(item)

    def delete_line_item(self, line_item_id: int) -> None:
        with self._lock:
            self._line_items.pop(line_item_id)
            self._scores = [s for s in self._scores if s.line_item_id != line_item_id]
            self._save()

    @property
    def line_items(self) -> list[LineItem]:
        with self._lock:
            return [copy.deepcopy(li) for li in sorted(self._line_items.values(), key=lambda li: li.id)]

    def line_item(self, line_item_id) -> LineItem | None:
        try:
            key = int(str(line_item_id))
        except (TypeError, ValueError):
            return None
        with self._lock:
            item = self._line_items.get(key)
            return copy.deepcopy(item) if item else None

    def activity_line_items(self, activity_id: int) -> list[LineItem]:
        return [li for li in self.line_items if li.activity_id == activity_id]

    # ------------------------------------------------------------------ scores ---------
    def record_score(self, score: Score) -> str:
        """Store a validated score. Returns ``applied``, ``ignored`` (older than the score
        on record; spec behaviour) or ``refused`` (``moodle`` mode: not newer, 409)."""
        with self._lock:
            if score.line_item_id not in self._line_items:
                raise KeyError(score.line_item_id)
            current = self._current_score_locked(score.line_item_id, score.user_id)
            outcome = "applied"
            if current is not None:
                new, old = score.timestamp_dt, current.timestamp_dt
                if self.stale_score_mode == "moodle":
                    if int(new.timestamp()) <= int(old.timestamp()):
                        outcome = "refused"
                elif new < old:
                    outcome = "ignored"
            score.applied = outcome == "applied"
            score.received_at = current_time()
            self._scores.append(score)
            self._save()
            return outcome

    def _current_score_locked(self, line_item_id: int, user_id: str) -> Score | None:
        for s in reversed(self._scores):
            if s.line_item_id == line_item_id and s.user_id == user_id and s.applied:
                return s
        return None

    def scores(self, line_item_id: int) -> list[Score]:
        """The score on record per user for a line item (the latest applied post)."""
        with self._lock:
            users = sorted({s.user_id for s in self._scores if s.line_item_id == line_item_id},
                           key=lambda u: (len(u), u))
            current = [self._current_score_locked(line_item_id, u) for u in users]
            return [copy.deepcopy(s) for s in current if s is not None]

    def score_log(self, line_item_id: int | None = None) -> list[Score]:
        """Every score post received, in arrival order, including ignored/refused ones."""
        with self._lock:
            return [copy.deepcopy(s) for s in self._scores
                    if line_item_id is None or s.line_item_id == line_item_id]
