"""One exam, one gradebook column (L5).

An exam writes to exactly one LMS line item, ``exam.lineitem_url``, and ``exam.lineitem_source``
says where it came from:

- ``activity``: the line item of an activity the exam is placed in. Moodle makes one for every
  placed activity (with "accept grades" on), and every launch from it names it in the AGS
  claim (``lineitem``). It wins over a column of the exam's own.
- ``created``: a column the tool made because the exam was placed nowhere (made on the course
  page and entered from there). When the exam is placed later, the activity's line item
  replaces it and the scores already delivered go again, there.
- ``chosen``: a teacher picked the column on the exam's gradebook page; nothing replaces it.

Services flush; callers commit. Listing the LMS's columns is a network call: callers make it
outside any write transaction.
"""
from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import Invalid
from bridge.models.exams import Exam
from bridge.services import audit
from lms_plugin.models import ResourceLink
from lms_plugin.services import ags, outbox
from lms_plugin.services import service_token as st

AUTO = "auto"
SOURCES = ("activity", "created", "chosen")


def switch(session: Session, exam: Exam, lineitem_url: str | None, source: str | None, *, actor: str) -> int:
    """Point the exam at another column (None: decide at the next delivery); the scores
    already delivered go again, to it. Returns how many are sent again."""
    old = exam.lineitem_url
    exam.lineitem_url, exam.lineitem_source = lineitem_url, source
    session.flush()
    resent = outbox.resend_latest(session, exam.id) if old and old != lineitem_url else 0
    audit.record(session, "gradebook.column", actor=actor, target=f"exam:{exam.id}",
                 detail={"from": old, "to": lineitem_url, "source": source, "resent": resent})
    return resent


def adopt_activity_lineitem(session: Session, exam: Exam, lineitem_url: str, *, actor: str) -> bool:
    """A launch from an activity the exam is placed in named the activity's line item: it
    becomes the exam's column unless the exam already writes to an activity's column or to
    one a teacher chose. True when the column changed."""
    if exam.lineitem_url == lineitem_url:
        if exam.lineitem_source is None:
            exam.lineitem_source = "activity"
        return False
    if exam.lineitem_url and exam.lineitem_source in ("activity", "chosen"):
        return False
    switch(session, exam, lineitem_url, "activity", actor=actor)
    return True


def claim_launch_activity(session: Session, exam: Exam, resource_link_pk: int | None, *, actor: str) -> str | None:
    """An exam made on the course page during a visit that came from a graded LMS activity
    (one with a gradebook column) which holds no exam yet becomes that activity's exam:
    students who open the activity land on it, and its scores go to the activity's column,
    never to a second one. An ungraded activity (a course-home link) stays a way into the
    course. Returns the activity's title when it did."""
    link = session.get(ResourceLink, resource_link_pk) if resource_link_pk else None
    if link is None or link.course_id != exam.course_id or link.exam_id is not None or not link.lineitem_url:
        return None
    link.exam_id = exam.id
    session.flush()
    adopt_activity_lineitem(session, exam, link.lineitem_url, actor=actor)
    audit.record(session, "exam.placed", actor=actor, target=f"exam:{exam.id}",
                 detail={"resource_link": link.resource_link_id, "from": "course page"})
    return link.title or link.resource_link_id


@dataclasses.dataclass(frozen=True)
class Column:
    item: ags.LineItem
    current: bool
    activities: tuple[str, ...]     # titles of the course's activities this is the line item of
    made_for_this_exam: bool        # a column the tool made for this exam
    other_exams: tuple[str, ...]    # titles of other exams that write to it


def list_columns(session: Session, exam: Exam) -> list[ags.LineItem]:
    """The course's gradebook columns, from the LMS (network)."""
    course = exam.course
    lineitems_url = ags.require_lineitems_url(course.ags_lineitems_url)
    creds = st.credentials(session, course.deployment.platform)
    return ags.list_lineitems(creds, lineitems_url, granted=course.ags_scopes or [])


def describe(session: Session, exam: Exam, items: list[ags.LineItem]) -> list[Column]:
    links = {link.resource_link_id: link for link in session.scalars(
        select(ResourceLink).where(ResourceLink.course_id == exam.course_id))}
    others = {}
    for other in session.scalars(select(Exam).where(Exam.course_id == exam.course_id, Exam.id != exam.id,
                                                    Exam.lineitem_url.is_not(None))):
        others.setdefault(other.lineitem_url, []).append(other.title)
    columns = []
    for item in items:
        link = links.get(item.resource_link_id)
        columns.append(Column(
            item=item, current=item.id == exam.lineitem_url,
            activities=(link.title or item.label,) if link else (),
            made_for_this_exam=item.tag == ags.TAG and item.resource_id == exam.public_id and not link,
            other_exams=tuple(others.get(item.id, ()))))
    return columns


def choose(session: Session, exam: Exam, choice: str, items: list[ags.LineItem], *, actor: str) -> int:
    """A teacher's choice on the gradebook page: one of ``items`` (the LMS's columns, just
    listed) by its id, or ``AUTO`` (the activity's column, else one of its own). Returns how
    many delivered scores go again."""
    choice = (choice or "").strip()
    if choice == AUTO:
        known = ags.activity_lineitem(session, exam)
        if known:
            url, source = known, "activity"
        else:
            found = ags.choose_lineitem(items, resource_id=exam.public_id, resource_link_ids=[
                link.resource_link_id for link in ags.resource_links_of(session, exam)])
            url, source = (found[0].id, found[1]) if found else (None, None)
        if url == exam.lineitem_url and source == exam.lineitem_source:
            return 0
        return switch(session, exam, url, source, actor=actor)
    if choice not in {item.id for item in items}:
        raise Invalid("Choose one of the listed gradebook columns.")
    taken = session.scalars(select(Exam.title).where(Exam.course_id == exam.course_id, Exam.id != exam.id,
                                                     Exam.lineitem_url == choice)).first()
    if taken is not None:
        raise Invalid("That column already receives the scores of “%(title)s”; one column takes the "
                      "scores of one exam.", params={"title": taken})
    if choice == exam.lineitem_url:
        exam.lineitem_source = "chosen"
        session.flush()
        return 0
    return switch(session, exam, choice, "chosen", actor=actor)


def removable(columns: list[Column]) -> list[Column]:
    """Columns the tool made for this exam that no longer receive its scores."""
    return [c for c in columns if c.made_for_this_exam and not c.current and not c.other_exams]


def remove_column(session: Session, exam: Exam, lineitem_url: str, items: list[ags.LineItem]) -> str:
    """Delete from the LMS a column the tool made for this exam earlier and no longer writes to
    (network; call it outside a write transaction, then ``record_removal``). Returns its label."""
    column = next((c for c in removable(describe(session, exam, items)) if c.item.id == lineitem_url), None)
    if column is None:
        raise Invalid("Only a column ExamBridge made for this exam, and that no longer receives its "
                      "scores, can be removed here.")
    course = exam.course
    ags.delete_lineitem(st.credentials(session, course.deployment.platform), lineitem_url,
                        granted=course.ags_scopes or [])
    return column.item.label


def record_removal(session: Session, exam: Exam, lineitem_url: str, *, actor: str) -> None:
    audit.record(session, "gradebook.column_removed", actor=actor, target=f"exam:{exam.id}",
                 detail={"lineitem": lineitem_url})
