"""The question editor's reads and writes.

Service-shaped (a Session and plain values in, rows out, ``DomainError`` raised, flush only,
every change audited) but kept here because ``bridge.services.exams.bank`` offers only import and
export and this change may not touch services: move these into ``bridge.services.exams.bank``
when its owner agrees; the views call nothing else of this module's internals.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.bank.model import Item
from bridge.errors import NotFound
from bridge.models.bank import Question, QuestionCategory, QuestionMedia
from bridge.models.users import Course
from bridge.services import audit


def list_questions(session: Session, course_id: int, *, category_id: int | None = None,
                   qtype: str | None = None) -> list[Question]:
    stmt = select(Question).where(Question.course_id == course_id, Question.archived.is_(False))
    if category_id is not None:
        stmt = stmt.where(Question.category_id == category_id)
    if qtype:
        stmt = stmt.where(Question.qtype == qtype)
    return list(session.scalars(stmt.order_by(Question.id)))


def category_paths(session: Session, course_id: int) -> dict[int, str]:
    """Every category of the course's bank as {id: "Unit 1 / Algebra"}, in path order."""
    cats = {c.id: c for c in session.scalars(select(QuestionCategory).where(QuestionCategory.course_id == course_id))}

    def path(cid):
        names, seen = [], set()
        while cid in cats and cid not in seen:
            seen.add(cid)
            names.append(cats[cid].name)
            cid = cats[cid].parent_id
        return " / ".join(reversed(names))

    return dict(sorted(((cid, path(cid)) for cid in cats), key=lambda kv: kv[1].casefold()))


def get_question(session: Session, course_id: int, question_id: int) -> Question:
    q = session.get(Question, question_id)
    if q is None or q.course_id != course_id or q.archived:
        raise NotFound("That item is not in this course's bank (it may have been archived).")
    return q


def _category(session: Session, course: Course, category_id: int | None, new_name: str) -> int | None:
    if category_id is not None:
        cat = session.get(QuestionCategory, category_id)
        if cat is None or cat.course_id != course.id:
            raise NotFound("That category is not in this course's bank.")
    if not new_name:
        return category_id
    parent = QuestionCategory.parent_id.is_(None) if category_id is None else QuestionCategory.parent_id == category_id
    row = session.scalars(select(QuestionCategory).where(QuestionCategory.course_id == course.id, parent,
                                                         QuestionCategory.name == new_name)).first()
    if row is None:
        row = QuestionCategory(course_id=course.id, parent_id=category_id, name=new_name)
        session.add(row)
        session.flush()
    return row.id


def save_question(session: Session, course: Course, item: Item, *, category_id: int | None = None,
                  new_category: str = "", question: Question | None = None, actor_id: int) -> Question:
    """Create (``question`` None) or replace the content of a bank item. ``item`` must have
    passed ``bridge.bank.model.validate``; an edit bumps the item's version."""
    cid = _category(session, course, category_id, new_category)
    previous = None
    if question is not None and _sat(session, question):
        previous, question = question, _new_version(session, question)
    q = question or Question(course_id=course.id, version=0, source="editor")
    fill_question(q, item, cid)
    q.version = (q.version or 0) + 1
    if question is None:
        session.add(q)
    session.flush()
    detail = {"qtype": q.qtype, "version": q.version}
    if previous is not None:
        detail["replaces"] = previous.id
    audit.record(session, "bank.edit" if question else "bank.create", actor=f"user:{actor_id}",
                 target=f"question:{q.id}", detail=detail)
    return q


def _sat(session: Session, question: Question) -> bool:
    """Whether an attempt was given this item (its draw holds the id): then editing it in
    place would change what candidates saw and how they are scored."""
    from bridge.models.attempts import Attempt
    from bridge.models.exams import Exam

    for items in session.scalars(select(Attempt.items).join(Exam, Exam.id == Attempt.exam_id)
                                 .where(Exam.course_id == question.course_id)):
        if any(int(item.get("question_id", 0)) == question.id for item in items or ()):
            return True
    return False


def _new_version(session: Session, old: Question) -> Question:
    """A new row for the next version of ``old``: attempts keep the version they were given
    (its id), the bank and the papers move to the new one, the old row is archived. Media
    are copied so the new version's stem finds its images under its own id."""
    from bridge.models.papers import PaperItem

    new = Question(course_id=old.course_id, version=old.version, source=old.source, category_id=old.category_id,
                   qtype=old.qtype, name=old.name, stem_html=old.stem_html)  # the edit fills in the rest
    session.add(new)
    session.flush()
    for media in session.scalars(select(QuestionMedia).where(QuestionMedia.question_id == old.id)):
        session.add(QuestionMedia(question_id=new.id, name=media.name, mime=media.mime, sha256=media.sha256,
                                  data=media.data))
    for item in session.scalars(select(PaperItem).where(PaperItem.question_id == old.id)):
        item.question_id = new.id
    old.archived, old.updated_at = True, clock.utcnow_naive()
    return new


def archive_question(session: Session, course_id: int, question_id: int, *, actor_id: int) -> Question:
    """Soft delete: the item leaves the bank's lists and draws; papers and attempts that
    used it keep it."""
    q = get_question(session, course_id, question_id)
    q.archived, q.updated_at = True, clock.utcnow_naive()
    session.flush()
    audit.record(session, "bank.archive", actor=f"user:{actor_id}", target=f"question:{q.id}")
    return q


def fill_question(q: Question, item: Item, category_id: int | None) -> Question:
    """Copy an item's content into a bank row (an import's or the editor's)."""
    q.category_id, q.qtype, q.name = category_id, item.qtype, item.name[:255]
    q.stem_html, q.points = item.stem_html, item.points
    q.choices = [{"id": chr(ord("a") + i) if i < 26 else f"c{i}", "html": c.text_html, "fraction": c.fraction,
                  "feedback": c.feedback_html} for i, c in enumerate(item.choices)]
    q.blanks = [{"accepted": list(b.accepted), "case_sensitive": b.case_sensitive, "ignore_spaces": b.ignore_spaces}
                for b in item.blanks]
    q.correct, q.shuffle, q.tags = item.correct, item.shuffle, list(item.tags)
    q.general_feedback_html = item.general_feedback_html
    q.upload_extensions, q.upload_max_bytes = list(item.upload_extensions), item.upload_max_bytes
    q.idnumber = item.idnumber or q.idnumber or None
    q.updated_at = clock.utcnow_naive()
    return q
