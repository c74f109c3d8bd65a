"""Editing a bank item that candidates were already given makes a new version: their
attempts keep (and are scored on) the version they saw; the bank and the paper move on."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.bank.model import Choice, Item
from bridge.bench.seed import make_attempt, make_sitting
from bridge.models.attempts import AnswerEvent, Attempt
from bridge.models.bank import Question, QuestionMedia
from bridge.models.papers import Paper, PaperItem
from bridge.models.users import Course
from bridge.services.delivery import scoring
from bridge.services.exams import bank_items

pytestmark = pytest.mark.req("C1", "C10")

SINGLE = [{"qtype": "single", "choices": [{"id": c, "html": c.upper(), "fraction": 1.0 if c == "a" else 0.0}
                                          for c in "ab"]}]


def edited(correct: str) -> Item:
    return Item(qtype="single", name="Capital", stem_html="<p>Which? <img src=\"@@PLUGINFILE@@/map.png\"></p>",
                choices=(Choice("A", 1.0 if correct == "a" else 0.0), Choice("B", 1.0 if correct == "b" else 0.0)))


@pytest.fixture
def sat(db_session):
    sitting = make_sitting(db_session, questions=SINGLE)
    qid = sitting.questions[0][0]
    db_session.add(QuestionMedia(question_id=qid, name="map.png", mime="image/png", sha256="0" * 64, data=b"png"))
    paper = Paper(exam_id=sitting.exam_id)
    db_session.add(paper)
    db_session.flush()
    db_session.add(PaperItem(paper_id=paper.id, question_id=qid, position=1, points=1.0))
    attempt = make_attempt(db_session, sitting, status="submitted")
    db_session.add(AnswerEvent(attempt_id=attempt.id, writer="tab", seq=1, question_id=qid,
                               response={"choice": "a"}, payload_hash="0" * 64, hash="1" * 64))
    db_session.commit()
    return sitting, qid, attempt.id, paper.id


def test_an_item_already_given_is_edited_as_a_new_version(db_session, sat):
    sitting, qid, attempt_id, paper_id = sat
    course = db_session.get(Course, sitting.course_id)
    old = db_session.get(Question, qid)
    new = bank_items.save_question(db_session, course, edited("b"), question=old, actor_id=1)
    db_session.commit()
    assert new.id != qid and new.version == old.version + 1 and old.archived and not new.archived
    assert db_session.get(Question, qid).choices[0]["fraction"] == 1.0  # the version candidates saw is unchanged
    assert new.choices[1]["fraction"] == 1.0
    assert db_session.scalar(select(PaperItem.question_id).where(PaperItem.paper_id == paper_id)) == new.id
    attempt = db_session.get(Attempt, attempt_id)
    assert [i["question_id"] for i in attempt.items] == [qid]
    assert db_session.scalar(select(QuestionMedia.data).where(QuestionMedia.question_id == new.id)) == b"png"
    # the attempt is scored on what it was given, and the bank lists only the new version
    assert scoring.score_attempt(db_session, attempt) == 1.0  # "a" was right in the version given
    assert [q.id for q in bank_items.list_questions(db_session, course.id)] == [new.id]


def test_an_item_nobody_was_given_is_edited_in_place(db_session):
    sitting = make_sitting(db_session, questions=SINGLE)
    db_session.commit()
    course = db_session.get(Course, sitting.course_id)
    old = db_session.get(Question, sitting.questions[0][0])
    version = old.version
    new = bank_items.save_question(db_session, course, edited("b"), question=old, actor_id=1)
    assert new.id == old.id and new.version == version + 1 and not new.archived
