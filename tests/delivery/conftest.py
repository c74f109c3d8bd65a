"""Delivery fixtures: the app's group writer (stopped after the test), a sitting with one
item of each type, and the clock put back after tests that move it."""
from __future__ import annotations

import pytest

from bridge import clock
from tests.delivery import factories


@pytest.fixture
def writer(app):
    from bridge.runtime.writer import get_writer, stop_writer

    yield get_writer(app)
    stop_writer(app)


@pytest.fixture
def sitting(db_session):
    return factories.sitting(db_session)


@pytest.fixture
def attempt_id(db_session, sitting):
    return factories.attempt(db_session, sitting)[0]


@pytest.fixture
def clock_reset():
    before = clock.offset()
    yield clock
    clock.set_offset(before)
