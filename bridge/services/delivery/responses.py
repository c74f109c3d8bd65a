"""What an answer may say, by item type (single, multiple, true/false, fill, essay, upload):
each event's response is checked against the item the attempt was given, read once a minute
per database rather than per save (the autosave hot path)."""
from __future__ import annotations

import re
import weakref
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Row

from bridge import clock
from bridge.errors import Invalid
from bridge.i18n import N_
from bridge.models.attempts import Attempt
from bridge.models.bank import Question


_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
QUESTION_CACHE_SECONDS = 60.0  # item definitions do not change under a running exam


_attempts = Attempt.__table__
_questions = Question.__table__


# Per database (engine): two apps in one process (tests, a site node beside a central bridge)
# must never see each other's questions under the same id.
_question_cache: "weakref.WeakKeyDictionary[object, dict[int, tuple[float, Row | None]]]" = weakref.WeakKeyDictionary()


_items_cache: "weakref.WeakKeyDictionary[object, dict[int, frozenset]]" = weakref.WeakKeyDictionary()


_SELECT_ITEMS = (select(_attempts.c.id, _attempts.c["items"])
                 .where(_attempts.c.id.in_(bindparam("ids", expanding=True))))


_SELECT_QUESTION = (select(_questions.c.qtype, _questions.c.choices, _questions.c.blanks)
                    .where(_questions.c.id == bindparam("question_id")))


# --- responses by item type --------------------------------------------------------------
def check_response(conn: Connection, question_ids: frozenset, question_id: int, response: dict) -> None:
    if question_id not in question_ids:
        raise Invalid(N_("That question is not part of this exam."))
    question = _question(conn, question_id)
    if question is None:
        raise Invalid(N_("That question no longer exists."))
    body = dict(response)
    flagged = body.pop("flagged", False)
    if not isinstance(flagged, bool):
        raise Invalid(N_("flagged must be true or false."))
    problem = _SHAPES.get(question.qtype, _unknown_type)(question, body)
    if problem:
        raise Invalid(problem)


def attempt_questions(conn: Connection, attempt_ids: list[int]) -> dict[int, frozenset]:
    """The question ids of started attempts, cached: an attempt's items are drawn once,
    before it starts, and never change after."""
    cache = _items_cache.setdefault(conn.engine, {})
    missing = [a for a in attempt_ids if a not in cache]
    if missing:
        if len(cache) > 200_000:
            cache.clear()
        for attempt_id, items in conn.execute(_SELECT_ITEMS, {"ids": missing}):
            cache[attempt_id] = frozenset(int(item["question_id"]) for item in items or ())
    return {a: cache[a] for a in attempt_ids if a in cache}


def _question(conn: Connection, question_id: int) -> Row | None:
    """The item's type, options and blanks, cached for a minute (read once per item, not per save)."""
    now = clock.timestamp()
    cache = _question_cache.setdefault(conn.engine, {})
    hit = cache.get(question_id)
    if hit is not None and now - hit[0] < QUESTION_CACHE_SECONDS:
        return hit[1]
    row = conn.execute(_SELECT_QUESTION, {"question_id": question_id}).first()
    if len(cache) > 50_000:
        cache.clear()
    cache[question_id] = (now, row)
    return row


def _keys(body: dict, required: set[str], optional: set[str] = frozenset()) -> str | None:
    if not required <= body.keys() or not body.keys() <= required | optional:
        names = ", ".join(sorted(required | optional))
        return N_("The response for this kind of question has the fields: %(names)s.") % {"names": names}
    return None


def _choice_ids(question: Row) -> set[str]:
    return {str(choice.get("id")) for choice in question.choices or ()}


def _is_id(value: Any) -> bool:
    return (type(value) is int) or (isinstance(value, str) and 0 < len(value) <= 64)


def _single(question: Row, body: dict) -> str | None:
    choice = body.get("choice")
    if problem := _keys(body, {"choice"}):
        return problem
    if choice is not None and not (_is_id(choice) and str(choice) in _choice_ids(question)):
        return N_("That option is not one of this question's options.")
    return None


def _multiple(question: Row, body: dict) -> str | None:
    choices = body.get("choices")
    if problem := _keys(body, {"choices"}):
        return problem
    if not isinstance(choices, list) or not all(_is_id(c) for c in choices):
        return N_("choices must be a list of option ids.")
    given = [str(c) for c in choices]
    if len(set(given)) != len(given) or not set(given) <= _choice_ids(question):
        return N_("The chosen options must be distinct options of this question.")
    return None


def _truefalse(question: Row, body: dict) -> str | None:
    if problem := _keys(body, {"value"}):
        return problem
    if not (body["value"] is None or isinstance(body["value"], bool)):
        return N_("value must be true, false or null.")
    return None


def _fill(question: Row, body: dict) -> str | None:
    blanks = body.get("blanks")
    if problem := _keys(body, {"blanks"}):
        return problem
    expected = len(question.blanks or ()) or None
    if not isinstance(blanks, list) or not all(b is None or isinstance(b, str) for b in blanks):
        return N_("blanks must be a list of texts (or null for an empty blank).")
    if expected is not None and len(blanks) != expected:
        return N_("This question has %(n)d blank(s).") % {"n": expected}
    return None


def _essay(question: Row, body: dict) -> str | None:
    if problem := _keys(body, {"text"}, {"format"}):
        return problem
    if not isinstance(body["text"], str) or body.get("format", "html") not in ("html", "plain"):
        return N_("text must be a text and format html or plain.")
    return None


def _upload(question: Row, body: dict) -> str | None:
    if problem := _keys(body, {"sha256"}, {"name"}):
        return problem
    digest = body["sha256"]
    if digest is not None and not (isinstance(digest, str) and _SHA256_RE.match(digest)):
        return N_("sha256 must be the uploaded file's SHA-256 in hex (or null to remove it).")
    if not isinstance(body.get("name", ""), str):
        return N_("name must be a text.")
    return None


def _unknown_type(question: Row, body: dict) -> str | None:
    return N_("This question's type cannot be answered here.")


_SHAPES = {"single": _single, "multiple": _multiple, "truefalse": _truefalse, "fill": _fill,
           "essay": _essay, "upload": _upload}
