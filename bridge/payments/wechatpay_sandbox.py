"""A sandbox that speaks WeChat Pay's API v3, for the demo and the tests (never in
production): its own keys (the merchant's RSA pair the bridge signs requests with, WeChat
Pay's RSA pair it signs answers and notifications with, and the APIv3 key notifications are
encrypted under), Native orders whose ``code_url`` is a page of its own standing in for the
phone that scans it (**Pay**, or **Pay, but lose the notification**), the notification
(signed, AES-256-GCM encrypted) to the order's ``notify_url``, and the signed answer to an
order query. The bridge talks to it with wechatpayv3 exactly as to WeChat Pay
(``bridge.payments.wechatpay``); the signatures here are written with ``cryptography``, so
the SDK's verification meets another signer. Orders live in the process (``app.extensions``)."""
from __future__ import annotations

import base64
import datetime as dt
import html
import json
import logging
import re
import secrets
import time
from pathlib import Path

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Blueprint, abort, current_app, request, url_for

from bridge.payments.sandbox import _pem_pair, key_file

log = logging.getLogger(__name__)

bp = Blueprint("wechatpay_sandbox", __name__)
URL_PREFIX = "/sandbox/wechatpay"  # where the app serves it: the SDK signs the path after the gateway
KEY_FILE = "wechatpay-sandbox-keys.json"
MCHID = "1900000109"
APPID = "wx8888888888888888"
MERCHANT_SERIAL_NO = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092025000000000000000000"
_AUTH = re.compile(r'(\w+)="([^"]*)"')


def keys(instance_path: str) -> dict:
    """The sandbox's keys, made once per instance folder."""
    def make() -> dict:
        merchant_private, merchant_public = _pem_pair()
        platform_private, platform_public = _pem_pair()
        return {"merchant_private": merchant_private, "merchant_public": merchant_public,
                "platform_private": platform_private, "platform_public": platform_public,
                "apiv3_key": secrets.token_hex(16)}

    return key_file(Path(instance_path) / KEY_FILE, make)


def _orders() -> dict:
    return current_app.extensions.setdefault("exambridge.wechatpay_sandbox", {})


def _sign(message: str, key_pem: str) -> str:
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def signed_headers(body: str, *, key_pem: str | None = None, serial: str = PUBLIC_KEY_ID) -> dict:
    """The Wechatpay-* headers that sign ``body`` with WeChat Pay's key (tests pass another
    key or serial to play a forger)."""
    stamp, nonce = str(int(time.time())), secrets.token_hex(16)
    key_pem = key_pem or keys(current_app.instance_path)["platform_private"]
    return {"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial,
            "Wechatpay-Signature": _sign(f"{stamp}\n{nonce}\n{body}\n", key_pem),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}


def _answer(data: dict, status: int = 200):
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return body, status, {"Content-Type": "application/json; charset=utf-8", **signed_headers(body)}


def _check_merchant() -> None:
    """The request is signed by the merchant (WECHATPAY2-SHA256-RSA2048 over method, path,
    timestamp, nonce and body), within five minutes."""
    scheme, _, params = request.headers.get("Authorization", "").partition(" ")
    fields = dict(_AUTH.findall(params))
    if scheme != "WECHATPAY2-SHA256-RSA2048" or fields.get("mchid") != MCHID \
            or fields.get("serial_no") != MERCHANT_SERIAL_NO or not fields.get("timestamp", "").isdigit() \
            or abs(time.time() - int(fields["timestamp"])) > 300:
        abort(401)
    path = request.full_path.rstrip("?")[len(request.script_root + URL_PREFIX):]
    message = f"{request.method}\n{path}\n{fields['timestamp']}\n{fields.get('nonce_str', '')}\n" \
              f"{request.get_data(as_text=True)}\n"
    key = serialization.load_pem_public_key(keys(current_app.instance_path)["merchant_public"].encode())
    try:
        key.verify(base64.b64decode(fields.get("signature", "")), message.encode(), padding.PKCS1v15(),
                   hashes.SHA256())
    except (InvalidSignature, ValueError):
        abort(401)


