"""Debian's chromium driven by Playwright (never a downloaded browser). Under CI=true a
missing chromium fails the test (the `browser` marker makes a skip count as failure)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("EXAMBRIDGE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
         "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright_driver():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def chromium(playwright_driver, tmp_path):
    """``chromium(block_third_party_cookies=False, extra_args=(), locale="en-US")`` → a browser context with
    its own fresh profile; closed at teardown."""
    contexts = []

    def launch(*, block_third_party_cookies: bool = False, extra_args=(), locale: str = "en-US"):
        profile = tmp_path / f"profile{len(contexts)}"
        (profile / "Default").mkdir(parents=True)
        prefs = {"profile": {"cookie_controls_mode": 1 if block_third_party_cookies else 0,
                             "block_third_party_cookies": block_third_party_cookies}}
        (profile / "Default" / "Preferences").write_text(json.dumps(prefs))
        ctx = playwright_driver.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=[*FLAGS, *extra_args],
            locale=locale, viewport={"width": 1280, "height": 720})
        contexts.append(ctx)
        watch_csp(ctx, violations)
        return ctx

    violations: list[str] = []
    yield launch
    for ctx in contexts:
        ctx.close()
    assert not violations, f"the Content-Security-Policy refused something: {violations}"


def watch_csp(ctx, violations: list[str]) -> None:
    """Every page of the bridge runs under its CSP (bridge/web/security_headers.py): a
    browser test fails when Chromium reports that the policy refused anything."""
    def seen(msg):
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            violations.append(f"{msg.location.get('url', '')}: {msg.text}")

    ctx.on("console", seen)
