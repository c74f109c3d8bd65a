"""Teacher forms → plain values, with errors keyed by the field that shows them.

HTTP parsing only: the rules an item must follow are ``bridge.bank.model.validate``'s, the
paper's are ``bridge.services.exams.papers``'. Messages are marked with ``N_`` and translated when
the template renders them (``teaching/_form.html`` ``err``: a message, or (message, values)).
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from bridge import timezones
from bridge.bank.mapping import auto_name
from bridge.bank.model import CHOICE_TYPES, QTYPES, Blank, Choice, Item, validate
from bridge.i18n import N_
from bridge.models.bank import Question
from bridge.services.exams.papers import SETTINGS

MAX_CHOICES = 10
MAX_BLANKS = 10
MAX_DRAW_ROWS = 10
MiB = 1024 * 1024


def int_or_none(raw) -> int | None:
    """A whole number that fits a database integer, or None."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if -2**31 <= value < 2**31 else None


def number(raw) -> float | None:
    """A finite number, or None (empty, text, NaN, infinity)."""
    try:
        value = float(str(raw).strip().replace(",", "."))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# --- question editor ---------------------------------------------------------------------------
@dataclass
class ItemForm:
    item: Item | None
    category_id: int | None = None
    new_category: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def item_form(form, qtype: str) -> ItemForm:
    """The editor's fields as an ``Item`` (None when a field is wrong; ``errors`` says which)."""
    errors: dict[str, str] = {}
    if qtype not in QTYPES:
        return ItemForm(None, errors={"qtype": N_("Choose the item's type.")})
    stem = form.get("stem_html", "").strip()
    points = number(form.get("points", ""))
    if points is None or not 0 < points <= 1000:
        errors["points"] = N_("Enter the points as a number above 0 (at most 1000).")
    category_id = int_or_none(form.get("category_id")) if form.get("category_id") else None
    if form.get("category_id") and category_id is None:
        errors["category_id"] = N_("Choose a category from the list.")
    choices = _choices(form, errors) if qtype in CHOICE_TYPES else ()
    blanks = _blanks(form) if qtype == "fill" else ()
    extensions, max_bytes = _upload(form, errors) if qtype == "upload" else ((), None)
    if errors:
        return ItemForm(None, category_id, form.get("new_category", "").strip(), errors)
    item = Item(qtype=qtype, name=auto_name(form.get("name", "")[:255], stem), stem_html=stem, points=points,
                choices=choices, blanks=blanks, correct={"true": True, "false": False}.get(form.get("correct")),
                shuffle=bool(form.get("shuffle")), tags=_tags(form.get("tags", "")),
                general_feedback_html=form.get("general_feedback_html", "").strip(),
                upload_extensions=extensions, upload_max_bytes=max_bytes, source="editor")
    reason = validate(item)
    if reason:
        errors["stem_html" if reason.startswith("the question text") else "answers"] = reason
        item = None
    return ItemForm(item, category_id, form.get("new_category", "").strip()[:255], errors)


def _choices(form, errors: dict) -> tuple[Choice, ...]:
    out = []
    for n in range(MAX_CHOICES):
        text = form.get(f"choice_text_{n}", "").strip()
        if not text:
            continue
        percent = number(form.get(f"choice_fraction_{n}", "0") or "0")
        if percent is None or not -100 <= percent <= 100:
            errors[f"choice_fraction_{n}"] = N_("Enter the grade as a percentage from -100 to 100.")
            continue
        out.append(Choice(text_html=text, fraction=round(percent / 100, 7),
                          feedback_html=form.get(f"choice_feedback_{n}", "")))
    return tuple(out)


def _blanks(form) -> tuple[Blank, ...]:
    out = []
    for n in range(MAX_BLANKS):
        accepted = tuple(line.strip() for line in form.get(f"blank_answers_{n}", "").splitlines() if line.strip())
        if accepted:
            out.append(Blank(accepted=accepted, case_sensitive=bool(form.get(f"blank_case_{n}")),
                             ignore_spaces=bool(form.get(f"blank_spaces_{n}"))))
    return tuple(out)


def _upload(form, errors: dict) -> tuple[tuple[str, ...], int | None]:
    raw = [e for e in re.split(r"[\s,;]+", form.get("upload_extensions", "").lower()) if e]
    extensions = tuple(dict.fromkeys(e if e.startswith(".") else "." + e for e in raw))
    size = form.get("upload_max_mb", "").strip()
    if not size:
        return extensions, None
    mb = number(size)
    if mb is None or not 0 < mb <= 1024:
        errors["upload_max_mb"] = N_("Enter the largest file size in MB, above 0 (at most 1024).")
        return extensions, None
    return extensions, int(mb * MiB)


def _tags(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip()[:60] for t in raw.split(",") if t.strip()))[:20]


def question_form(q: Question) -> dict[str, str]:
    """A stored question as the editor's flat field values (what ``item_form`` reads back)."""
    out = {"name": q.name, "stem_html": q.stem_html, "points": f"{q.points:g}",
           "category_id": str(q.category_id or ""), "tags": ", ".join(q.tags or []),
           "shuffle": "1" if q.shuffle else "", "general_feedback_html": q.general_feedback_html or "",
           "correct": {True: "true", False: "false"}.get(q.correct, ""),
           "upload_extensions": ", ".join(q.upload_extensions or []),
           "upload_max_mb": f"{q.upload_max_bytes / MiB:g}" if q.upload_max_bytes else ""}
    for n, c in enumerate(q.choices or []):
        out.update({f"choice_text_{n}": c["html"], f"choice_fraction_{n}": f"{c['fraction'] * 100:g}",
                    f"choice_feedback_{n}": c.get("feedback", "")})
    for n, b in enumerate(q.blanks or []):
        out.update({f"blank_answers_{n}": "\n".join(b["accepted"]),
                    f"blank_case_{n}": "1" if b["case_sensitive"] else "",
                    f"blank_spaces_{n}": "1" if b["ignore_spaces"] else ""})
    return out