@bp.post("/v3/pay/transactions/native")
def native():
    _check_merchant()
    data = request.get_json(silent=True) or {}
    if data.get("mchid") != MCHID or data.get("appid") != APPID:
        return _answer({"code": "PARAM_ERROR", "message": "mchid or appid"}, 400)
    order = _orders().setdefault(data["out_trade_no"], {
        "out_trade_no": data["out_trade_no"], "total": data["amount"]["total"], "description": data["description"],
        "trade_state": "NOTPAY", "transaction_id": "", "token": secrets.token_urlsafe(12)})
    order["notify_url"] = data.get("notify_url", "")
    return _answer({"code_url": url_for("wechatpay_sandbox.scan", token=order["token"], _external=True)})


@bp.get("/v3/pay/transactions/out-trade-no/<out_trade_no>")
def query(out_trade_no: str):
    _check_merchant()
    order = _orders().get(out_trade_no)
    if order is None or request.args.get("mchid") != MCHID:
        return _answer({"code": "ORDER_NOT_EXIST", "message": "订单不存在"}, 404)
    return _answer(transaction(order))


def transaction(order: dict, **override) -> dict:
    """The order as WeChat Pay describes it (a query's answer, a notification's content)."""
    data = {"appid": APPID, "mchid": MCHID, "out_trade_no": order["out_trade_no"],
            "transaction_id": order["transaction_id"], "trade_type": "NATIVE", "trade_state": order["trade_state"],
            "trade_state_desc": "", "success_time": order.get("success_time", ""),
            "amount": {"total": order["total"], "payer_total": order["total"], "currency": "CNY",
                       "payer_currency": "CNY"}}
    data.update(override)
    return data


def notification(order: dict, *, apiv3_key: str | None = None, **override) -> str:
    """The body of a notification about ``order``: its content encrypted under the APIv3 key
    (tests pass another key, or ``override`` fields, to play a forged or foreign one)."""
    key = (apiv3_key or keys(current_app.instance_path)["apiv3_key"]).encode()
    nonce, associated = secrets.token_hex(6), "transaction"
    plain = json.dumps(transaction(order, **override), ensure_ascii=False).encode()
    ciphertext = base64.b64encode(AESGCM(key).encrypt(nonce.encode(), plain, associated.encode())).decode()
    return json.dumps({"id": secrets.token_hex(18), "create_time": dt.datetime.now().astimezone().isoformat(),
                       "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
                       "summary": "支付成功", "resource": {"original_type": "transaction",
                                                        "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                                                        "associated_data": associated, "nonce": nonce}})


def _order_by_token(token: str) -> dict:
    for order in _orders().values():
        if order["token"] == token:
            return order
    abort(404)


@bp.get("/scan/<token>")
def scan(token: str):
    """What the candidate's phone shows after scanning the code."""
    o = {k: html.escape(str(v)) for k, v in _order_by_token(token).items()}
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>沙箱微信支付 Sandbox WeChat Pay</title></head>
<body><main><h1>沙箱微信支付 · Sandbox WeChat Pay</h1>
<p>不会发生真实扣款。No money moves here.</p>
<p id="subject">{o['description']}</p><p>¥<strong id="amount">{int(o['total']) / 100:.2f}</strong></p>
<form method="post" action="{html.escape(url_for('wechatpay_sandbox.pay', token=token))}">
<button type="submit" id="sandbox-pay">支付 Pay</button>
<button type="submit" name="lose" value="1" id="sandbox-pay-lost">支付，但通知丢失 Pay, but lose the notification</button>
</form></main></body></html>"""


@bp.post("/scan/<token>/pay")
def pay(token: str):
    order = _order_by_token(token)
    if order["trade_state"] == "NOTPAY":
        order["trade_state"] = "SUCCESS"
        order["transaction_id"] = f"42000{dt.datetime.now():%Y%m%d}{secrets.randbelow(10**13):013d}"
        order["success_time"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    if request.form.get("lose") != "1" and order["notify_url"]:
        notify(order)
    return """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>支付成功 Paid</title></head>
<body><main><h1 id="sandbox-paid">支付成功 · Paid</h1><p>回到报名页面查看。Go back to the registration page.</p></main></body></html>"""


def notify(order: dict) -> None:
    body = notification(order)
    try:
        answer = requests.post(order["notify_url"], data=body.encode(), timeout=10,
                               headers={"Content-Type": "application/json", **signed_headers(body)})
        if answer.status_code != 200:
            log.warning("sandbox notification for %s answered %s", order["out_trade_no"], answer.status_code)
    except requests.RequestException as exc:
        log.warning("sandbox notification for %s not delivered: %s", order["out_trade_no"], exc)
