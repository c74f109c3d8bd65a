"""CSRF protection for the tool's own forms.

The session cookie is ``SameSite=None`` (the tool lives in an LMS iframe, L6), so the browser
sends it with cross-site POSTs too: every state-changing request of our own pages must carry
the session's token. Exempt: the LTI endpoints the LMS posts to (they are protected by the
OIDC state, the registration token or ticket) and the safe methods.
"""
from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session
from werkzeug.exceptions import BadRequest

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
EXEMPT_ENDPOINTS = frozenset({"lti.login", "lti.launch", "lti.deeplink_launch", "lti.register", "static",
                              "registration.payment_notify",  # signed by the payment provider instead
                              # the sandboxes play other sites (their API is signed instead)
                              "payment_sandbox.pay", "wechatpay_sandbox.pay", "wechatpay_sandbox.native"})


class CsrfFailed(BadRequest):
    code = 400
    description = "csrf"


def csrf_token() -> str:
    token = session.get("_csrf")
    if not token:
        token = session["_csrf"] = secrets.token_urlsafe(32)
    return token


def _check() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS") or request.endpoint is None \
            or request.endpoint in EXEMPT_ENDPOINTS:  # no endpoint: let routing answer 404/405
        return
    sent = request.headers.get(HEADER) or request.form.get(FIELD)  # the header first: no form parsing for JSON
    if not matches(sent, session.get("_csrf")):
        raise CsrfFailed()


def matches(sent, expected) -> bool:
    """Whether the token a request sent is the session's (the one comparison, shared with the
    autosave fast path)."""
    sent, expected = str(sent or ""), str(expected or "")
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def init_app(app: Flask) -> None:
    app.before_request(_check)
    app.jinja_env.globals["csrf_token"] = csrf_token
