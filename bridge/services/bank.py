"""The question bank (C9): an import lands in one transaction — every usable item, or nothing
— and reports what was imported, what was skipped and why; the course's bank exports back
to Moodle XML."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.bank import gift, moodle_xml
from bridge.bank.model import Blank, Choice, FormatError, ImportReport, Item, Media, Skipped, validate
from bridge.errors import Invalid
from bridge.models.bank import Question, QuestionCategory, QuestionMedia
from bridge.models.users import Course
from bridge.services import audit

FORMATS = {"moodle-xml": moodle_xml.parse, "gift": gift.parse}


@dataclass
class BankImport:
    format: str
    imported: list[tuple[int, str]]   # (question id, name)
    skipped: list[Skipped]

    def lines(self) -> list[str]:
        out = [f"imported {len(self.imported)} item(s), skipped {len(self.skipped)} ({self.format})"]
        out += [f"  + #{qid} {name}" for qid, name in self.imported]
        out += [f"  - {s.where}: {s.reason}" for s in self.skipped]
        return out


def guess_format(filename: str, data: bytes) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".xml" or data.lstrip()[:5] in (b"<?xml", b"<quiz"):
        return "moodle-xml"
    if suffix in (".gift", ".txt"):
        return "gift"
    raise Invalid("Say which format the file is in (Moodle XML or GIFT); its name does not tell.")


def parse(data: bytes, fmt: str) -> ImportReport:
    if fmt not in FORMATS:
        message = f"Unknown format {fmt!r}: use moodle-xml or gift."
        raise Invalid(message)
    try:
        return FORMATS[fmt](data)
    except FormatError as exc:
        raise Invalid(str(exc)) from None


def _category(session: Session, course: Course, path: tuple[str, ...], cache: dict) -> int | None:
    parent = None
    for depth in range(len(path)):
        key = path[: depth + 1]
        if key not in cache:
            name = key[-1][:255]
            row = session.scalars(select(QuestionCategory).where(
                QuestionCategory.course_id == course.id, QuestionCategory.name == name,
                QuestionCategory.parent_id.is_(None) if parent is None else QuestionCategory.parent_id == parent)).first()
            if row is None:
                row = QuestionCategory(course_id=course.id, parent_id=parent, name=name)
                session.add(row)
                session.flush()
            cache[key] = row.id
        parent = cache[key]
    return parent


def _row(item: Item, course: Course, category_id: int | None, source: str) -> Question:
    return Question(
        course_id=course.id, category_id=category_id, qtype=item.qtype, name=item.name[:255],
        stem_html=item.stem_html, points=item.points,
        choices=[{"id": chr(ord("a") + i) if i < 26 else f"c{i}", "html": c.text_html, "fraction": c.fraction,
                  "feedback": c.feedback_html} for i, c in enumerate(item.choices)],
        blanks=[{"accepted": list(b.accepted), "case_sensitive": b.case_sensitive, "ignore_spaces": b.ignore_spaces}
                for b in item.blanks],
        correct=item.correct, shuffle=item.shuffle, tags=list(item.tags),
        general_feedback_html=item.general_feedback_html, upload_extensions=list(item.upload_extensions),
        upload_max_bytes=item.upload_max_bytes, source=source[:300], updated_at=clock.utcnow_naive())


def import_file(session: Session, course: Course, data: bytes, *, filename: str, fmt: str | None = None,
                actor: str) -> BankImport:
    """Parse and store. A refused file raises Invalid and stores nothing; the caller's
    transaction makes the items that passed land together."""
    fmt = fmt or guess_format(filename, data)
    report = parse(data, fmt)
    skipped = list(report.skipped)
    imported: list[tuple[int, str]] = []
    cache: dict = {}
    for item in report.items:
        reason = validate(item)
        if reason:
            skipped.append(Skipped(where=item.source or item.name, reason=reason))
            continue
        q = _row(item, course, _category(session, course, item.category, cache), f"{filename}: {item.source}")
        session.add(q)
        session.flush()
        for m in item.media:
            session.add(QuestionMedia(question_id=q.id, name=m.name[:255], mime=m.mime[:100],
                                      sha256=hashlib.sha256(m.data).hexdigest(), data=m.data))
        imported.append((q.id, q.name))
    session.flush()
    audit.record(session, "bank.import", actor=actor, target=f"course:{course.id}",
                 detail={"file": filename[:200], "format": fmt, "imported": len(imported), "skipped": len(skipped)})
    return BankImport(format=fmt, imported=imported, skipped=skipped)


def _item(q: Question, session: Session, paths: dict[int, tuple[str, ...]]) -> Item:
    media = tuple(Media(name=m.name, mime=m.mime, data=m.data) for m in session.scalars(
        select(QuestionMedia).where(QuestionMedia.question_id == q.id)))
    return Item(qtype=q.qtype, name=q.name, stem_html=q.stem_html, points=q.points,
                choices=tuple(Choice(text_html=c["html"], fraction=c["fraction"], feedback_html=c.get("feedback", ""))
                              for c in q.choices),
                blanks=tuple(Blank(accepted=tuple(b["accepted"]), case_sensitive=b["case_sensitive"],
                                   ignore_spaces=b["ignore_spaces"]) for b in q.blanks),
                correct=q.correct, shuffle=q.shuffle, category=paths.get(q.category_id, ()), tags=tuple(q.tags),
                general_feedback_html=q.general_feedback_html, upload_extensions=tuple(q.upload_extensions),
                upload_max_bytes=q.upload_max_bytes, media=media)


def export_course(session: Session, course: Course) -> bytes:
    cats = {c.id: c for c in session.scalars(select(QuestionCategory).where(QuestionCategory.course_id == course.id))}

    def path(cid):
        out = []
        while cid is not None and cid in cats:
            out.append(cats[cid].name)
            cid = cats[cid].parent_id
        return tuple(reversed(out))

    paths = {cid: path(cid) for cid in cats}
    questions = session.scalars(select(Question).where(Question.course_id == course.id, Question.archived.is_(False))
                                .order_by(Question.id))
    return moodle_xml.export(_item(q, session, paths) for q in questions)
