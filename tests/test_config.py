"""bridge.config: environment over file, clear errors, production's refusals.

Pure unit tests: ``config.load`` gets its environment as a dict, never os.environ.
"""
from __future__ import annotations

import stat

import pytest

from bridge import config
from bridge.errors import ConfigError

PRODUCTION = {
    "EXAMBRIDGE_ENV": "production",
    "EXAMBRIDGE_DATABASE_URL": "postgresql://exambridge@db.internal/exambridge",
    "EXAMBRIDGE_SECRET_KEY": "s" * 64,
    "EXAMBRIDGE_PUBLIC_URL": "https://exams.example.edu/",
}


@pytest.fixture
def instance(tmp_path):
    path = tmp_path / "instance"
    path.mkdir()
    return path


def env(instance, **values):
    return {"EXAMBRIDGE_INSTANCE_PATH": str(instance), **{f"EXAMBRIDGE_{k}": v for k, v in values.items()}}


def test_environment_wins_over_the_toml_file(instance):
    (instance / "exambridge.toml").write_text(
        'default_locale = "en"\nhttp_timeout_seconds = 5\nlti_leeway_seconds = 30\n')
    cfg = config.load(environ=env(instance, HTTP_TIMEOUT_SECONDS="7"))
    assert cfg["HTTP_TIMEOUT_SECONDS"] == 7  # environment over file, coerced to int
    assert cfg["DEFAULT_LOCALE"] == "en"  # file over default
    assert cfg["LTI_LEEWAY_SECONDS"] == 30
    assert cfg["LTI_STATE_TTL_SECONDS"] == config.DEFAULTS["LTI_STATE_TTL_SECONDS"]


def test_overrides_win_over_the_environment(instance):
    cfg = config.load({"HTTP_TIMEOUT_SECONDS": 3}, environ=env(instance, HTTP_TIMEOUT_SECONDS="7"))
    assert cfg["HTTP_TIMEOUT_SECONDS"] == 3


def test_config_file_named_by_environment(tmp_path, instance):
    other = tmp_path / "site.toml"
    other.write_text('default_locale = "en"\n')
    cfg = config.load(environ=env(instance, CONFIG=str(other)))
    assert cfg["DEFAULT_LOCALE"] == "en"


def test_missing_config_file_is_named(tmp_path, instance):
    with pytest.raises(ConfigError, match="EXAMBRIDGE_CONFIG"):
        config.load(environ=env(instance, CONFIG=str(tmp_path / "nope.toml")))


def test_broken_toml_names_the_file(instance):
    (instance / "exambridge.toml").write_text("default_locale = \n")
    with pytest.raises(ConfigError, match="exambridge.toml"):
        config.load(environ=env(instance))


@pytest.mark.parametrize("key, value", [
    ("HTTP_TIMEOUT_SECONDS", "ten"),
    ("CLOCK_OFFSET_SECONDS", "soon"),
    ("SANDBOX_ENABLED", "maybe"),
    ("ENV", "staging"),
    ("DYNAMIC_REGISTRATION", "sometimes"),
])
def test_bad_value_names_the_variable(instance, key, value):
    with pytest.raises(ConfigError) as err:
        config.load(environ=env(instance, **{key: value}))
    assert f"EXAMBRIDGE_{key}" in str(err.value)


def test_booleans_accept_the_usual_spellings(instance):
    assert config.load(environ=env(instance, SANDBOX_ENABLED="yes"))["SANDBOX_ENABLED"] is True
    assert config.load(environ=env(instance, SANDBOX_ENABLED="0"))["SANDBOX_ENABLED"] is False


def test_development_secret_is_generated_once_and_reused(instance):
    first = config.load(environ=env(instance))["SECRET_KEY"]
    second = config.load(environ=env(instance))["SECRET_KEY"]
    assert first == second
    assert len(first) >= 32
    secret_file = instance / "secret_key"
    assert secret_file.read_text().strip() == first
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_development_defaults_to_sqlite_in_the_instance(instance):
    cfg = config.load(environ=env(instance))
    assert cfg["DATABASE_URL"] == f"sqlite:///{instance / 'exambridge.db'}"
    assert cfg["DYNAMIC_REGISTRATION"] == "ticket"  # closed by default, in every environment


