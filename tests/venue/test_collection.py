"""V10: the site's results collection. Per room, session and subject: candidates, present,
absent, collected, not collected. Before anything comes in, the present are not collected;
the room's exported results file (the console's backup) collects them; a file damaged, of
another site or not of this bridge is refused and changes nothing; a room uploaded online
is collected online; the page shows the table and imports the file over HTTP."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bridge.errors import Invalid, NotFound
from bridge.services import signing
from bridge.services.delivery import attempts
from bridge.services.proctoring import console, incidents, room_records
from bridge.services.venue import collection, venues
from tests.console.test_console import started
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser
from tests.venue.readiness_world import at, ready_room, session_row

pytestmark = pytest.mark.req("V10")
PASSWORD = "correct horse battery"


@pytest.fixture
def ended(app, db_session):
    """A room of three: two sat and submitted, one absent; the exam ended; its results file."""
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=20), candidates=3)
    first, second, third = w.candidates
    a, b = started(w, w.sitting_id, first, second)
    at(w, session_row(w).starts_at + dt.timedelta(minutes=31))
    incidents.register_absent(w.s, w.sitting_id, [third.id])
    attempts.submit(w.s, a, reason="candidate")
    attempts.submit(w.s, b, reason="candidate")
    console.end_exam(w.s, w.sitting_id)
    w.file = room_records.results_backup(w.s, w.sitting_id, secret_key=w.secret)
    w.s.commit()
    return w


def _row(w):
    [row] = collection.table(w.s, w.site.id)
    return row


def test_a_rooms_file_collects_its_results_and_a_bad_file_changes_nothing(ended):
    w = ended
    before = _row(w)
    assert (before.candidates, before.present, before.absent, before.collected, before.not_collected, before.how) \
        == (3, 2, 1, 0, 2, "")
    assert before.subject == w.exam.title and before.room_code == "R01"
    document = signing.loads(w.file)
    damaged = json.loads(json.dumps(document))
    damaged["payload"]["totals"]["sat"] = 3
    other = venues.create_site(w.s, code="9999999", name="另一考点", actor="test")
    with pytest.raises(Invalid):
        collection.import_file(w.s, w.site.id, signing.dumps(damaged), secret_key=w.secret)
    with pytest.raises(Invalid):
        collection.import_file(w.s, other.id, w.file, secret_key=w.secret)     # another site's
    with pytest.raises(Invalid):
        collection.import_file(w.s, w.site.id, w.file, secret_key="not this bridge's secret")
    with pytest.raises(Invalid):
        collection.import_file(w.s, w.site.id, b"", secret_key=w.secret)
    forged = signing.dumps(signing.sign(w.secret, w.site.id, collection.KIND, {**document["payload"], "sitting_id": 999}))
    with pytest.raises(NotFound):
        collection.import_file(w.s, w.site.id, forged, secret_key=w.secret)
    assert _row(w).how == ""
    row = collection.import_file(w.s, w.site.id, w.file, secret_key=w.secret)
    assert (row.present, row.absent, row.collected, row.not_collected, row.how) == (2, 1, 2, 0, "file")
    assert collection.import_file(w.s, w.site.id, w.file, secret_key=w.secret).collected_at == row.collected_at


def test_a_room_uploaded_online_is_collected_online(ended):
    w = ended
    while not room_records.upload_step(w.s, w.sitting_id)["uploaded"]:
        pass
    row = _row(w)
    assert (row.collected, row.not_collected, row.how) == (2, 0, "online")


def test_the_page_shows_the_table_and_imports_the_file(app, ended):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    w = ended
    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password=PASSWORD, actor="test")
    with serve_wsgi(app) as srv:
        b = Browser()
        assert b.post(f"{srv.url}/admin/login", data={"username": "site", "password": PASSWORD}).ok
        page = b.get(f"{srv.url}/site/{w.site.id}/collection")
        assert page.status_code == 200 and 'class="not-collected">2<' in page.text
        refused = b.post(f"{srv.url}/site/{w.site.id}/collection", files={"file": ("x.json", b"{}")})
        assert refused.status_code == 422 and 'id="page-error"' in refused.text
        done = b.post(f"{srv.url}/site/{w.site.id}/collection", files={"file": ("room.json", w.file)})
        assert done.status_code == 200 and 'class="collected">2<' in done.text and 'class="not-collected">0<' in done.text


def test_an_older_results_file_never_replaces_a_newer_one(ended):
    w = ended
    at(w, session_row(w).starts_at + dt.timedelta(minutes=45))
    newer = room_records.results_backup(w.s, w.sitting_id, secret_key=w.secret)
    collection.import_file(w.s, w.site.id, newer, secret_key=w.secret)
    with pytest.raises(Invalid, match="older"):
        collection.import_file(w.s, w.site.id, w.file, secret_key=w.secret)
    assert w.s.get(collection.Sitting, w.sitting_id).collected_hash == signing.loads(newer)["sha256"]
