"""The application factory: it wires config, extensions, blueprints and handlers, no I/O."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, current_app, request, session

from bridge import clock, config as config_module
from bridge.extensions import babel, db
from bridge.i18n import LOCALES, format_number, normalize_locale, plural_count



def build_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = config_module.load(overrides)
    app = Flask("bridge", instance_path=settings["INSTANCE_PATH"], instance_relative_config=True)
    _configure(app, settings)
    _init_extensions(app)
    _register_blueprints(app)
    from bridge.web import csrf, html
    from bridge.web.errors import register_error_handlers
    csrf.init_app(app)
    html.init_app(app)
    from bridge import timezones

    timezones.init_app(app)
    timezones.set_zone_source(_running_zone)
    register_error_handlers(app)
    from bridge.web import security_headers
    security_headers.init_app(app)  # before lms_plugin: its framing headers are kept
    import lms_plugin
    lms_plugin.init_app(app)
    from bridge import hub
    hub.init_app(app)
    return app


def _configure(app: Flask, settings: dict[str, Any]) -> None:
    app.config.update({f"EXAMBRIDGE_{k}": v for k, v in settings.items()})
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=settings["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings["DATABASE_URL"]),
        TESTING=settings["ENV"] == "testing",
        # The tool lives in an LMS iframe: its session cookie is cross-site (L6).
        SESSION_COOKIE_NAME="exambridge_session",
        SESSION_COOKIE_SAMESITE="None",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_PARTITIONED=True,
        SESSION_COOKIE_HTTPONLY=True,
        BABEL_DEFAULT_LOCALE=settings["DEFAULT_LOCALE"],
        BABEL_TRANSLATION_DIRECTORIES="translations",
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        # read by the pages under these names (the settings above keep their EXAMBRIDGE_ prefix)
        KIOSK_AGENT_URL=settings["KIOSK_AGENT_URL"],
        FREE_EXTRA_SECONDS=int(settings["FREE_EXTRA_SECONDS"]),
    )
    clock.set_offset(settings["CLOCK_OFFSET_SECONDS"])
    hops = int(settings["PROXY_HOPS"])
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind N trusted proxies: the client's address (audit lines) and the external
        # scheme and host come from their X-Forwarded-* headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 10}}
    return {"pool_pre_ping": True}


def _running_zone() -> str | None:
    from flask import current_app, has_app_context

    return current_app.config.get("EXAMBRIDGE_TIMEZONE") if has_app_context() else None


def _init_extensions(app: Flask) -> None:
    import bridge.models  # noqa: F401  (registers every table)
    import lms_plugin.models  # noqa: F401  (the plugin's tables, which the core's rows refer to)

    db.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    from flask_babel import get_locale, gettext

    from bridge import i18n

    i18n.set_translator(gettext)  # services' errors are translated without importing Flask

    app.jinja_env.globals["get_locale"] = get_locale
    from bridge.web.auth import staff_links

    app.jinja_env.globals["staff_links"] = staff_links
    app.jinja_env.filters["num"] = format_number
    app.jinja_env.filters["plural_count"] = plural_count


def select_locale():
    """The launch's locale (kept in the session), else the browser's, else the default."""
    chosen = session.get("locale") if request else None
    if chosen not in LOCALES:
        best = request.accept_languages.best_match(["zh-CN", "zh", "en"]) if request else None
        chosen = normalize_locale(best) or current_app.config["BABEL_DEFAULT_LOCALE"]
    # Babel expands zh_CN to zh_Hans_CN, the name of the catalogue's folder.
    return chosen


def _register_blueprints(app: Flask) -> None:
    from bridge.web.health import bp as health_bp
    from bridge.web.main import bp as main_bp
    from bridge.web.admin import bp as admin_bp
    from bridge.web.teaching import bp as teaching_bp
    from bridge.web.delivery import bp as delivery_bp
    from bridge.web.api import bp as api_bp
    from bridge.web.site import bp as site_bp
    from bridge.web.station import bp as station_bp
    from bridge.web.console import bp as console_bp
    from bridge.web.registration import bp as registration_bp

    from bridge.web.api.commands import bp as commands_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(commands_bp)
    app.register_blueprint(main_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(site_bp, url_prefix="/site")
    app.register_blueprint(station_bp, url_prefix="/station")
    app.register_blueprint(console_bp)
    app.register_blueprint(teaching_bp)
    app.register_blueprint(delivery_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(registration_bp)
    if app.config["EXAMBRIDGE_PAYMENT_PROVIDER"] == "sandbox":
        from bridge.payments.sandbox import bp as payment_sandbox_bp

        app.register_blueprint(payment_sandbox_bp, url_prefix="/sandbox/alipay")
    if app.config["EXAMBRIDGE_PAYMENT_PROVIDER"] == "wechatpay-sandbox":
        from bridge.payments import wechatpay_sandbox

        app.register_blueprint(wechatpay_sandbox.bp, url_prefix=wechatpay_sandbox.URL_PREFIX)
    from bridge.web.api import fast

    fast.init_app(app)  # autosave served before Flask's request machinery (hot path)
