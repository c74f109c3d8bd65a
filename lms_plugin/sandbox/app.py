"""``create_sandbox_app``: the sandbox LMS as its own Flask app (never enabled in production).

The caller binds the socket first and passes the resulting base URL as ``issuer``, so
every URL the sandbox hands out (issuer, service endpoints, return URLs) is right.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from . import admin, ags, deep_linking, nrps, oidc, pages, registration, token
from .state import Sandbox
from .web import error_page, moodle_service_error

SERVICE_PREFIX = "/mod/lti/services.php/"


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def create_sandbox_app(issuer: str, *, state_path: str | Path | None = None,
                       private_key_pem: str | None = None) -> Flask:
    """``issuer``: the sandbox's own base URL. ``state_path``: the JSON file to persist to
    (None: memory only). ``private_key_pem``: the platform key for a new state (default:
    generated)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["sandbox"] = Sandbox(issuer, state_path, private_key_pem=private_key_pem)
    for module in (oidc, token, nrps, ags, deep_linking, registration, admin, pages):
        app.register_blueprint(module.bp)
    app.add_template_filter(_when, "when")

    @app.before_request
    def same_origin_forms():
        """The sandbox's own forms (admin, controls, add activity) refuse cross-site posts.
        The LTI endpoints are cross-site by design and are exempt."""
        if request.method != "POST" or request.path.startswith("/mod/lti/"):
            return None
        origin = request.headers.get("Origin")
        if origin and origin.rstrip("/") != request.host_url.rstrip("/"):
            return error_page(403, "Forbidden", "Cross-site form posts are refused.")
        return None

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(SERVICE_PREFIX):
            return moodle_service_error(exc.code or 500, exc.description)
        return error_page(exc.code or 500, exc.name, exc.description or "")

    return app
