"""A site places a session in a room: a session already under way with a submitted attempt
is placed only after a warning and an explicit confirmation (V4)."""
from __future__ import annotations

import datetime as dt

import pytest

from bridge.models.sittings import Sitting
from bridge.services.delivery import attempts
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser
from tests.venue.readiness_world import make_world

PASSWORD = "correct horse battery"


@pytest.mark.req("V4")
def test_placing_a_started_session_warns_and_asks_for_a_confirmation(app, db_session):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password=PASSWORD, actor="test")
    w = make_world(app, db_session, start_in=dt.timedelta(minutes=-10), candidates=2)
    a = attempts.log_in(db_session, w.exam, w.candidates[0].id)
    attempts.read_rules(db_session, a)
    attempts.start(db_session, a, seed=1)
    attempts.submit(db_session, a, reason="candidate")
    db_session.commit()
    with serve_wsgi(app) as srv:
        b = Browser()
        assert b.post(f"{srv.url}/admin/login", data={"username": "site", "password": PASSWORD}).ok
        url = f"{srv.url}/site/{w.site.id}/sessions"
        warned = b.post(url, data={"session_id": w.session_id, "room_id": w.room.id})
        assert warned.status_code == 409 and "have submitted" in warned.text and 'id="confirm-place"' in warned.text
        assert 'name="confirm_started" value="1" required' in warned.text
        assert db_session.query(Sitting).count() == 0
        placed = b.post(url, data={"session_id": w.session_id, "room_id": w.room.id, "confirm_started": "1"})
        assert placed.status_code == 200 and "data-sitting" in placed.text
        db_session.expire_all()
        assert db_session.query(Sitting).count() == 1
