"""Delivery fixtures: the app's group writer (stopped after the test), a sitting with one
item of each type, and the clock put back after tests that move it. For the answer-pack
tests (test_pack_import*.py): the bridge's pack key, the device key of a registered kiosk that
carried the attempt, and a kiosk journal on disk (their helpers: pack_helpers.py)."""
from __future__ import annotations

import pytest

from bridge import clock
from bridge.services.delivery import forwarding, pack_keys
from kiosk_agent.answer_pack import generate_device_key, public_key_b64
from kiosk_agent.journal import Journal
from tests.delivery import factories
from tests.delivery.pack_helpers import add_kiosk, app_secret


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


@pytest.fixture
def bridge_key(db_session):
    key = pack_keys.public_key_b64(db_session, app_secret())
    db_session.commit()
    return key


@pytest.fixture
def device(db_session, attempt_id):
    """The key of a registered kiosk that carried the attempt (it forwarded events for it)."""
    key = generate_device_key()
    kiosk_id = add_kiosk(db_session, public_key_b64(key))
    forwarding.bind_forward(db_session, attempt_id, 1, kiosk_id)
    db_session.commit()
    return key


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "journal")
