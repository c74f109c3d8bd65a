"""Configuration: ``EXAMBRIDGE_*`` environment variables over an optional TOML file.

Precedence (last wins): defaults < ``<instance>/exambridge.toml`` (or the file named by
``EXAMBRIDGE_CONFIG``) < environment < overrides passed to ``create_app`` (tests).
"""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Mapping

from bridge.errors import ConfigError

PREFIX = "EXAMBRIDGE_"
ENVIRONMENTS = ("development", "testing", "production")

DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "INSTANCE_PATH": "instance",
    "DATABASE_URL": None,  # None: SQLite file in the instance folder
    "SECRET_KEY": None,
    "PUBLIC_URL": None,  # the tool's external base URL; None: taken from the request (dev)
    "CLOCK_OFFSET_SECONDS": 0.0,
    "REDIS_URL": None,  # redis://host:6379/0: presence and the event bus across workers (issue 4)
    "REDIS_PREFIX": "exambridge:",  # prefix of every Redis key and channel (several bridges on one Redis)
    "DYNAMIC_REGISTRATION": "ticket",  # ticket | open | off; open only if an operator says so, never in production
    "REGISTRATION_ALLOW_NETWORKS": "",  # private/loopback/link-local networks a registration may reach (CIDR, spaces)
    "LTI_LEEWAY_SECONDS": 60,
    "LTI_STATE_TTL_SECONDS": 300,
    "LTI_JWKS_CACHE_SECONDS": 300,
    "KEY_ROTATION_GRACE_DAYS": 7,
    "OUTBOX_MAX_BACKOFF_SECONDS": 900,
    "OUTBOX_POLL_SECONDS": 5,
    "HTTP_TIMEOUT_SECONDS": 10,
    "DEFAULT_LOCALE": "zh_CN",
    "SANDBOX_ENABLED": False,
    "SESSION_HOURS": 12,  # a sign-in (LTI launch or local) lasts this long
    "PROXY_HOPS": 0,  # reverse proxies in front of the tool whose X-Forwarded-* to trust
    "LOGIN_ATTEMPTS": 5,  # failed local sign-ins in a row (per user name, per address) before tries wait
    "LOGIN_WINDOW_MINUTES": 15,  # the longest such wait (it doubles from 30 s with each further failure)
    "KIOSK_AGENT_URL": "http://127.0.0.1:47610",  # the exam page saves through the kiosk agent there, if one runs
    "FREE_EXTRA_SECONDS": 600,  # extra time per candidate the console gives without a code (P5)
    "TIMEZONE": None,  # IANA name times are entered and shown in; None: the server's own zone, else UTC
    # connections that have not shown who they are yet (bridge.runtime.server.ConnectionPolicy)
    "HEADER_TIMEOUT_SECONDS": 10.0,  # a request's line and headers, absolute from the connection (or its first byte)
    "KEEPALIVE_TIMEOUT_SECONDS": 75.0,  # an idle keep-alive connection waits this long for its next request
    "KIOSK_HANDSHAKE_SECONDS": 30.0,  # a kiosk socket's 101 to its proven key, absolute
    "PENDING_PER_ADDRESS": 64,  # such connections per client address (0: no cap)
    "PENDING_MAX": 4096,  # such connections in all (0: no cap)
    "PENDING_EXEMPT_ADDRESSES": "127.0.0.1 ::1",  # no per-address cap: a reverse proxy on this host
    # mail to candidates (account verification, password reset): bridge.mail
    "MAIL_FROM": "ExamBridge <no-reply@localhost>",
    "SMTP_HOST": "",  # empty: mail is written to MAIL_DIR instead (the demo, a site without mail)
    "SMTP_PORT": 25,
    "SMTP_USER": "",
    "SMTP_PASSWORD": "",
    "SMTP_STARTTLS": False,
    "MAIL_DIR": "",  # empty: <instance>/mail
    # registration fees (bridge.payments): "" (none), "sandbox" (demo and tests), "alipay"
    "PAYMENT_PROVIDER": "",
    "ALIPAY_APP_ID": "",
    "ALIPAY_APP_PRIVATE_KEY_FILE": "",  # the app's RSA private key (PEM)
    "ALIPAY_PUBLIC_KEY_FILE": "",  # Alipay's public key (PEM), from the open platform
    "ALIPAY_GATEWAY": "https://openapi.alipay.com/gateway.do",
    "WECHATPAY_MCHID": "",  # the merchant number (商户号)
    "WECHATPAY_APPID": "",  # the app id bound to it
    "WECHATPAY_MERCHANT_SERIAL_NO": "",  # the serial number of the merchant's API certificate
    "WECHATPAY_PRIVATE_KEY_FILE": "",  # the merchant's API private key (apiclient_key.pem)
    "WECHATPAY_APIV3_KEY": "",  # the APIv3 key notifications are encrypted under (32 characters)
    "WECHATPAY_PUBLIC_KEY_FILE": "",  # WeChat Pay's public key (微信支付公钥, PEM)
    "WECHATPAY_PUBLIC_KEY_ID": "",  # its id, PUB_KEY_ID_…
    "WECHATPAY_GATEWAY": "https://api.mch.weixin.qq.com",
    # days a registration's personal data and photo are kept after its results are released
    "REGISTRATION_RETENTION_DAYS": 365,
}

