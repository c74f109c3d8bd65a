"""Papers (C3, C8): fixed item lists or per-candidate draws from category pools, option
shuffling, points, and the rules a sitting runs under."""
from __future__ import annotations

import random
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.errors import Invalid, NotFound
from bridge.models.bank import Question, QuestionCategory
from bridge.models.exams import Exam
from bridge.models.papers import PARTIAL_RULES, Paper, PaperItem
from bridge.services import audit

SETTINGS = {  # name: (type, minimum, maximum)
    "early_submit_minutes": (int, 0, 24 * 60),
    "late_login_minutes": (int, 0, 24 * 60),
    "lock_limit": (int, 1, 100),
}


def paper_for(session: Session, exam: Exam) -> Paper:
    paper = session.scalars(select(Paper).where(Paper.exam_id == exam.id)).first()
    if paper is None:
        paper = Paper(exam_id=exam.id)
        session.add(paper)
        session.flush()
    return paper


def _course_questions(session: Session, course_id: int, ids: Iterable[int]) -> dict[int, Question]:
    ids = list(ids)
    found = {q.id: q for q in session.scalars(select(Question).where(
        Question.id.in_(ids), Question.course_id == course_id, Question.archived.is_(False)))}
    missing = [i for i in ids if i not in found]
    if missing:
        message = f"These items are not in this course's bank: {', '.join(map(str, missing))}."
        raise NotFound(message)
    return found


def set_fixed_items(session: Session, exam: Exam, items: list[tuple[int, float]], *, actor_id: int) -> Paper:
    """The paper's items in order, each with its points."""
    if not items:
        raise Invalid("A fixed paper needs at least one item.")
    if len({q for q, _ in items}) != len(items):
        raise Invalid("An item appears twice on the paper.")
    for _, points in items:
        if not isinstance(points, (int, float)) or not 0 < points <= 1000:
            raise Invalid("Each item's points must be a number above 0 (at most 1000).")
    _course_questions(session, exam.course_id, [q for q, _ in items])
    paper = paper_for(session, exam)
    paper.mode, paper.draws = "fixed", []
    paper.items.clear()
    session.flush()
    for position, (qid, points) in enumerate(items, 1):
        paper.items.append(PaperItem(question_id=qid, position=position, points=float(points)))
    session.flush()
    audit.record(session, "paper.set_items", actor=f"user:{actor_id}", target=f"exam:{exam.id}",
                 detail={"items": [q for q, _ in items]})
    return paper


def set_draws(session: Session, exam: Exam, draws: list[dict], *, actor_id: int) -> Paper:
    """Per-candidate draws (抽卷): [{"category_id", "count", "points"}]; each pool must hold
    at least ``count`` usable items."""
    if not draws:
        raise Invalid("A drawn paper needs at least one draw.")
    clean = []
    for d in draws:
        try:
            cid, count, points = int(d["category_id"]), int(d["count"]), float(d["points"])
        except (KeyError, TypeError, ValueError):
            raise Invalid("Each draw needs a category, a count and points per item.") from None
        if count < 1 or not 0 < points <= 1000:
            raise Invalid("Draw at least one item, each worth more than 0 points.")
        category = session.get(QuestionCategory, cid)
        if category is None or category.course_id != exam.course_id:
            raise NotFound("That category is not in this course's bank.")
        available = session.scalar(select(func.count()).select_from(Question).where(
            Question.category_id == cid, Question.archived.is_(False))) or 0
        if available < count:
            message = f"The category “{category.name}” holds {available} items; the draw asks for {count}."
            raise Invalid(message)
        clean.append({"category_id": cid, "count": count, "points": points})
    paper = paper_for(session, exam)
    paper.mode, paper.draws = "draw", clean
    paper.items.clear()
    session.flush()
    audit.record(session, "paper.set_draws", actor=f"user:{actor_id}", target=f"exam:{exam.id}", detail={"draws": clean})
    return paper


def update_settings(session: Session, exam: Exam, *, actor_id: int, **values) -> Paper:
    paper = paper_for(session, exam)
    changed = {}
    for name, raw in values.items():
        if name in SETTINGS:
            kind, low, high = SETTINGS[name]
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise Invalid(f"{name.replace('_', ' ')} must be a whole number.") from None
            if not low <= value <= high:
                raise Invalid(f"{name.replace('_', ' ')} must be between {low} and {high}.")
        elif name == "multiple_rule":
            if raw not in PARTIAL_RULES:
                raise Invalid("Choose how multiple-choice items earn partial credit.")
            value = raw
        elif name in ("shuffle_items", "shuffle_options", "remote_allowed"):
            value = bool(raw)
        elif name == "rules_html":
            value = str(raw or "")[:20000]
        elif name == "info_form":
            value = info_form_fields(raw)
        else:
            raise Invalid(f"Unknown paper setting {name!r}.")
        changed[name] = value
        setattr(paper, name, value)
    session.flush()
    audit.record(session, "paper.settings", actor=f"user:{actor_id}", target=f"exam:{exam.id}",
                 detail={k: v for k, v in changed.items() if k != "rules_html"})
    return paper


MAX_INFO_FIELDS = 20


def info_form_fields(lines) -> list[dict]:
    """The pre-exam information form (C2) from the teacher's lines: one field per line, a
    trailing * makes it required. ``[{"name": "f1", "label": ..., "required": bool}]``."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    fields = []
    for raw in lines or []:
        label = str(raw).strip()
        if not label:
            continue
        required = label.endswith("*")
        label = label.rstrip("*").strip()[:200]
        if label:
            fields.append({"name": f"f{len(fields) + 1}", "label": label, "required": required})
    if len(fields) > MAX_INFO_FIELDS:
        raise Invalid(f"The pre-exam form may have at most {MAX_INFO_FIELDS} fields.")
    return fields


def compose(session: Session, paper: Paper, rng: random.Random) -> list[dict]:
    """One candidate's items: [{"question_id", "points", "order"}]; ``order`` is the option
    order shown (choice ids), shuffled where the paper and the question allow it."""
    if paper.mode == "draw":
        picked: list[tuple[int, float]] = []
        for d in paper.draws:
            pool = sorted(session.scalars(select(Question.id).where(
                Question.category_id == d["category_id"], Question.archived.is_(False))))
            if len(pool) < d["count"]:
                raise Invalid("An item pool has fewer items than the paper draws; the teacher must fix the paper.")
            picked += [(qid, d["points"]) for qid in rng.sample(pool, d["count"])]
    else:
        picked = [(i.question_id, i.points) for i in paper.items]
    if not picked:
        raise Invalid("The paper has no items yet.")
    if paper.shuffle_items:
        rng.shuffle(picked)
    questions = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_([q for q, _ in picked])))}
    items = []
    for qid, points in picked:
        q = questions[qid]
        order = [c["id"] for c in q.choices]
        if paper.shuffle_options and q.shuffle and q.qtype in ("single", "multiple"):
            rng.shuffle(order)
        items.append({"question_id": qid, "points": points, "order": order})
    return items