def test_postgresql_url_gets_the_psycopg_driver(instance):
    cfg = config.load(environ=env(instance, DATABASE_URL="postgresql://u@h/db"))
    assert cfg["DATABASE_URL"] == "postgresql+psycopg://u@h/db"


def test_production_settings_load(instance):
    cfg = config.load(environ={**PRODUCTION, "EXAMBRIDGE_INSTANCE_PATH": str(instance)})
    assert cfg["PUBLIC_URL"] == "https://exams.example.edu"
    assert cfg["DYNAMIC_REGISTRATION"] == "ticket"
    assert not (instance / "secret_key").exists()  # production never invents a secret


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "PUBLIC_URL"])
def test_production_requires(instance, missing):
    environ = {**PRODUCTION, "EXAMBRIDGE_INSTANCE_PATH": str(instance)}
    del environ[f"EXAMBRIDGE_{missing}"]
    with pytest.raises(ConfigError, match=f"EXAMBRIDGE_{missing}"):
        config.load(environ=environ)


@pytest.mark.parametrize("key, value", [
    ("CLOCK_OFFSET_SECONDS", "120"),
    ("SANDBOX_ENABLED", "true"),
    ("DYNAMIC_REGISTRATION", "open"),
])
def test_production_refuses_test_only_settings(instance, key, value):
    environ = {**PRODUCTION, "EXAMBRIDGE_INSTANCE_PATH": str(instance), f"EXAMBRIDGE_{key}": value}
    with pytest.raises(ConfigError, match=f"EXAMBRIDGE_{key}"):
        config.load(environ=environ)


def test_production_refuses_test_only_settings_from_the_file_too(instance):
    (instance / "exambridge.toml").write_text("clock_offset_seconds = 60.0\n")
    with pytest.raises(ConfigError, match="CLOCK_OFFSET_SECONDS"):
        config.load(environ={**PRODUCTION, "EXAMBRIDGE_INSTANCE_PATH": str(instance)})


@pytest.mark.req("K4", "P5")
def test_settings_the_pages_read_reach_them(make_app):
    """The exam page probes the kiosk agent at KIOSK_AGENT_URL and the console's free extra
    time is FREE_EXTRA_SECONDS: both as configured, not only when a test sets them."""
    default = make_app()
    assert default.config["KIOSK_AGENT_URL"] == config.DEFAULTS["KIOSK_AGENT_URL"]
    assert default.config["FREE_EXTRA_SECONDS"] == 600
    chosen = make_app(KIOSK_AGENT_URL="http://127.0.0.1:5999", FREE_EXTRA_SECONDS="900")
    assert (chosen.config["KIOSK_AGENT_URL"], chosen.config["FREE_EXTRA_SECONDS"]) == ("http://127.0.0.1:5999", 900)


@pytest.mark.req("R5")
@pytest.mark.parametrize("settings, says", [
    ({"ENV": "production", "PAYMENT_PROVIDER": "sandbox"}, "takes no money"),
    ({"ENV": "production", "PAYMENT_PROVIDER": "wechatpay-sandbox"}, "takes no money"),
    ({"PAYMENT_PROVIDER": "wechat"}, "must be alipay, wechatpay"),
    ({"PAYMENT_PROVIDER": "alipay", "ALIPAY_APP_ID": "2021000000000001"}, "ALIPAY_APP_PRIVATE_KEY_FILE"),
    ({"PAYMENT_PROVIDER": "wechatpay", "WECHATPAY_MCHID": "1900000109"}, "WECHATPAY_APPID"),
    ({"PAYMENT_PROVIDER": "wechatpay", **{f"WECHATPAY_{k}": "x" for k in (
        "MCHID", "APPID", "MERCHANT_SERIAL_NO", "PRIVATE_KEY_FILE", "PUBLIC_KEY_FILE", "PUBLIC_KEY_ID")},
      "WECHATPAY_APIV3_KEY": "short"}, "32-character"),
    ({"REGISTRATION_RETENTION_DAYS": "0"}, "REGISTRATION_RETENTION_DAYS"),
])
def test_payment_settings_are_checked(tmp_path, settings, says):
    from bridge import config
    from bridge.errors import ConfigError

    base = {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "s" * 32, "DATABASE_URL": "postgresql://x/y",
            "PUBLIC_URL": "https://exams.example.edu"}
    with pytest.raises(ConfigError, match=says):
        config.load({**base, **settings}, environ={})
