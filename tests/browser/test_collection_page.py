"""The site admin collects a room's results from its file in Debian's chromium (zh_CN): the
table shows the present not yet collected, the file is imported, the row shows them
collected from the file. Watched: no error page, no error in the log, no English text."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.journey_checks import Watch
from tests.fixtures.servers import serve_wsgi
from tests.venue.test_collection import PASSWORD, ended  # noqa: F401  (a fixture)

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
TIMEOUT = 20_000


@pytest.mark.req("V10")
def test_the_site_admin_collects_a_rooms_results_from_its_file(app, ended, chromium, tmp_path):  # noqa: F811
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    w = ended
    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password=PASSWORD, actor="test")
    results = tmp_path / "room-results-R01.json"
    results.write_bytes(w.file)
    SHOTS.mkdir(parents=True, exist_ok=True)
    watch = Watch(user_text={"Final", "R01", "第一场", "第一考点"})
    try:
        with serve_wsgi(app) as srv:
            page = watch.watch(chromium(locale="zh-CN")).new_page()
            page.goto(f"{srv.url}/admin/login")
            page.fill("#username", "site")
            page.fill("#password", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_load_state()
            page.goto(f"{srv.url}/site/{w.site.id}/collection")
            row = page.locator("#collection tbody tr").first
            row.wait_for(timeout=TIMEOUT)
            assert row.locator(".not-collected").inner_text() == "2"
            watch.look_for_english(page, "collection")
            page.set_input_files("#import-results input[type=file]", str(results))
            page.click("#import-results button[type=submit]")
            page.locator(".flash").first.wait_for(timeout=TIMEOUT)
            row = page.locator("#collection tbody tr").first
            assert (row.locator(".collected").inner_text(), row.locator(".not-collected").inner_text()) == ("2", "0")
            assert "文件回收" in row.locator(".how").inner_text()
            watch.look_for_english(page, "collected")
            page.screenshot(path=str(SHOTS / "site-results-collection-zh_CN.png"), full_page=True)
        watch.assert_clean()
    finally:
        watch.stop()
