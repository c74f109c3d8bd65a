"""Helpers of the score outbox's tests (tests/lti/test_outbox*.py): publish a score, read an
exam's outbox rows afresh, move the clock. Their course is the ``setup`` fixture
(tests/lti/conftest.py).
"""
from __future__ import annotations

from bridge import clock
from lms_plugin.models import ScoreOutbox
from lms_plugin.services import outbox


def advance(seconds: float) -> None:
    clock.set_offset(clock.offset() + seconds)


def publish(db_session, exam, user, score, **kw):
    row = outbox.publish_score(db_session, exam, user.id, score_given=score, actor="user:1", **kw)
    db_session.commit()
    return row


def rows(db_session, exam) -> list[ScoreOutbox]:
    db_session.commit()  # end the read snapshot: other sessions wrote meanwhile
    return outbox.for_exam(db_session, exam.id)