_BOOL = {"1": True, "true": True, "yes": True, "on": True,
         "0": False, "false": False, "no": False, "off": False, "": False}


def _coerce(key: str, raw: Any) -> Any:
    default = DEFAULTS.get(key)
    if not isinstance(raw, str):
        return raw
    try:
        if isinstance(default, bool):
            return _BOOL[raw.strip().lower()]
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except (KeyError, ValueError):
        raise ConfigError(f"{PREFIX}{key}={raw!r} is not a valid value "
                          f"(expected a {type(default).__name__}).") from None
    return raw


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from None
    return {k.upper(): v for k, v in data.items()}


def load(overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the resolved settings (keys without prefix). Raises ConfigError."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    env_values = {k[len(PREFIX):]: v for k, v in environ.items() if k.startswith(PREFIX)}

    instance = Path(overrides.get("INSTANCE_PATH") or env_values.get("INSTANCE_PATH")
                    or DEFAULTS["INSTANCE_PATH"]).resolve()
    file_path = Path(env_values.get("CONFIG") or instance / "exambridge.toml")
    file_values = _read_file(file_path) if file_path.is_file() else {}
    if env_values.get("CONFIG") and not file_path.is_file():
        raise ConfigError(f"{PREFIX}CONFIG names {file_path}, which does not exist.")

    cfg: dict[str, Any] = dict(DEFAULTS)
    for source in (file_values, env_values, overrides):
        for key, value in source.items():
            if key == "CONFIG":
                continue
            cfg[key] = _coerce(key, value)
    cfg["INSTANCE_PATH"] = str(instance)
    _validate(cfg)
    return cfg


SANDBOX_PAYMENTS = ("sandbox", "wechatpay-sandbox")  # they take no money


def _validate_payment(cfg: dict[str, Any]) -> None:
    if cfg["PAYMENT_PROVIDER"] not in ("", "alipay", "wechatpay", *SANDBOX_PAYMENTS):
        raise ConfigError(f"{PREFIX}PAYMENT_PROVIDER must be alipay, wechatpay, sandbox or wechatpay-sandbox "
                          f"(or empty), not {cfg['PAYMENT_PROVIDER']!r}.")
    needed = {"alipay": ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_PUBLIC_KEY_FILE"),
              "wechatpay": ("WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_MERCHANT_SERIAL_NO",
                            "WECHATPAY_PRIVATE_KEY_FILE", "WECHATPAY_APIV3_KEY", "WECHATPAY_PUBLIC_KEY_FILE",
                            "WECHATPAY_PUBLIC_KEY_ID")}.get(cfg["PAYMENT_PROVIDER"], ())
    for key in needed:
        if not cfg[key]:
            raise ConfigError(f"{PREFIX}{key} is required with {PREFIX}PAYMENT_PROVIDER={cfg['PAYMENT_PROVIDER']}.")
    if cfg["PAYMENT_PROVIDER"] == "wechatpay" and len(str(cfg["WECHATPAY_APIV3_KEY"]).encode()) != 32:
        raise ConfigError(f"{PREFIX}WECHATPAY_APIV3_KEY is the 32-character APIv3 key set in the merchant platform.")


def _validate(cfg: dict[str, Any]) -> None:
    env = cfg["ENV"]
    if env not in ENVIRONMENTS:
        raise ConfigError(f"{PREFIX}ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    production = env == "production"
    instance = Path(cfg["INSTANCE_PATH"])
    if not cfg["DATABASE_URL"]:
        if production:
            raise ConfigError(f"{PREFIX}DATABASE_URL is required in production "
                              "(e.g. postgresql+psycopg://user@host/exambridge).")
        cfg["DATABASE_URL"] = f"sqlite:///{instance / 'exambridge.db'}"
    if cfg["DATABASE_URL"].startswith("postgresql://"):
        cfg["DATABASE_URL"] = "postgresql+psycopg://" + cfg["DATABASE_URL"][len("postgresql://"):]
    if not cfg["SECRET_KEY"]:
        if production:
            raise ConfigError(f"{PREFIX}SECRET_KEY is missing. Production needs a long random "
                              "secret, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`.")
        cfg["SECRET_KEY"] = _dev_secret(instance)
    if production:
        if cfg["CLOCK_OFFSET_SECONDS"]:
            raise ConfigError(f"{PREFIX}CLOCK_OFFSET_SECONDS is for tests and rehearsals; "
                              "production refuses a clock offset.")
        if cfg["SANDBOX_ENABLED"]:
            raise ConfigError(f"{PREFIX}SANDBOX_ENABLED: the sandbox LMS never runs in production.")
        if cfg["PAYMENT_PROVIDER"] in SANDBOX_PAYMENTS:
            raise ConfigError(f"{PREFIX}PAYMENT_PROVIDER={cfg['PAYMENT_PROVIDER']} takes no money: production uses "
                              "alipay or wechatpay (or none).")
        if not cfg["PUBLIC_URL"]:
            raise ConfigError(f"{PREFIX}PUBLIC_URL is required in production "
                              "(the https:// address the LMS reaches the tool at).")
    _validate_payment(cfg)
    _validate_connections(cfg)
    mode = cfg["DYNAMIC_REGISTRATION"] or "ticket"
    if mode not in ("open", "ticket", "off"):
        raise ConfigError(f"{PREFIX}DYNAMIC_REGISTRATION must be open, ticket or off, not {mode!r}.")
    if production and mode == "open":
        raise ConfigError(f"{PREFIX}DYNAMIC_REGISTRATION=open lets anyone register an LMS; production "
                          "allows 'ticket' (one-time URLs from `exambridge platform register-url`) or 'off'.")
    cfg["DYNAMIC_REGISTRATION"] = mode
    networks = cfg["REGISTRATION_ALLOW_NETWORKS"]
    networks = networks.split() if isinstance(networks, str) else [str(n) for n in networks or ()]
    import ipaddress

    for item in networks:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"{PREFIX}REGISTRATION_ALLOW_NETWORKS: {item!r} is not a network; give "
                              "addresses or CIDR networks separated by spaces, e.g. 10.20.0.0/16.") from None
    cfg["REGISTRATION_ALLOW_NETWORKS"] = " ".join(networks)
    if cfg["PUBLIC_URL"]:
        cfg["PUBLIC_URL"] = cfg["PUBLIC_URL"].rstrip("/")
    from bridge import timezones

    try:
        cfg["TIMEZONE"] = timezones.resolve(cfg["TIMEZONE"])
    except timezones.UnknownTimeZone:
        raise ConfigError(f"{PREFIX}TIMEZONE={cfg['TIMEZONE']!r} is not a time zone this server knows; "
                          "use an IANA name such as Asia/Shanghai or Europe/Paris (or leave it unset "
                          "for the server's own zone).") from None


def _validate_connections(cfg: dict[str, Any]) -> None:
    for key in ("HEADER_TIMEOUT_SECONDS", "KEEPALIVE_TIMEOUT_SECONDS", "KIOSK_HANDSHAKE_SECONDS"):
        if not 0 < float(cfg[key]) <= 3600:
            raise ConfigError(f"{PREFIX}{key}={cfg[key]!r}: give a number of seconds above 0 (at most 3600).")
    for key in ("PENDING_PER_ADDRESS", "PENDING_MAX"):
        if int(cfg[key]) < 0:
            raise ConfigError(f"{PREFIX}{key}={cfg[key]!r}: give a count (0 turns the cap off).")
    if not 1 <= int(cfg["REGISTRATION_RETENTION_DAYS"]) <= 36500:
        raise ConfigError(f"{PREFIX}REGISTRATION_RETENTION_DAYS={cfg['REGISTRATION_RETENTION_DAYS']!r}: give the "
                          "days to keep registrations after their results are released (1 or more).")


def _dev_secret(instance: Path) -> str:
    """Development and tests: generate a secret once and keep it in the instance folder."""
    path = instance / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
