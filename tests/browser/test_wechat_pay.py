"""Paying a registration through WeChat Pay in Debian's chromium (zh_CN): **Pay** shows the
code; the code, read back from the page's pixels, opens the sandbox's "phone" page, which
pays but loses the notification; "I have paid, refresh" finds the payment and the
registration shows paid. The walk is watched (journey_checks.Watch): no error page, no
error in the server's log, no untranslated text."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.journey_checks import Watch
from tests.registration.test_payments import PASSWORD, payable

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
TIMEOUT = 20_000
pytestmark = pytest.mark.timeout(120)


@pytest.mark.req("R5")
def test_a_candidate_pays_by_scanning_the_wechat_code(make_app, chromium):
    import cv2
    import numpy as np

    SHOTS.mkdir(parents=True, exist_ok=True)
    watch = Watch(user_text={"Li Hua", "li@example.com", "Spring", "Site A", "A01", "Final"})
    try:
        with payable(make_app, "wechatpay-sandbox") as (app, base, _b, ids):
            page = watch.watch(chromium(locale="zh-CN")).new_page()
            page.goto(f"{base}/register/sign-in")
            page.fill("#email", "li@example.com")
            page.fill("#password", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_url(lambda url: "sign-in" not in url)
            page.goto(f"{base}/register/{ids['period']}")
            page.click("#pay")
            code = page.locator("#pay-code")
            code.wait_for(timeout=TIMEOUT)
            watch.look_for_english(page, "pay by scanning")
            page.screenshot(path=str(SHOTS / "registration-wechat-code-zh_CN.png"), full_page=True)
            pixels = cv2.imdecode(np.frombuffer(code.screenshot(), np.uint8), cv2.IMREAD_COLOR)
            pixels = cv2.copyMakeBorder(pixels, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            detectors = [cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()] \
                if hasattr(cv2, "QRCodeDetectorAruco") else [cv2.QRCodeDetector()]
            scanned = next((t for t in (d.detectAndDecode(pixels)[0] for d in detectors) if t), "")
            assert scanned == page.locator("#pay-code-link").get_attribute("href"), scanned

            phone = watch.watch(chromium(locale="zh-CN")).new_page()
            phone.goto(scanned)
            assert phone.locator("#amount").inner_text() == "160.00"
            phone.click("#sandbox-pay-lost")                     # paid; the notification never arrives
            phone.locator("#sandbox-paid").wait_for(timeout=TIMEOUT)

            page.click("#refresh-payment")
            page.locator("#reg-state").wait_for(timeout=TIMEOUT)
            assert page.locator("#reg-state").inner_text() == "已缴费"
            page.screenshot(path=str(SHOTS / "registration-wechat-paid-zh_CN.png"), full_page=True)
        watch.assert_clean()
    finally:
        watch.stop()
