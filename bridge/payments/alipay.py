"""Alipay (支付宝) through python-alipay-sdk (RSA2): the page-pay address the candidate is sent
to, the check of a signed notification or return, and the trade query behind "I have paid,
refresh". The same class talks to Alipay's own gateway or to the sandbox gateway
(``bridge.payments.sandbox``), which speaks the same protocol with keys of its own, so the
SDK's signing and verification run in every test."""
from __future__ import annotations

import logging

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from bridge.payments.trades import Checkout, Trade

log = logging.getLogger(__name__)

ALIPAY_GATEWAY = "https://openapi.alipay.com/gateway.do"


class _Client(AliPay):
    """The SDK's client with the gateway given, not chosen by ``debug``."""

    def __init__(self, *, gateway: str, **kwargs):
        super().__init__(**kwargs)
        self._gateway = gateway


class AlipayProvider:
    name = "alipay"

    def __init__(self, *, app_id: str, app_private_key: str, alipay_public_key: str,
                 gateway: str = ALIPAY_GATEWAY, timeout: float = 10.0):
        self.app_id = app_id
        self.gateway = gateway
        self._client = _Client(gateway=gateway, appid=app_id, app_private_key_string=app_private_key,
                               alipay_public_key_string=alipay_public_key, sign_type="RSA2")
        self._client._config.timeout = timeout

    def pay_url(self, *, out_trade_no: str, amount: str, subject: str, return_url: str, notify_url: str) -> str:
        query = self._client.api_alipay_trade_page_pay(subject=subject, out_trade_no=out_trade_no,
                                                        total_amount=amount, return_url=return_url,
                                                        notify_url=notify_url)
        return f"{self.gateway}?{query}"

    def checkout(self, *, out_trade_no: str, amount: str, subject: str, return_url: str,
                 notify_url: str) -> Checkout:
        """Alipay's page pay: the candidate is sent to its cashier."""
        return Checkout("redirect", self.pay_url(out_trade_no=out_trade_no, amount=amount, subject=subject,
                                                 return_url=return_url, notify_url=notify_url))

    def read_notification(self, *, headers, body: bytes, form: dict) -> Trade | None:
        """A signed asynchronous notification (a form) as a Trade; None when the signature
        does not hold."""
        data = self.verify(form)
        if data is None:
            return None
        return Trade(out_trade_no=data.get("out_trade_no", ""), trade_no=data.get("trade_no", ""),
                     trade_status=data.get("trade_status", ""), total_amount=data.get("total_amount", ""),
                     app_id=data.get("app_id", ""))

    @staticmethod
    def answer(ok: bool):
        """What Alipay expects back: ``success``, else it notifies again later."""
        return ("success", 200, {"Content-Type": "text/plain"}) if ok else \
            ("failure", 400, {"Content-Type": "text/plain"})

    def verify(self, params: dict) -> dict | None:
        """The parameters of a notification or return if Alipay's signature holds, else None."""
        data = {k: v for k, v in params.items() if isinstance(v, str)}
        signature = data.pop("sign", "")
        if not signature:
            return None
        try:
            ok = self._client.verify(dict(data), signature)
        except (AliPayException, ValueError, TypeError):
            ok = False
        if not ok:
            return None
        data.pop("sign_type", None)
        return data

    def query(self, out_trade_no: str) -> Trade | None:
        """The trade as Alipay knows it (None: no such trade there); raises OSError when the
        gateway cannot be reached or its answer is not signed by it."""
        try:
            answer = self._client.api_alipay_trade_query(out_trade_no=out_trade_no)
        except AliPayValidationError as exc:
            raise OSError("the gateway's answer is not signed by it") from exc
        except AliPayException as exc:
            raise OSError(f"the gateway refused the query: {exc}") from exc
        if answer.get("code") != "10000":
            return None
        return Trade(out_trade_no=answer.get("out_trade_no", ""), trade_no=answer.get("trade_no", ""),
                     trade_status=answer.get("trade_status", ""), total_amount=answer.get("total_amount", ""),
                     app_id=self.app_id)
