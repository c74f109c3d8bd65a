"""Chromium enforces the bridge's Content-Security-Policy (bridge/web/security_headers.py):
script that reaches a page without coming from the bridge's files does not run, and a site
that is not a registered LMS cannot frame the bridge (clickjacking), while the LMS can (L6).
This test drives its own browser: it provokes the violations the other browser tests fail on
(tests/browser/conftest.py)."""
from __future__ import annotations

import pytest

from tests.browser.conftest import CHROMIUM, FLAGS
from tests.fixtures.servers import serve_wsgi

TIMEOUT = 20_000


def _framing_page(target: str):
    body = f'<!doctype html><title>other site</title><iframe id="f" src="{target}"></iframe>'.encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
        return [body]

    return app


@pytest.mark.req("L6")
def test_chromium_runs_no_injected_script_and_no_foreign_frame(app, playwright_driver):
    from bridge.extensions import transaction
    from lms_plugin.services import platforms

    with serve_wsgi(app) as bridge, serve_wsgi(_framing_page(f"{bridge.url}/admin/login"), host="localhost") as lms, \
            serve_wsgi(_framing_page(f"{bridge.url}/admin/login")) as other:
        with app.app_context(), transaction() as s:
            platforms.add_platform(s, issuer=lms.url, client_id="c", deployment_ids=["d"],
                                   auth_login_url=f"{lms.url}/auth", auth_token_url=f"{lms.url}/token",
                                   jwks_url=f"{lms.url}/certs", name="LMS", actor="test")
        browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            messages: list[str] = []
            page.on("console", lambda msg: messages.append(msg.text))
            page.goto(f"{bridge.url}/admin/login")
            # markup that slipped into a page: an inline script and an inline handler
            page.evaluate("""() => {
                const s = document.createElement('script'); s.textContent = 'window.ranInline = true';
                document.body.appendChild(s);
                const b = document.createElement('button'); b.id = 'evil';
                b.setAttribute('onclick', 'window.ranHandler = true'); document.body.appendChild(b);
            }""")
            page.locator("#evil").click()
            assert page.evaluate("window.ranInline === undefined && window.ranHandler === undefined")
            assert sum("Content Security Policy" in m for m in messages) >= 2, messages
            assert page.evaluate("typeof window.exambridgeLocalTimes") == "function"  # the bridge's own files run

            page.goto(f"{lms.url}/")  # the registered LMS frames the bridge
            page.frame_locator("#f").locator("form").first.wait_for(timeout=TIMEOUT)
            messages.clear()
            page.goto(f"{other.url}/")  # another site may not
            page.wait_for_function("() => document.getElementById('f') !== null")
            page.wait_for_timeout(500)
            frame = page.frame_locator("#f")
            assert frame.locator("form").count() == 0
            assert any("frame-ancestors" in m for m in messages), messages
        finally:
            browser.close()


@pytest.mark.req("L3", "L6")
def test_a_placement_posts_itself_back_to_the_lms_from_its_iframe(lms_world, chromium):
    """The deep-linking answer is a form that posts itself (bridge/static/lti_autopost.js)
    from the LMS's iframe to the LMS: the policy's form-action names the platform."""
    from tests.fixtures.world import TEACHER

    page = chromium().new_page()
    page.goto(lms_world.lms.state.deep_link_url(TEACHER, lms_world.tool.client_id, container="iframe"))
    frame = page.frame_locator("#contentframe")
    frame.locator("#place-new").wait_for(timeout=TIMEOUT)
    frame.locator('input[name="title"]').fill("Placed under the policy")
    frame.locator('input[name="duration_minutes"]').fill("40")
    frame.locator("#place-new").click()
    for _ in range(100):
        if any(a.title == "Placed under the policy" for a in lms_world.lms.state.activities):
            break
        page.wait_for_timeout(100)
    assert [a.title for a in lms_world.lms.state.activities if a.title == "Placed under the policy"]


@pytest.mark.req("P8", "V9")
def test_a_form_that_asks_first_submits_only_when_confirmed(app, chromium):
    """bridge/static/forms.js replaces the inline ``onsubmit="return confirm(…)"``: a
    cancelled question sends nothing; a confirmed one sends the form, its flag field set."""
    with serve_wsgi(app) as bridge:
        page = chromium().new_page()
        page.goto(f"{bridge.url}/admin/login")
        page.evaluate("""() => {
            const f = document.createElement('form'); f.method = 'get'; f.action = '/healthz';
            f.dataset.confirm = 'Really?'; f.dataset.confirmField = 'confirmed';
            f.innerHTML = '<input type="hidden" name="confirmed" value="0"><button id="go">Go</button>';
            document.body.appendChild(f);
        }""")
        asked: list[str] = []
        answer = {"accept": False}

        def on_dialog(d):
            asked.append(d.message)
            d.accept() if answer["accept"] else d.dismiss()

        page.on("dialog", on_dialog)
        page.locator("#go").click()
        page.wait_for_timeout(300)
        assert asked == ["Really?"] and page.url == f"{bridge.url}/admin/login"
        answer["accept"] = True
        with page.expect_navigation(timeout=TIMEOUT):
            page.locator("#go").click()
        assert page.url == f"{bridge.url}/healthz?confirmed=1"
