"""WeChat Pay (微信支付) API v3 through wechatpayv3: Native pay (the candidate scans a QR code
with WeChat), the notification (signed by WeChat Pay, its content encrypted under the
merchant's APIv3 key), and the order query behind "I have paid, refresh". Requests are
signed with the merchant's key; answers and notifications are verified against WeChat
Pay's public key (the "微信支付公钥" mode: no platform certificates to download).

The same class talks to WeChat Pay or to the sandbox (``bridge.payments.wechatpay_sandbox``),
which speaks the same protocol with keys of its own, so the SDK's signing, verification and
decryption run in every test. The SDK has no setting for the gateway's address: the
sandbox's is set on its client (``_core._gate_way``), the one place this module reaches
inside the SDK."""
from __future__ import annotations

import json
import logging

from wechatpayv3 import WeChatPay, WeChatPayType

from bridge.payments.trades import CLOSED, PAID, WAITING, Checkout, Trade, yuan

log = logging.getLogger(__name__)

WECHATPAY_GATEWAY = "https://api.mch.weixin.qq.com"
#: WeChat Pay's trade states in the shared vocabulary (a refund is not a payment to count)
STATES = {"SUCCESS": PAID, "NOTPAY": WAITING, "USERPAYING": WAITING, "CLOSED": CLOSED, "REVOKED": CLOSED,
          "PAYERROR": CLOSED, "REFUND": "REFUND"}


class WechatPayProvider:
    name = "wechatpay"

    def __init__(self, *, mchid: str, appid: str, merchant_serial_no: str, merchant_private_key: str,
                 apiv3_key: str, public_key: str, public_key_id: str, gateway: str = WECHATPAY_GATEWAY,
                 timeout: float = 10.0):
        self.mchid, self.appid = mchid, appid
        self.app_id = f"{appid}:{mchid}"  # what a notice must name: our app and our merchant
        self._client = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid=mchid, private_key=merchant_private_key,
                                 cert_serial_no=merchant_serial_no, appid=appid, apiv3_key=apiv3_key,
                                 public_key=public_key, public_key_id=public_key_id, timeout=timeout)
        self._client._core._gate_way = gateway.rstrip("/")

    def checkout(self, *, out_trade_no: str, amount: str, subject: str, return_url: str,
                 notify_url: str) -> Checkout:
        """A Native order: the code the candidate scans with WeChat. OSError when WeChat Pay
        cannot be reached or refuses the order."""
        cents = round(float(amount) * 100)
        try:
            code, message = self._client.pay(description=subject[:127], out_trade_no=out_trade_no,
                                             amount={"total": cents, "currency": "CNY"}, notify_url=notify_url)
        except Exception as exc:  # the SDK raises Exception for a signature that does not hold
            raise OSError(f"WeChat Pay could not be asked: {exc}") from exc
        if code != 200:
            raise OSError(f"WeChat Pay refused the order ({code}): {str(message)[:200]}")
        return Checkout("scan", json.loads(message)["code_url"])

    def _trade(self, data: dict) -> Trade:
        amount = (data.get("amount") or {}).get("total")
        return Trade(out_trade_no=str(data.get("out_trade_no", "")), trade_no=str(data.get("transaction_id", "")),
                     trade_status=STATES.get(data.get("trade_state", ""), str(data.get("trade_state", ""))),
                     total_amount=yuan(amount) if isinstance(amount, int) and amount >= 0 else "",
                     app_id=f"{data.get('appid', '')}:{data.get('mchid', '')}")

    def read_notification(self, *, headers, body: bytes, form: dict) -> Trade | None:
        """A notification whose signature holds and whose content decrypts, as a Trade; None
        for anything else."""
        try:
            data = self._client.callback(headers=dict(headers), body=body)
        except Exception as exc:  # an unknown signature type or algorithm, or a body that is not JSON
            log.warning("WeChat Pay notification unreadable: %s", exc)
            return None
        if not data or data.get("event_type") != "TRANSACTION.SUCCESS" or not isinstance(data.get("resource"), dict):
            return None
        return self._trade(data["resource"])

    @staticmethod
    def verify(params: dict) -> None:
        """Native pay sends no signed return to the bridge: the page asks (refresh) instead."""
        return None

    @staticmethod
    def answer(ok: bool):
        """What WeChat Pay expects back: 2xx, else it notifies again later."""
        body = {"code": "SUCCESS"} if ok else {"code": "FAIL", "message": "refused"}
        return json.dumps(body), 200 if ok else 400, {"Content-Type": "application/json"}

    def query(self, out_trade_no: str) -> Trade | None:
        """The order as WeChat Pay knows it (None: no such order there); OSError when it cannot
        be reached or its answer is not signed by it."""
        try:
            code, message = self._client.query(out_trade_no=out_trade_no)
        except Exception as exc:
            raise OSError(f"WeChat Pay could not be asked: {exc}") from exc
        if code == 404:
            return None
        if code != 200:
            raise OSError(f"WeChat Pay refused the query ({code})")
        return self._trade(json.loads(message))
