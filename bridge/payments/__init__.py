"""Payment providers (R5): each turns an order into the address where the candidate pays,
checks the provider's signature on what it sends back, and answers a query about a trade.
``configured_provider(app)`` gives the one ``EXAMBRIDGE_PAYMENT_PROVIDER`` names:
``alipay`` (python-alipay-sdk, RSA2, with the operator's keys), ``sandbox`` (the same client
against ``bridge.payments.sandbox``, for the demo and the tests), ``wechatpay`` (wechatpayv3,
API v3, Native pay), ``wechatpay-sandbox`` (the same client against
``bridge.payments.wechatpay_sandbox``), or none. Each answers in ``bridge.payments.trades``."""
from __future__ import annotations

from pathlib import Path

PROVIDERS = ("", "sandbox", "alipay", "wechatpay", "wechatpay-sandbox")
_KEY = "exambridge.payment_provider"


def configured_provider(app, base_url: str):
    """The provider, or None when payment is not set up. ``base_url``: the bridge's own
    address as the request saw it (where the sandbox gateway is served)."""
    kind = app.config.get("EXAMBRIDGE_PAYMENT_PROVIDER") or ""
    if not kind:
        return None
    # only a sandbox lives at the bridge's own address; a real provider is one per process,
    # whatever Host a request (a notification, say) came with
    sandboxed = kind in ("sandbox", "wechatpay-sandbox")
    base = (app.config.get("EXAMBRIDGE_PUBLIC_URL") or base_url).rstrip("/") if sandboxed else ""
    cache = app.extensions.setdefault(_KEY, {})
    cached = cache.get((kind, base))
    if cached is not None:
        return cached
    if kind.startswith("wechatpay"):
        provider = _wechatpay(app, kind, base)
        cache[(kind, base)] = provider
        return provider
    from bridge.payments.alipay import AlipayProvider

    if kind == "sandbox":
        from bridge.payments import sandbox

        keys = sandbox.keys(app.instance_path)
        provider = AlipayProvider(app_id=sandbox.APP_ID, app_private_key=keys["app_private"],
                                  alipay_public_key=keys["alipay_public"], gateway=f"{base}/sandbox/alipay/gateway.do")
    else:
        cfg = app.config
        provider = AlipayProvider(app_id=cfg["EXAMBRIDGE_ALIPAY_APP_ID"],
                                  app_private_key=Path(cfg["EXAMBRIDGE_ALIPAY_APP_PRIVATE_KEY_FILE"]).read_text(),
                                  alipay_public_key=Path(cfg["EXAMBRIDGE_ALIPAY_PUBLIC_KEY_FILE"]).read_text(),
                                  gateway=cfg["EXAMBRIDGE_ALIPAY_GATEWAY"])
    cache[(kind, base)] = provider
    return provider


def _wechatpay(app, kind: str, base: str):
    from bridge.payments.wechatpay import WechatPayProvider

    if kind == "wechatpay-sandbox":
        from bridge.payments import wechatpay_sandbox as sandbox

        keys = sandbox.keys(app.instance_path)
        return WechatPayProvider(mchid=sandbox.MCHID, appid=sandbox.APPID,
                                 merchant_serial_no=sandbox.MERCHANT_SERIAL_NO,
                                 merchant_private_key=keys["merchant_private"], apiv3_key=keys["apiv3_key"],
                                 public_key=keys["platform_public"], public_key_id=sandbox.PUBLIC_KEY_ID,
                                 gateway=f"{base}{sandbox.URL_PREFIX}")
    cfg = app.config
    return WechatPayProvider(mchid=cfg["EXAMBRIDGE_WECHATPAY_MCHID"], appid=cfg["EXAMBRIDGE_WECHATPAY_APPID"],
                             merchant_serial_no=cfg["EXAMBRIDGE_WECHATPAY_MERCHANT_SERIAL_NO"],
                             merchant_private_key=Path(cfg["EXAMBRIDGE_WECHATPAY_PRIVATE_KEY_FILE"]).read_text(),
                             apiv3_key=cfg["EXAMBRIDGE_WECHATPAY_APIV3_KEY"],
                             public_key=Path(cfg["EXAMBRIDGE_WECHATPAY_PUBLIC_KEY_FILE"]).read_text(),
                             public_key_id=cfg["EXAMBRIDGE_WECHATPAY_PUBLIC_KEY_ID"],
                             gateway=cfg["EXAMBRIDGE_WECHATPAY_GATEWAY"])