def new_item_form() -> dict[str, str]:
    return {"points": "1", "shuffle": "1", **{f"blank_spaces_{n}": "1" for n in range(MAX_BLANKS)}}


def rows(form, prefix: str, *, spare: int, least: int, most: int) -> int:
    """How many rows of a repeated field to show: the filled ones plus ``spare`` empty ones."""
    used = max((n + 1 for n in range(most) if form.get(f"{prefix}{n}")), default=0)
    return min(most, max(least, used + spare))


# --- paper -------------------------------------------------------------------------------------
def fixed_items(form, question_ids: list[int]) -> tuple[list[tuple[int, float]], dict[str, str]]:
    """Ticked bank items as [(question id, points)] in the order given (then bank order)."""
    errors: dict[str, str] = {}
    picked = []
    for index, qid in enumerate(question_ids):
        if not form.get(f"use_{qid}"):
            continue
        points = number(form.get(f"points_{qid}", ""))
        if points is None or not 0 < points <= 1000:
            errors[f"points_{qid}"] = N_("Enter the points as a number above 0 (at most 1000).")
        order = int_or_none(form.get(f"order_{qid}", "")) if form.get(f"order_{qid}", "").strip() else None
        if form.get(f"order_{qid}", "").strip() and order is None:
            errors[f"order_{qid}"] = N_("The position is a whole number.")
        picked.append((order if order is not None else 10 ** 6, index, qid, points))
    if not picked and not errors:
        errors["items"] = N_("Tick at least one item for the paper.")
    return [(qid, points) for _o, _i, qid, points in sorted(picked)], errors


def draws(form) -> tuple[list[dict], dict[str, str]]:
    errors: dict[str, str] = {}
    out = []
    for n in range(MAX_DRAW_ROWS):
        category, count, points = (form.get(f"draw_{k}_{n}", "").strip() for k in ("category", "count", "points"))
        if not (category or count or points):
            continue
        values = {"category_id": int_or_none(category), "count": int_or_none(count), "points": number(points)}
        if values["category_id"] is None:
            errors[f"draw_category_{n}"] = N_("Choose a category.")
        if values["count"] is None or values["count"] < 1:
            errors[f"draw_count_{n}"] = N_("Draw a whole number of items, at least 1.")
        if values["points"] is None or not 0 < values["points"] <= 1000:
            errors[f"draw_points_{n}"] = N_("Enter the points as a number above 0 (at most 1000).")
        out.append(values)
    if not out and not errors:
        errors["draws"] = N_("Fill in at least one draw: a category, how many items, and points per item.")
    return out, errors


RANGE_MESSAGE = N_("Enter a whole number from %(low)d to %(high)d.")


def settings(form, rules: tuple[str, ...]) -> tuple[dict, dict[str, str]]:
    errors: dict[str, str] = {}
    values: dict = {"rules_html": form.get("rules_html", ""), "info_form": form.get("info_form", ""),
                    **{k: bool(form.get(k)) for k in ("shuffle_items", "shuffle_options", "remote_allowed")}}
    for name, (_kind, low, high) in SETTINGS.items():
        value = int_or_none(form.get(name, ""))
        if value is None or not low <= value <= high:
            errors[name] = (RANGE_MESSAGE, {"low": low, "high": high})
        values[name] = value
    if form.get("multiple_rule") not in rules:
        errors["multiple_rule"] = N_("Choose how multiple-choice items earn partial credit.")
    values["multiple_rule"] = form.get("multiple_rule")
    return values, errors


# --- sessions ----------------------------------------------------------------------------------
def sitting(form) -> tuple[dict, dict[str, str]]:
    errors: dict[str, str] = {}
    name = form.get("name", "").strip()
    if not name:
        errors["name"] = N_("Give the session a name (e.g. the date and time).")
    zone = timezones.current_zone_name()
    try:  # typed in the institution's zone, stored UTC
        starts_at = timezones.from_local(dt.datetime.strptime(
            f"{form.get('date', '').strip()} {form.get('time', '').strip()[:5]}", "%Y-%m-%d %H:%M"), zone)
    except ValueError:
        starts_at = None
        errors["starts_at"] = (N_("Give the start as a date (YYYY-MM-DD) and a time (HH:MM), in %(zone)s time."),
                               {"zone": zone})
    return {"name": name[:200], "starts_at": starts_at, "remote": bool(form.get("remote"))}, errors


def sitting_values(sitting) -> dict[str, str]:
    """A stored session as the form's fields (date and time in the institution's zone)."""
    local = timezones.to_local(sitting.starts_at)
    return {"name": sitting.name, "date": local.strftime("%Y-%m-%d"), "time": local.strftime("%H:%M"),
            "remote": "1" if sitting.exam_code else ""}


def user_ids(form) -> list[int] | None:
    """The ticked candidates; None when one of the values is not an id."""
    ids = [int_or_none(v) for v in form.getlist("user_id")]
    return None if any(i is None for i in ids) else list(dict.fromkeys(ids))
