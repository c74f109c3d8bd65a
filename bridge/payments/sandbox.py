"""A sandbox payment gateway that speaks Alipay's protocol, for the demo and the tests (never
in production): its own RSA key pairs (the "app" pair the bridge signs with, the "Alipay" pair
it verifies), the page-pay cashier where a candidate presses **Pay** (no money moves), a
signed asynchronous notification to the order's ``notify_url``, a signed return to its
``return_url``, and the signed answer to ``alipay.trade.query``. The bridge talks to it with
python-alipay-sdk exactly as to Alipay (``bridge.payments.alipay``).

Trades live in the process (``app.extensions``): the sandbox is one process's demo, not a
bank. **Pay, but lose the notification** pays without notifying, as a lost notification
would, so "I have paid, refresh" can be tried."""
from __future__ import annotations

import base64
import datetime as dt
import html
import json
import logging
import secrets
import threading
from pathlib import Path
from urllib.parse import urlencode

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Blueprint, abort, current_app, redirect, request

log = logging.getLogger(__name__)

bp = Blueprint("payment_sandbox", __name__)
KEY_FILE = "payment-sandbox-keys.json"
APP_ID = "2021000000000001"  # the sandbox's app id, in Alipay's format
_LOCK = threading.Lock()


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def key_file(path: Path, make) -> dict:
    """The keys kept (0600) in ``path``, made by ``make()`` the first time (the sandboxes'
    keys, once per instance folder)."""
    with _LOCK:
        if not path.exists():
            tmp = path.with_suffix(".part")
            tmp.write_text(json.dumps(make()))
            tmp.chmod(0o600)
            tmp.replace(path)
        return json.loads(path.read_text())


def keys(instance_path: str) -> dict:
    """The sandbox's key pairs, made once per instance folder."""
    def make() -> dict:
        app_private, app_public = _pem_pair()
        alipay_private, alipay_public = _pem_pair()
        return {"app_private": app_private, "app_public": app_public,
                "alipay_private": alipay_private, "alipay_public": alipay_public}

    return key_file(Path(instance_path) / KEY_FILE, make)


def _signed_by_app(data: dict, signature: str) -> bool:
    """Whether the app signed these request parameters: a request's signature covers every
    parameter but ``sign`` (``sign_type`` included), sorted, as ``k=v`` joined by ``&``."""
    key = serialization.load_pem_public_key(keys(current_app.instance_path)["app_public"].encode())
    text = "&".join(f"{k}={v}" for k, v in sorted(data.items()))
    try:
        key.verify(base64.b64decode(signature), text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _trades() -> dict:
    return current_app.extensions.setdefault("exambridge.payment_sandbox", {})


def _sign(text: str) -> str:
    """RSA2 (SHA256withRSA, PKCS#1 v1.5, base64) with the sandbox's "Alipay" key: written with
    ``cryptography`` rather than the SDK, so the SDK's verification meets another signer."""
    key = serialization.load_pem_private_key(keys(current_app.instance_path)["alipay_private"].encode(), None)
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _signed(data: dict) -> dict:
    return {**data, "sign": _sign("&".join(f"{k}={v}" for k, v in sorted(data.items()))), "sign_type": "RSA2"}


def _checked_request() -> dict:
    data = {k: v for k, v in request.values.items()}
    signature = data.pop("sign", "")
    if not signature or data.get("app_id") != APP_ID or not _signed_by_app(data, signature):
        abort(400, "the request is not signed by the app")
    return data


@bp.get("/gateway.do")
def gateway():
    data = _checked_request()
    biz = json.loads(data.get("biz_content") or "{}")
    if data.get("method") == "alipay.trade.page.pay":
        trade = _trades().setdefault(biz["out_trade_no"], {
            "out_trade_no": biz["out_trade_no"], "total_amount": biz["total_amount"], "subject": biz["subject"],
            "trade_status": "WAIT_BUYER_PAY", "trade_no": ""})
        trade.update(notify_url=data.get("notify_url", ""), return_url=data.get("return_url", ""))
        return _cashier(trade)
    if data.get("method") == "alipay.trade.query":
        trade = _trades().get(biz.get("out_trade_no", ""))
        if trade is None:
            body = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST",
                    "sub_msg": "交易不存在"}
        else:
            body = {"code": "10000", "msg": "Success", "out_trade_no": trade["out_trade_no"],
                    "trade_no": trade["trade_no"], "trade_status": trade["trade_status"],
                    "total_amount": trade["total_amount"]}
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        raw = f'{{"alipay_trade_query_response":{content},"sign":"{_sign(content)}"}}'
        return raw, 200, {"Content-Type": "application/json; charset=utf-8"}
    abort(400, "the sandbox knows alipay.trade.page.pay and alipay.trade.query")


def _cashier(trade: dict) -> str:
    t = {k: html.escape(str(v)) for k, v in trade.items()}
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>沙箱收银台 Sandbox cashier</title></head>
<body><main><h1>沙箱收银台 · Sandbox cashier</h1>
<p>不会发生真实扣款。No money moves here.</p>
<p id="subject">{t['subject']}</p><p>¥<strong id="amount">{t['total_amount']}</strong></p>
<form method="post" action="pay"><input type="hidden" name="out_trade_no" value="{t['out_trade_no']}">
<button type="submit" id="sandbox-pay">支付 Pay</button>
<button type="submit" name="lose" value="1" id="sandbox-pay-lost">支付，但通知丢失 Pay, but lose the notification</button>
</form></main></body></html>"""


@bp.post("/pay")
def pay():
    trade = _trades().get(request.form.get("out_trade_no", ""))
    if trade is None:
        abort(404)
    if trade["trade_status"] == "WAIT_BUYER_PAY":
        trade["trade_status"] = "TRADE_SUCCESS"
        trade["trade_no"] = f"{dt.datetime.now():%Y%m%d}{secrets.randbelow(10**16):016d}"
        trade["gmt_payment"] = f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}"
    if request.form.get("lose") != "1" and trade["notify_url"]:
        notify(trade)
    back = _signed({"app_id": APP_ID, "out_trade_no": trade["out_trade_no"], "trade_no": trade["trade_no"],
                            "total_amount": trade["total_amount"], "method": "alipay.trade.page.pay.return",
                            "charset": "utf-8", "timestamp": trade["gmt_payment"]})
    return redirect(f"{trade['return_url']}?{urlencode(back)}")


def notification(trade: dict, **override) -> dict:
    """The signed form of an asynchronous notification about ``trade`` (tests change fields
    with ``override`` before signing, to play a forged or foreign one)."""
    data = {"notify_time": f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}", "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16), "app_id": APP_ID, "charset": "utf-8", "version": "1.0",
            "trade_no": trade["trade_no"], "out_trade_no": trade["out_trade_no"],
            "total_amount": trade["total_amount"], "trade_status": trade["trade_status"],
            "gmt_payment": trade.get("gmt_payment", ""), "subject": trade["subject"]}
    data.update(override)
    return _signed(data)


def notify(trade: dict) -> None:
    try:
        answer = requests.post(trade["notify_url"], data=notification(trade), timeout=10)
        if answer.text.strip() != "success":
            log.warning("sandbox notification for %s answered %s %r", trade["out_trade_no"], answer.status_code,
                        answer.text[:100])
    except requests.RequestException as exc:
        log.warning("sandbox notification for %s not delivered: %s", trade["out_trade_no"], exc)
