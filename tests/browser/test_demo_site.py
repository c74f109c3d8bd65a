"""``make run``'s demo in Debian's chromium, wired as ``exambridge demo`` wires it
(``bridge.demo.wire``: the sandbox LMS, the demo's admin, the demo site, the demo exam's
session and real kiosk agent processes): the site console, the seat page, the environment
check and the proctor console show the four kiosks live and seated, and the console lists
the demo session. The site pages' code fields carry patterns Chromium accepts (they are
compiled with the ``v`` flag). Screenshots go to build/screenshots/."""
from __future__ import annotations

from pathlib import Path

import pytest

from bridge import demo
from tests.fixtures.sandbox import run_sandbox_lms
from tests.fixtures.servers import bind_wsgi, serve_wsgi

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
pytestmark = pytest.mark.timeout(240)
BAD_PATTERN = "is not a valid regular expression"


def _check_pattern(page, selector: str, value: str) -> None:
    """Chromium compiles a ``pattern`` when it validates the field: type and validate."""
    page.fill(selector, value)
    assert page.eval_on_selector(selector, "el => el.checkValidity()")


@pytest.mark.req("V1", "V2", "V3", "P1", "K2")
def test_the_demo_site_shows_four_live_kiosks_seated_and_the_console_its_session(make_app, chromium):
    app = make_app(SANDBOX_ENABLED=True)
    server = bind_wsgi()
    server.app = app
    SHOTS.mkdir(parents=True, exist_ok=True)
    with run_sandbox_lms() as lms, serve_wsgi(app, server=server) as srv:
        w = demo.wire(app, lms.state, bridge_url=srv.url, lms_url=lms.url)
        try:
            w.settler.join(timeout=120)
            assert not w.settler.is_alive() and len(w.kiosks) == demo.DEMO_KIOSKS
            page = chromium().new_page()
            console_messages: list[str] = []
            page.on("console", lambda message: console_messages.append(message.text))
            page.goto(f"{srv.url}/admin/login")
            assert page.locator("#demo-admin").count() == 1
            page.fill("#username", w.admin_user)
            page.fill("#password", w.admin_password)
            page.click("button[type=submit]")
            page.wait_for_url("**/admin/platforms")

            # the site console: the demo site (mock) and its room with four kiosks, none without a seat
            page.goto(f"{srv.url}/site/")
            _check_pattern(page, "#code", "NEW-SITE_1")
            page.click(f"a:has-text('{demo.DEMO_SITE}')")
            page.wait_for_selector("h1 [data-mode=mock]")
            _check_pattern(page, "#room_code", "R-01_a")
            row = page.locator("tbody tr", has=page.locator(f"code:text-is('{demo.DEMO_ROOM}')"))
            cells = row.locator("td")
            assert [cells.nth(i).inner_text() for i in (3, 4, 5)] == ["4", "4", "0"]  # seats, kiosks, unassigned
            page.screenshot(path=str(SHOTS / "demo-site-console.png"), full_page=True)

            # the seat page: four seats, each with its kiosk, online
            row.locator(f"a:has-text('{demo.DEMO_ROOM}')").click()
            page.wait_for_selector("#seats")
            assert page.locator("#seat-count").inner_text() == "4"
            assert page.locator("#seats tbody tr [data-online='1']").count() == 4
            assert page.locator("#unassigned-count").inner_text() == "0"
            page.screenshot(path=str(SHOTS / "demo-site-seats.png"), full_page=True)

            # the environment check: the four exam PCs answer
            page.click("a:has-text('Environment check')")
            page.click("button[name=scope][value=all]")
            page.wait_for_selector("#env-waiting:text('0')", timeout=60000)
            assert page.locator("#env-results tbody tr").count() == 4

            # the proctor console lists the demo session; its board shows the seated candidates online
            page.goto(f"{srv.url}/console/")
            listed = page.locator("#sittings tbody tr", has=page.locator(f"td:text-is('{w.session_name}')"))
            assert listed.count() == 1 and demo.DEMO_EXAM in listed.inner_text()
            listed.locator("a").click()
            page.fill("#admin_name", "Ada Admin")
            page.fill("#admin_phone", "13800000000")
            page.fill("#proctor_name0", "Pat Proctor")
            page.fill("#proctor_phone0", "13900000000")
            page.click("main button[type=submit]")
            page.wait_for_selector("#live-status.ok")
            assert page.locator("#count-expected").inner_text() == "3"
            assert page.locator("#count-offline").inner_text() == "0"
            page.screenshot(path=str(SHOTS / "demo-proctor-console.png"), full_page=True)
            assert not [m for m in console_messages if BAD_PATTERN in m], console_messages
        finally:
            demo.stop_kiosks(w.kiosks)
