"""The seat page in Debian's chromium (V1, V2): a site admin signs in, sees the mode, scans
the announced kiosks, confirms a deletion; screenshots go to build/screenshots/."""
from __future__ import annotations

from pathlib import Path

import pytest

from bridge.services.kiosks import devices
from bridge.services.venue import seats, venues
from tests.fixtures.servers import serve_wsgi

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.mark.req("V1", "V2")
def test_the_seat_page_scans_kiosks_and_confirms_a_deletion(app, db_session, chromium):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password="correct horse battery", actor="test")
    site = venues.create_site(db_session, code="1450301", name="第一考点", mode="formal")
    room, code = venues.add_room(db_session, site.id, code="1450301001", name="第一考场", capacity=30,
                                 secret_key=app.config["SECRET_KEY"])
    seats.import_csv(db_session, room.id, "1,10.0.0.1,EXAM-01,讲台旁\n")
    for n, address in enumerate(["10.0.0.1", "10.0.0.7", "10.0.0.3"], start=1):
        devices.register_kiosk(db_session, room_code=room.code, code=code, public_key=f"{n:043d}", machine=f"m{n}",
                               hostname=f"EXAM-0{n}", address=address, secret_key=app.config["SECRET_KEY"])
    db_session.commit()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with serve_wsgi(app) as srv:
        ctx = chromium()
        page = ctx.new_page()
        page.goto(f"{srv.url}/admin/login")
        page.fill("#username", "site")
        page.fill("#password", "correct horse battery")
        page.click("button[type=submit]")
        page.goto(f"{srv.url}/site/{site.id}/rooms/{room.id}/seats")
        page.click("header button:text('中文')")  # the seeds' users read Chinese (the browser here is en-US)
        page.wait_for_selector("h1:text('机位管理')")
        assert page.locator(".mode-formal").first.is_visible()
        assert page.locator("#unassigned-count").inner_text() == "3"
        assert "正式考试" in page.title()  # the mode is in the title too
        page.select_option("#order", "address")
        page.click("#scan")
        page.wait_for_selector("#unassigned-count:text('0')")
        rows = page.locator("#seats tbody tr")
        assert rows.count() == 3
        assert [rows.nth(i).get_attribute("data-seat") for i in range(3)] == ["1", "2", "3"]
        assert "10.0.0.3" in rows.nth(1).inner_text() and "10.0.0.7" in rows.nth(2).inner_text()
        page.screenshot(path=str(SHOTS / "seat-page.png"), full_page=True)
        rows.nth(2).locator("a.danger").click()
        page.wait_for_selector("button.danger")
        assert "10.0.0.7" in page.content()
        page.screenshot(path=str(SHOTS / "seat-delete-confirm.png"))
        page.click("button.danger")
        page.wait_for_selector("#seat-count:text('2')")
        assert page.locator("#unassigned-count").inner_text() == "1"
