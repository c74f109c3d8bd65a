"""Fixtures of the LTI tests: the fake Moodle on a real socket (``moodle``) with the token
cache emptied around it (``fresh_tokens``), both defined in tests/lti/factories.py and offered
here to every module of the folder, and the score outbox's course (``setup``, for
test_outbox*.py).
"""
from __future__ import annotations

import pytest

from tests.lti import factories
from tests.lti.factories import candidate, make_course, make_exam, make_platform

# factories' fixtures, under the names pytest looks for (an import would read as unused)
fresh_tokens = factories.fresh_tokens
moodle = factories.moodle


@pytest.fixture
def setup(db_session, moodle):
    """A course on the fake Moodle with an exam (max 10) and two rostered candidates."""
    platform = make_platform(db_session, moodle.origin)
    course = make_course(db_session, platform)
    exam = make_exam(db_session, course, title="Midterm", score_maximum=10)  # placed nowhere
    sam, sue = candidate(db_session, course, "5", "Sam"), candidate(db_session, course, "6", "Sue")
    db_session.commit()
    return exam, sam, sue
