"""L6 in a real browser: the sandbox LMS (http://localhost) embeds the bridge
(http://127.0.0.1) in an iframe, so every bridge cookie is third-party. The launch works
inside the iframe (Secure; SameSite=None; Partitioned cookies), also with third-party
cookies blocked, and in a new window; where the browser keeps no cookie in the frame, the
tool offers to continue in a new window and the launch completes there.

Chromium keeps partitioned cookies even with third-party cookies blocked (that is CHIPS'
point), so the no-cookie case is forced by removing the cookies from the response."""
from __future__ import annotations

import pytest

from tests.fixtures.world import STUDENT1, TEACHER

TIMEOUT = 20_000


def _frame_text(page) -> str:
    frame = page.frame_locator("#contentframe")
    frame.locator("main").wait_for(timeout=TIMEOUT)
    return frame.locator("main").inner_text(timeout=TIMEOUT)


@pytest.mark.req("L6", "L1")
@pytest.mark.parametrize("blocked", [False, True], ids=["third-party-cookies-allowed", "third-party-cookies-blocked"])
def test_launch_inside_the_lms_iframe(lms_world, chromium, blocked):
    activity = lms_world.add_activity("Embedded exam")
    ctx = chromium(block_third_party_cookies=blocked)
    page = ctx.new_page()
    page.goto(lms_world.lms.state.launch_url(TEACHER, activity.id, container="iframe"))
    frame = page.frame_locator("#contentframe")
    frame.get_by_text("Hello, Tess Teacher").wait_for(timeout=TIMEOUT)
    # The session survives a second request inside the frame (the cookie was kept).
    frame.locator("input#title").fill("Embedded midterm")
    frame.locator("input#duration_minutes").fill("40")
    frame.get_by_role("button", name="Create exam").click()
    frame.get_by_role("link", name="Embedded midterm").wait_for(timeout=TIMEOUT)


@pytest.mark.req("L6")
def test_launch_in_a_new_window(lms_world, chromium):
    activity = lms_world.add_activity("Windowed exam")
    page = chromium().new_page()
    page.goto(lms_world.lms.state.launch_url(STUDENT1, activity.id, container="window"))
    page.get_by_text("Hello, Sam Student").wait_for(timeout=TIMEOUT)
    assert page.url.startswith(lms_world.bridge + "/course/")


@pytest.mark.req("L6")
def test_cookie_check_page_offers_a_new_window(lms_world, chromium):
    """The fallback itself, forced: inside the LMS frame the bridge's page sees no cookie
    (as under a browser that stores none there); the page offers a new window, and the
    single-use ticket carries the login there, where the launch completes."""
    activity = lms_world.add_activity("Forced fallback")
    ctx = chromium()
    ctx.add_init_script(f"""
      if (window.top !== window.self && location.origin === {lms_world.bridge!r}) {{
        Object.defineProperty(Document.prototype, 'cookie', {{get() {{ return ''; }}, set(v) {{}}}});
      }}""")
    page = ctx.new_page()
    page.goto(lms_world.lms.state.launch_url(TEACHER, activity.id, container="iframe"))
    frame = page.frame_locator("#contentframe")
    button = frame.get_by_role("link", name="Continue in a new window")
    button.wait_for(timeout=TIMEOUT)
    href = button.get_attribute("href")
    with ctx.expect_page() as popup_info:
        button.click()
    popup = popup_info.value
    popup.get_by_text("Hello, Tess Teacher").wait_for(timeout=TIMEOUT)
    assert popup.url.startswith(lms_world.bridge + "/course/")
    # The ticket is single use.
    again = ctx.new_page()
    again.goto(lms_world.bridge + href)
    assert "launch_ticket_invalid" in again.content()
