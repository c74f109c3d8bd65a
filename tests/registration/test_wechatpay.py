"""R5 through WeChat Pay's API v3: the sandbox speaks WeChat Pay's protocol (merchant-signed
requests, answers and notifications signed with its own key, notification content encrypted
under the APIv3 key) and wechatpayv3 signs, verifies and decrypts every exchange, over real
HTTP. Pay shows a QR code; scanning and paying notifies and marks the registration paid; a
forged (wrong key, altered body), wrongly encrypted, wrong-amount, foreign-merchant and
unknown notification changes nothing; the same notification twice is one payment; a lost
notification is found by "I have paid, refresh"."""
from __future__ import annotations

import json
import re

import pytest
import requests

from bridge.models.registration import PaymentOrder
from tests.registration.test_payments import _payments, _status, payable

pytestmark = pytest.mark.req("R5")


@pytest.fixture
def wechat(make_app):
    with payable(make_app, "wechatpay-sandbox") as world:
        yield world


def _scan_and_pay(base, b, ids, *, lose=False):
    """Pay shows the code; the "phone" opens it (the sandbox's scan page) and pays."""
    page = b.post(f"{base}/register/{ids['period']}/pay")
    assert page.status_code == 200 and 'id="pay-code"' in page.text and "data:image/svg+xml" in page.text
    code_url = re.search(r'<a href="([^"]+)" id="pay-code-link"', page.text).group(1).replace("&amp;", "&")
    assert code_url.startswith(f"{base}/sandbox/wechatpay/scan/")
    scan = requests.get(code_url, timeout=10)
    assert "160.00" in scan.text
    paid = requests.post(f"{code_url}/pay", data={"lose": "1"} if lose else {}, timeout=10)
    assert 'id="sandbox-paid"' in paid.text
    return code_url


def _order(app, ids):
    from bridge.extensions import db

    with app.app_context():
        db.session.remove()
        out_trade_no = db.session.query(PaymentOrder.out_trade_no).filter_by(registration_id=ids["registration"]).scalar()
    return app.extensions["exambridge.wechatpay_sandbox"][out_trade_no]


def _post(app, base, order, *, key_pem=None, apiv3_key=None, tamper=None, **override):
    from bridge.payments import wechatpay_sandbox as sandbox

    with app.test_request_context():
        body = sandbox.notification(order, apiv3_key=apiv3_key, **override)
        headers = sandbox.signed_headers(body, key_pem=key_pem)
    if tamper:
        body = tamper(body)
    return requests.post(f"{base}/register/payments/notify", data=body.encode(), timeout=10,
                         headers={"Content-Type": "application/json", **headers})


def test_scanning_and_paying_marks_the_registration_paid(wechat):
    app, base, b, ids = wechat
    _scan_and_pay(base, b, ids)
    assert _status(app, ids) == ("paid", ["paid", "paid"]) and _payments(app) == 1
    page = b.get(f"{base}/register/{ids['period']}")
    assert 'id="reg-state">Paid<' in page.text


def test_forged_foreign_and_wrong_notifications_change_nothing_and_a_repeat_is_one_payment(wechat):
    from bridge.payments.sandbox import _pem_pair

    app, base, b, ids = wechat
    _scan_and_pay(base, b, ids, lose=True)
    order = _order(app, ids)
    forger, _ = _pem_pair()
    cases = [
        _post(app, base, order, key_pem=forger),                                  # not WeChat Pay's signature
        _post(app, base, order, tamper=lambda body: body.replace('"resource_type"', ' "resource_type"')),
        _post(app, base, order, apiv3_key="0" * 32),                              # not under our APIv3 key
        _post(app, base, order, amount={"total": 1, "payer_total": 1, "currency": "CNY"}),
        _post(app, base, order, mchid="1900000999"),                              # another merchant's
        _post(app, base, order, out_trade_no="EB-NOT-OURS"),
    ]
    for answer in cases:
        assert answer.status_code == 400 and json.loads(answer.text)["code"] == "FAIL", answer.text
    assert _status(app, ids) == ("submitted", ["chosen", "chosen"]) and _payments(app) == 0
    for _ in range(2):                                                            # the same notification twice
        answer = _post(app, base, order)
        assert answer.status_code == 200 and json.loads(answer.text) == {"code": "SUCCESS"}
    assert _status(app, ids) == ("paid", ["paid", "paid"]) and _payments(app) == 1


def test_a_lost_notification_is_found_by_i_have_paid_refresh(wechat):
    app, base, b, ids = wechat
    b.post(f"{base}/register/{ids['period']}/pay/refresh")
    assert _status(app, ids)[0] == "submitted"                                   # nothing paid yet: nothing found
    _scan_and_pay(base, b, ids, lose=True)
    assert _status(app, ids)[0] == "submitted"
    page = b.post(f"{base}/register/{ids['period']}/pay/refresh")
    assert "Payment received" in page.text
    assert _status(app, ids) == ("paid", ["paid", "paid"]) and _payments(app) == 1
