"""The question bank (C9): an import lands in one transaction — every usable item, or nothing
— and reports what was imported, what was skipped and why; the course's bank exports back
to Moodle XML."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.bank import gift, moodle_xml
from bridge.bank.model import (Blank, Choice, FormatError, ImportReport, Item, Media, Skipped, fingerprint,
                               validate)
from bridge.bank.safety import sniff_image
from bridge.errors import Invalid
from bridge.models.bank import BankImportRecord, Question, QuestionCategory, QuestionMedia
from bridge.models.users import Course
from bridge.services import audit
from bridge.services.exams.bank_items import fill_question

FORMATS = {"moodle-xml": moodle_xml.parse, "gift": gift.parse}


DUPLICATES = ("skip", "update")


@dataclass
class BankImport:
    format: str
    imported: list[tuple[int, str]]   # (question id, name): new in the bank
    skipped: list[Skipped]            # items that could not be used, and why
    updated: list[tuple[int, str]] = field(default_factory=list)     # already in the bank, replaced by the file's
    unchanged: list[tuple[str, int, str]] = field(default_factory=list)  # (where, id, name) already in the bank
    duplicates: str = "skip"

    def lines(self) -> list[str]:
        out = [f"imported {len(self.imported)} item(s), skipped {len(self.skipped)} ({self.format})"]
        if self.updated or self.unchanged:
            out.append(f"already in the bank: {len(self.updated)} updated, {len(self.unchanged)} left as they were")
        out += [f"  + #{qid} {name}" for qid, name in self.imported]
        out += [f"  ~ #{qid} {name}" for qid, name in self.updated]
        out += [f"  = {where}: #{qid} {name}" for where, qid, name in self.unchanged]
        out += [f"  - {s.where}: {s.reason}" for s in self.skipped]
        return out

    def as_dict(self) -> dict:
        return {"format": self.format, "duplicates": self.duplicates,
                "imported": [list(r) for r in self.imported], "updated": [list(r) for r in self.updated],
                "unchanged": [list(r) for r in self.unchanged],
                "skipped": [[s.where, s.reason] for s in self.skipped]}

    @classmethod
    def from_dict(cls, data: dict) -> "BankImport":
        return cls(format=data.get("format", ""), duplicates=data.get("duplicates", "skip"),
                   imported=[tuple(r) for r in data.get("imported", [])],
                   updated=[tuple(r) for r in data.get("updated", [])],
                   unchanged=[tuple(r) for r in data.get("unchanged", [])],
                   skipped=[Skipped(where=w, reason=r) for w, r in data.get("skipped", [])])


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


_CONTENT = ("qtype", "name", "stem_html", "points", "choices", "blanks", "correct", "shuffle", "tags",
            "general_feedback_html", "upload_extensions", "upload_max_bytes", "category_id")


def _row(item: Item, course: Course, category_id: int | None, source: str) -> Question:
    return fill_question(Question(course_id=course.id, source=source[:300]), item, category_id)


def _media(session: Session, question_id: int, item: Item) -> None:
    for m in item.media:  # validate() let only raster images through; the type is the bytes'
        session.add(QuestionMedia(question_id=question_id, name=m.name[:255], mime=sniff_image(m.data) or m.mime[:100],
                                  sha256=hashlib.sha256(m.data).hexdigest(), data=m.data))


class _Bank:
    """The course's items as an import finds them: by Moodle ID number and by content."""

    def __init__(self, session: Session, course: Course):
        self.by_idnumber: dict[str, Question] = {}
        self.by_content: dict[str, Question] = {}
        for q in session.scalars(select(Question).where(Question.course_id == course.id,
                                                        Question.archived.is_(False)).order_by(Question.id)):
            self.add(q)

    def add(self, q: Question) -> None:
        if q.idnumber:
            self.by_idnumber.setdefault(q.idnumber, q)
        self.by_content.setdefault(fingerprint(_item(q, None, {})), q)

    def find(self, item: Item) -> Question | None:
        found = self.by_idnumber.get(item.idnumber) if item.idnumber else None
        return found or self.by_content.get(fingerprint(item))


