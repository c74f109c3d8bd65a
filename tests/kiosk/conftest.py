"""Fixtures of the kiosk hub's tests (test_hub*.py, test_resume_fence_hub.py): the app served
on a port-0 socket (``live``), a room and its enrolment code (``room``), and the protocol-level
kiosk clients a test opened, closed after it (``clients``). The helpers that take them are in
tests/kiosk/hub_helpers.py.
"""
from __future__ import annotations

import pytest

from bridge.bench.kiosk_client import KioskClient
from bridge.hub import stop_hub
from bridge.services.kiosks import devices
from tests.fixtures.servers import serve_wsgi


@pytest.fixture
def live(app):
    """The app served on 127.0.0.1:0 (threaded), its writer and hub stopped afterwards."""
    from bridge.runtime.writer import stop_writer

    with serve_wsgi(app) as server:
        server.ws_url = server.url.replace("http://", "ws://") + "/ws/kiosk"
        yield server
    stop_hub(app)
    stop_writer(app)


@pytest.fixture
def room(app, db_session):
    info, code = devices.create_room(db_session, code="R101", name="Room 101", secret_key=app.config["SECRET_KEY"])
    db_session.commit()
    return info, code


@pytest.fixture
def clients():
    made: list[KioskClient] = []
    yield made
    for c in made:
        c.close()
