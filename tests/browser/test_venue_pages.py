"""The venue workflow's pages in Debian's chromium, in Chinese (V3, V4, V7): the environment
check with a failing seat re-tested, its HTML report, the sessions page and the door
seating chart, and the sealing check before and after its last condition holds.
Screenshots go to build/screenshots/."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bridge.services.venue import envchecks, exam_data, seats, stations
from tests.fixtures.servers import serve_wsgi
from tests.venue.readiness_world import announce, answer_env_checks, good_check, heartbeat, make_world, measured

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PASSWORD = "correct horse battery"


@pytest.mark.req("V3", "V4", "V7")
def test_environment_check_report_and_sealing_check_in_the_browser(app, db_session, chromium, tmp_path):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password=PASSWORD, actor="test")
    w = make_world(app, db_session, start_in=dt.timedelta(hours=3))
    kiosks = [announce(w, n, f"10.0.0.{n}") for n in (1, 2, 3)]
    seats.auto_scan(db_session, w.room.id, order="address", actor="user:1")
    envchecks.set_requirements(db_session, w.exam.id, {**envchecks.REQUIREMENTS, "min_memory_mb": "4096",
                                                       "required_software": "sh"})
    db_session.commit()
    SHOTS.mkdir(parents=True, exist_ok=True)
    site = f"/site/{w.site.id}"
    with serve_wsgi(app) as srv:
        page = chromium().new_page()
        page.goto(f"{srv.url}/admin/login")
        page.fill("#username", "site")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{srv.url}{site}/rooms/{w.room.id}/envcheck")
        page.click("header button:text('中文')")
        page.wait_for_selector("h1:text('环境检测')")
        assert page.locator(".empty").is_visible()
        page.select_option("#exam_id", str(w.exam.id))
        page.click("button[name=scope][value=all]")
        page.wait_for_selector("#env-waiting:text('3')")
        answer_env_checks(w, {kiosks[0]: good_check(tmp_path), kiosks[1]: measured(tmp_path, memory_mb=1024),
                              kiosks[2]: good_check(tmp_path)})
        page.wait_for_selector("#env-waiting:text('0')", timeout=15000)  # the page refreshes itself
        assert page.locator("#env-failed").inner_text() == "1"
        assert page.locator("tr[data-seat='2']").get_attribute("data-state") == "failed"
        page.screenshot(path=str(SHOTS / "envcheck-failed-seat.png"), full_page=True)
        page.click("#retest-failed")
        page.wait_for_selector("#env-waiting:text('1')")
        answer_env_checks(w, {kiosks[1]: good_check(tmp_path)})
        page.wait_for_selector("#env-passed:text('3')", timeout=15000)  # the page refreshes itself
        assert page.locator("#env-failed").inner_text() == "0"
        page.screenshot(path=str(SHOTS / "envcheck.png"), full_page=True)
        page.goto(f"{srv.url}{site}/rooms/{w.room.id}/envcheck/report.html?download=0")
        page.wait_for_selector("h1:text('环境检测报告')")
        assert page.locator("#report-passed").inner_text() == "3"
        page.screenshot(path=str(SHOTS / "envcheck-report.png"), full_page=True)

        sitting = exam_data.place(db_session, w.site.id, w.session_id, w.room.id, actor="user:1")
        exam_data.build(db_session, sitting.id, secret_key=w.secret, actor="user:1")
        exam_data.load(db_session, sitting.id, secret_key=w.secret, actor="user:1")
        code = stations.issue_code(db_session, w.room.id, secret_key=w.secret)
        stations.register(db_session, room_code="R01", code=code, address="10.0.0.200", secret_key=w.secret)
        heartbeat(w, kiosks)
        db_session.commit()
        page.goto(f"{srv.url}{site}/sessions")
        page.wait_for_selector(f"#loaded-{sitting.id} .ok")
        page.screenshot(path=str(SHOTS / "sessions.png"), full_page=True)
        page.goto(f"{srv.url}{site}/sittings/{sitting.id}/chart")
        page.wait_for_selector("#chart tbody tr")
        assert page.locator("#chart tbody tr").count() == 3
        page.screenshot(path=str(SHOTS / "door-seating-chart.png"), full_page=True)

        page.goto(f"{srv.url}{site}/sessions/{w.session_id}/sealing")
        page.click("#run-sealing")
        page.wait_for_selector("#sealing-result[data-passed=false]")
        failed = page.locator("li[data-ok=false]")
        assert failed.count() == 1 and failed.get_attribute("data-condition") == "authorization"
        page.screenshot(path=str(SHOTS / "sealing-check-not-ready.png"), full_page=True)
        page.goto(f"{srv.url}{site}/sessions")
        page.click(f"section[data-session='{w.session_id}'] form[action$='/authorize'] button")
        page.wait_for_selector(f"#authorized-{w.session_id}:text('✓')")
        page.goto(f"{srv.url}{site}/sessions/{w.session_id}/sealing")
        page.click("#run-sealing")
        page.wait_for_selector("#sealing-result[data-passed=true]")
        assert page.locator("li[data-ok=false]").count() == 0 and page.locator("li[data-ok=true]").count() == 6
        assert "封场检测" in page.title() and "正式考试" in page.title()
        page.screenshot(path=str(SHOTS / "sealing-check.png"), full_page=True)