def _update(session: Session, q: Question, item: Item, category_id: int | None, source: str,
            actor: str) -> Question | None:
    """Replace a bank item's content with the file's; None when nothing differs. Like an edit
    in the editor, an item candidates were already given gets a new version."""
    from bridge.services.exams import bank_items

    fresh = fill_question(Question(), item, category_id)
    if all(getattr(fresh, k) == getattr(q, k) for k in _CONTENT):
        return None
    previous = None
    if bank_items._sat(session, q):
        previous, q = q, bank_items._new_version(session, q)
    fill_question(q, item, category_id)
    q.source, q.version = source[:300], (q.version or 0) + 1
    if item.media:
        for old in session.scalars(select(QuestionMedia).where(QuestionMedia.question_id == q.id)):
            session.delete(old)
        session.flush()
        _media(session, q.id, item)
    session.flush()
    detail = {"qtype": q.qtype, "version": q.version, "from": "import"}
    if previous is not None:
        detail["replaces"] = previous.id
    audit.record(session, "bank.edit", actor=actor, target=f"question:{q.id}", detail=detail)
    return q


def import_file(session: Session, course: Course, data: bytes, *, filename: str, fmt: str | None = None,
                actor: str, duplicates: str = "skip") -> BankImport:
    """Parse and store. A refused file raises Invalid and stores nothing; the caller's
    transaction makes the items that passed land together. An item already in the bank
    (the same Moodle ID number, or the same type, name, text and answers) is not added
    again: ``duplicates`` "skip" leaves the bank's item as it is, "update" replaces its
    content with the file's."""
    if duplicates not in DUPLICATES:
        raise Invalid("Say what to do with items already in the bank: skip or update.")
    fmt = fmt or guess_format(filename, data)
    report = parse(data, fmt)
    result = BankImport(format=fmt, imported=[], skipped=list(report.skipped), duplicates=duplicates)
    cache: dict = {}
    known = _Bank(session, course)
    for item in report.items:
        reason = validate(item)
        if reason:
            result.skipped.append(Skipped(where=item.source or item.name, reason=reason))
            continue
        category_id = _category(session, course, item.category, cache)
        source = f"{filename}: {item.source}"
        match = known.find(item)
        if match is not None:
            saved = _update(session, match, item, category_id, source, actor) if duplicates == "update" else None
            if saved is None:
                result.unchanged.append((item.source or item.name, match.id, match.name))
            else:
                result.updated.append((saved.id, saved.name))
                known.add(saved)
            continue
        q = _row(item, course, category_id, source)
        session.add(q)
        session.flush()
        _media(session, q.id, item)
        result.imported.append((q.id, q.name))
        known.add(q)
    session.flush()
    audit.record(session, "bank.import", actor=actor, target=f"course:{course.id}",
                 detail={"file": filename[:200], "format": fmt, "imported": len(result.imported),
                         "updated": len(result.updated), "unchanged": len(result.unchanged),
                         "skipped": len(result.skipped), "duplicates": duplicates})
    return result


def keep_report(session: Session, course: Course, result: BankImport, *, filename: str,
                user_id: int | None) -> BankImportRecord:
    """Store an import's report, so the page after the import (and a reload of it) shows it."""
    row = BankImportRecord(course_id=course.id, user_id=user_id, filename=filename[:255], format=result.format,
                           duplicates=result.duplicates, report=result.as_dict())
    session.add(row)
    session.flush()
    return row


def get_report(session: Session, course_id: int, report_id: int) -> tuple[BankImportRecord, BankImport]:
    from bridge.errors import NotFound

    row = session.get(BankImportRecord, report_id)
    if row is None or row.course_id != course_id:
        raise NotFound("That import report does not exist.")
    return row, BankImport.from_dict(row.report)


def _item(q: Question, session: Session | None, paths: dict[int, tuple[str, ...]]) -> Item:
    media = () if session is None else tuple(Media(name=m.name, mime=m.mime, data=m.data) for m in session.scalars(
        select(QuestionMedia).where(QuestionMedia.question_id == q.id)))
    return Item(qtype=q.qtype, name=q.name, stem_html=q.stem_html, points=q.points,
                choices=tuple(Choice(text_html=c["html"], fraction=c["fraction"], feedback_html=c.get("feedback", ""))
                              for c in q.choices),
                blanks=tuple(Blank(accepted=tuple(b["accepted"]), case_sensitive=b["case_sensitive"],
                                   ignore_spaces=b["ignore_spaces"]) for b in q.blanks),
                correct=q.correct, shuffle=q.shuffle, category=paths.get(q.category_id, ()), tags=tuple(q.tags),
                general_feedback_html=q.general_feedback_html, upload_extensions=tuple(q.upload_extensions),
                upload_max_bytes=q.upload_max_bytes, media=media, idnumber=q.idnumber or "")


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
