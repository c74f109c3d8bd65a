"""The site console over real HTTP: sites, rooms, the seat page and its actions (V1, V2)."""
from __future__ import annotations

import re

import pytest

from bridge.services.kiosks import devices
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser


@pytest.fixture
def console(app):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password="correct horse battery", actor="test")
    with serve_wsgi(app) as srv:
        b = Browser()
        assert b.post(f"{srv.url}/admin/login", data={"username": "site", "password": "correct horse battery"}).ok
        yield b, srv.url


def site_id_of(response) -> str:
    return re.search(r"/site/([0-9a-f]{32})", response.url).group(1)


@pytest.mark.req("V1", "V2")
def test_a_site_admin_sets_up_a_site_a_room_and_its_seats(app, console, db_session):
    b, base = console
    empty = b.get(f"{base}/site/")
    assert empty.status_code == 200 and 'class="empty"' in empty.text
    made = b.post(f"{base}/site/", data={"code": "1450301", "name": "第一考点", "mode": "mock"})
    sid = site_id_of(made)
    assert 'data-mode="mock"' in made.text
    refused = b.post(f"{base}/site/", data={"code": "1450301", "name": "again", "mode": "formal"})
    assert refused.url == f"{base}/site/" and "exists already" in refused.text and 'value="again"' in refused.text
    room_page = b.post(f"{base}/site/{sid}/rooms", data={"code": "R1", "name": "一号考场", "capacity": "30"})
    enrolment = re.search(r"[0-9A-Z]{5}-[0-9A-Z]{5}", room_page.text).group(0)
    room_id = int(re.search(rf"/site/{sid}/rooms/(\d+)/seats", room_page.text).group(1))
    seats_url = f"{base}/site/{sid}/rooms/{room_id}/seats"
    for n, address in enumerate(["10.0.0.12", "10.0.0.3"], start=1):
        devices.register_kiosk(db_session, room_code="R1", code=enrolment, public_key=f"{n:043d}", machine=f"m{n}",
                               hostname=f"PC{n}", address=address, secret_key=app.config["SECRET_KEY"])
    db_session.commit()
    page = b.get(seats_url)
    assert 'data-mode="mock"' in page.text and 'id="unassigned-count">2<' in page.text
    scanned = b.post(f"{seats_url}/scan", data={"order": "address"})
    assert scanned.status_code == 200 and 'id="unassigned-count">0<' in scanned.text
    assert scanned.text.index("10.0.0.3") < scanned.text.index("10.0.0.12")  # numerically
    bad = b.post(f"{seats_url}/import", files={"file": ("plan.csv", "3,10.0.0.30,PC3,\nx,10.0.0.31,PC4,\n".encode())})
    assert bad.status_code == 422 and 'id="import-report"' in bad.text and "x" in bad.text
    good = b.post(f"{seats_url}/import", files={"file": ("plan.csv", "3,10.0.0.30,PC3,靠窗\n".encode())})
    assert good.status_code == 200 and 'id="seat-count">3<' in good.text
    exported = b.get(f"{base}/site/{sid}/rooms/{room_id}/seats.csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert exported.content.decode("utf-8").splitlines()[1:] == ["1,10.0.0.3,PC2,", "2,10.0.0.12,PC1,",
                                                                "3,10.0.0.30,PC3,靠窗"]
    seat_id = int(re.findall(rf"{seats_url[len(base):]}/(\d+)/delete", good.text)[-1])
    confirm = b.get(f"{seats_url}/{seat_id}/delete")
    assert confirm.status_code == 200 and 'method="post"' in confirm.text
    assert 'id="seat-count">2<' in b.post(f"{seats_url}/{seat_id}/delete").text


@pytest.mark.req("V1")
def test_the_console_is_for_administrators_and_unknown_things_are_404(app, console, make_app):
    b, base = console
    assert Browser().get(f"{base}/site/").status_code == 401
    assert b.get(f"{base}/site/{'0' * 32}").status_code == 404
    assert b.get(f"{base}/site/{'0' * 32}/rooms/5/seats").status_code == 404
