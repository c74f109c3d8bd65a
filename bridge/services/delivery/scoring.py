"""Scoring (C10): objective items on submit, subjective items by a teacher; totals go to the
LMS gradebook through the outbox when the teacher releases them.

Responses, by item type (what the exam page sends):
  single     {"choice": "<choice id>"}
  multiple   {"choices": ["<id>", ...]}
  truefalse  {"value": true | false}
  fill       {"blanks": ["text", ...]}          one string per blank
  essay      {"text": "<html or plain text>"}
  upload     {"sha256": "<hex>", "name": "..."}   the file itself is an AnswerFile
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import re
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Invalid, InvalidState
from bridge.models.attempts import Attempt, ItemGrade
from bridge.models.bank import OBJECTIVE, Question
from bridge.models.papers import Paper
from bridge.services import audit

log = logging.getLogger(__name__)


def _norm(text: str, *, case_sensitive: bool, ignore_spaces: bool) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = re.sub(r"\s+", "" if ignore_spaces else " ", text.strip())
    return text if case_sensitive else text.casefold()


def score_item(question: Question | Any, points: float, response: dict | None, *,
               multiple_rule: str = "all_or_nothing", order: list | None = None) -> float:
    """Points earned on one objective item (0 for a missing or malformed response)."""
    if not isinstance(response, dict):
        return 0.0
    qtype = question.qtype
    if qtype == "single":
        chosen = response.get("choice")
        fraction = next((c.get("fraction", 0) for c in question.choices if c.get("id") == chosen), 0)
        return round(points * max(0.0, float(fraction)), 4)
    if qtype == "truefalse":
        value = response.get("value")
        return float(points) if isinstance(value, bool) and value == question.correct else 0.0
    if qtype == "multiple":
        chosen = response.get("choices")
        if not isinstance(chosen, list):
            return 0.0
        chosen = {c for c in chosen if isinstance(c, str)}
        right = {c["id"] for c in question.choices if c.get("fraction", 0) > 0}
        wrong = {c["id"] for c in question.choices} - right
        if multiple_rule == "all_or_nothing":
            return float(points) if chosen == right else 0.0
        hits, misses = len(chosen & right), len(chosen & wrong)
        if multiple_rule == "proportional":  # credit for each right choice, none if any wrong
            return round(points * hits / len(right), 4) if right and not misses else 0.0
        # proportional_with_penalty: each wrong choice cancels a right one, never below 0
        return round(points * max(0, hits - misses) / len(right), 4) if right else 0.0
    if qtype == "fill":
        given = response.get("blanks")
        blanks = question.blanks or []
        if not isinstance(given, list) or not blanks:
            return 0.0
        good = 0
        for i, blank in enumerate(blanks):
            text = given[i] if i < len(given) and isinstance(given[i], str) else ""
            cs, sp = bool(blank.get("case_sensitive")), bool(blank.get("ignore_spaces", True))
            if text and _norm(text, case_sensitive=cs, ignore_spaces=sp) in {
                    _norm(a, case_sensitive=cs, ignore_spaces=sp) for a in blank.get("accepted", [])}:
                good += 1
        return round(points * good / len(blanks), 4)
    return 0.0  # essay and upload are graded by a teacher


def score_attempt(session: Session, attempt: Attempt) -> float:
    """Grade every objective item of a submitted attempt (idempotent: re-scoring replaces
    automatic grades, never a teacher's), and total it."""
    from bridge.services.delivery import answers

    paper = session.scalars(select(Paper).where(Paper.exam_id == attempt.exam_id)).first()
    rule = paper.multiple_rule if paper else "all_or_nothing"
    current = answers.current_answers(session, attempt.id)
    questions = {q.id: q for q in session.scalars(select(Question).where(
        Question.id.in_([i["question_id"] for i in attempt.items])))}
    existing = {g.question_id: g for g in session.scalars(select(ItemGrade).where(ItemGrade.attempt_id == attempt.id))}
    for item in attempt.items:
        q = questions.get(item["question_id"])
        if q is None or q.qtype not in OBJECTIVE:
            continue
        pts = score_item(q, item["points"], current.get(q.id), multiple_rule=rule)
        grade = existing.get(q.id)
        if grade is None:
            session.add(ItemGrade(attempt_id=attempt.id, question_id=q.id, points=pts, automatic=True))
        elif grade.automatic:
            grade.points, grade.graded_at = pts, clock.utcnow_naive()
    session.flush()
    return _total(session, attempt, questions)


def _total(session: Session, attempt: Attempt, questions: dict[int, Question]) -> float:
    grades = {g.question_id: g.points for g in session.scalars(select(ItemGrade).where(
        ItemGrade.attempt_id == attempt.id))}
    attempt.score = round(sum(grades.values()), 4)
    attempt.score_complete = all(i["question_id"] in grades for i in attempt.items)
    session.flush()
    return attempt.score


def grade_item(session: Session, attempt: Attempt, question_id: int, *, points, grader_id: int,
               comment: str = "", reason: str = "") -> ItemGrade:
    """A teacher's points for a subjective item, or an override of an objective item's
    automatic score (a reason is then required; it is kept as the grade's comment and in the
    audit log). The attempt's total, which release sends, includes it."""
    if attempt.status != "submitted":
        raise InvalidState("Only submitted attempts are graded.")
    item = next((i for i in attempt.items if i["question_id"] == question_id), None)
    if item is None:
        raise Invalid("That item is not part of this candidate's paper.")
    question = session.get(Question, question_id)
    override = question is not None and question.qtype in OBJECTIVE
    reason = (reason or "").strip()
    if override and not reason:
        raise Invalid("Give a reason for overriding the automatic score.")
    if attempt.score is None:  # not scored yet (the scorer runs after the submit): score it first
        score_attempt(session, attempt)
    try:
        value = float(points)
    except (TypeError, ValueError):
        raise Invalid("Enter the points as a number.") from None
    if math.isnan(value) or not 0 <= value <= item["points"]:
        raise Invalid("Points must be between 0 and %(max)s.", params={"max": f"{item['points']:g}"})
    grade = session.scalars(select(ItemGrade).where(ItemGrade.attempt_id == attempt.id,
                                                    ItemGrade.question_id == question_id)).first()
    before = grade.points if grade else None
    if grade is None:
        grade = ItemGrade(attempt_id=attempt.id, question_id=question_id, points=value)
        session.add(grade)
    grade.points, grade.automatic, grade.grader_id = value, False, grader_id
    grade.comment, grade.graded_at = (reason or comment)[:2000], clock.utcnow_naive()
    session.flush()
    detail = {"before": before, "after": value}
    if override:
        detail["reason"] = reason[:500]
    audit.record(session, "grade.override" if override else "grade.item", actor=f"user:{grader_id}",
                 target=f"attempt:{attempt.id}/q:{question_id}", detail=detail)
    questions = {q.id: q for q in session.scalars(select(Question).where(
        Question.id.in_([i["question_id"] for i in attempt.items])))}
    _total(session, attempt, questions)
    return grade


def unscored_attempts(session: Session, exam_id: int) -> list[int]:
    """Submitted attempts of the exam whose objective items are not scored yet."""
    return list(session.scalars(select(Attempt.id).where(Attempt.exam_id == exam_id, Attempt.status == "submitted",
                                                         Attempt.score.is_(None))))


def score_submitted(session: Session, attempt_ids: list[int]) -> int:
    """Score each submitted, unscored attempt of ``attempt_ids``: the one scoring path, taken
    by the scorer after a candidate's submit is stored, by the other submits (locks, deadline,
    proctor) in their own unit of work, and by the sweeper. A failure never undoes a
    submission: that attempt stays unscored (logged) for the sweeper. Returns how many were scored."""
    scored = 0
    for attempt in session.scalars(select(Attempt).where(Attempt.id.in_(attempt_ids), Attempt.status == "submitted",
                                                          Attempt.score.is_(None))
                                   .execution_options(populate_existing=True)):  # a submit wrote through Core
        try:
            with session.begin_nested():
                score_attempt(session, attempt)
            scored += 1
        except Exception:
            log.exception("scoring attempt %s failed; the submission stands and the sweeper tries again", attempt.id)
    return scored


def score_left_over(session: Session, *, older_than_seconds: float = 60.0, limit: int = 50) -> int:
    """The sweeper's part: score submitted attempts still unscored a minute after their
    submit (their process died before its scorer ran)."""
    cutoff = clock.utcnow_naive() - dt.timedelta(seconds=older_than_seconds)
    ids = list(session.scalars(select(Attempt.id).where(Attempt.status == "submitted", Attempt.score.is_(None),
                                                        Attempt.submitted_at <= cutoff).limit(limit)))
    return score_submitted(session, ids) if ids else 0


def release(session: Session, exam, *, actor_id: int) -> int:
    """Release every fully graded attempt's total: ``signals.score_ready`` for each, which the
    LMS plugin queues for the gradebook (its outbox: an LMS outage delays, never loses).
    Returns how many a receiver took."""
    from bridge.signals import score_ready

    paper = session.scalars(select(Paper).where(Paper.exam_id == exam.id)).first()
    if paper is None:
        raise InvalidState("This exam has no paper yet.")
    # Submits just stored may still wait for the scorer (bridge.runtime.scorer): score them now. The
    # scorer may get there first (another thread or worker): its grades stand, then.
    for attempt_id in unscored_attempts(session, exam.id):
        attempt = session.get(Attempt, attempt_id)
        try:
            with session.begin_nested():
                score_attempt(session, attempt)
        except IntegrityError:
            session.refresh(attempt)
    done = list(session.scalars(select(Attempt).where(Attempt.exam_id == exam.id, Attempt.status == "submitted",
                                                      Attempt.score_complete.is_(True))))
    total_points = sum(i["points"] for i in done[0].items) if done else 0
    queued = 0
    for attempt in done:
        maximum = sum(i["points"] for i in attempt.items) or total_points or 1
        scaled = round(attempt.score * exam.score_maximum / maximum, 4)
        taken = score_ready.send(session, exam=exam, user_id=attempt.user_id, score_given=scaled,
                                 actor=f"user:{actor_id}")
        queued += any(result is not None for _, result in taken)
    paper.scores_released, paper.scores_released_at = True, clock.utcnow_naive()
    audit.record(session, "scores.release", actor=f"user:{actor_id}", target=f"exam:{exam.id}",
                 detail={"queued": queued})
    return queued
