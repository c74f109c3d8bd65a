"""Security headers on every response of the bridge.

- ``Content-Security-Policy``: scripts only from the bridge's own files (no inline script,
  no ``on*=`` handlers: every template passes data through ``data-*`` attributes or a
  ``<script type="application/json">`` block), no plugins, ``<base>`` and form targets
  limited to the bridge and the registered LMS platforms, and ``frame-ancestors 'self'``
  plus those platforms' origins, so the LMS's iframe keeps working (L6).
- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: strict-origin-when-cross-origin``.

A policy a view or an earlier hook already set (the attempt pages' ``frame-ancestors
'none'`` from lms_plugin/framing.py, the media responses' ``sandbox; default-src 'none'``)
is kept: this module only adds the directives it does not name, and adds no fetch
directive next to its ``default-src``, so the result is never looser than what was set.

Styles keep ``'unsafe-inline'``: the printable pages (room record, seating chart, site info,
environment report) carry their own ``<style>`` block to print without the app's stylesheet,
and several templates use ``style=`` attributes. Without script, injected CSS cannot run
code; scripts are what this policy closes.

The platforms are read from the database on their own connection (never the request's
session, which may be failed or mid-transaction), cached for ``TTL_SECONDS`` per app, and
the cache is dropped at once when this process commits a change to a platform.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from urllib.parse import urlsplit

from flask import Flask, current_app, request

log = logging.getLogger(__name__)

TTL_SECONDS = 30.0
REFERRER_POLICY = "strict-origin-when-cross-origin"
# Referrer policies at least as strict as ours: a response that set one keeps it.
_STRICTER_REFERRER = frozenset({"no-referrer", "same-origin", "strict-origin", REFERRER_POLICY})
# Directives that fall back to default-src: never added next to an existing default-src.
_FETCH = frozenset({"default-src", "script-src", "script-src-elem", "script-src-attr", "style-src",
                    "style-src-elem", "style-src-attr", "img-src", "font-src", "connect-src", "media-src",
                    "object-src", "frame-src", "child-src", "worker-src", "manifest-src"})
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$|^\[[0-9a-f:.]+\]$")
# JSON answers (the autosave fast path, which runs before Flask): nothing to run or frame.
API_HEADERS = [("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
               ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", REFERRER_POLICY)]

_generation = 0  # bumped when this process commits a change to a platform


def origin_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, or None for anything else. Strict, so a
    hostile issuer (``https://x; script-src *``) can never add to the policy."""
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if not _HOST.match(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


class _PlatformOrigins:
    """The origins of the active LMS platforms, cached briefly."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[str, ...] = ()
        self._read_at = float("-inf")
        self._generation = -1

    def get(self) -> tuple[str, ...]:
        now = time.monotonic()
        if self._generation == _generation and now - self._read_at < TTL_SECONDS:
            return self._value
        with self._lock:
            if self._generation != _generation or now - self._read_at >= TTL_SECONDS:
                generation = _generation
                self._value = self._read()
                self._read_at, self._generation = time.monotonic(), generation
        return self._value

    @staticmethod
    def _read() -> tuple[str, ...]:
        from sqlalchemy import select

        from bridge.extensions import db
        from lms_plugin.models import Platform

        try:
            with db.engine.connect() as conn:
                rows = conn.execute(select(Platform.issuer, Platform.auth_login_url)
                                    .where(Platform.active.is_(True))).all()
        except Exception:  # no database (yet): frame-ancestors 'self' only, never a failed page
            log.warning("security headers: could not read the LMS platforms", exc_info=True)
            return ()
        found = {origin_of(u) for row in rows for u in row}
        return tuple(sorted(o for o in found if o))


def policy() -> dict[str, list[str]]:
    """This request's policy, directive → sources."""
    platforms = list(current_app.extensions["security_headers"].get())
    # The deep-linking answer posts itself to the LMS; its return URL is on the platform's
    # issuer or login origin (lms_plugin/services/deep_linking.py refuses any other).
    form_action = ["'self'", *platforms]
    if current_app.config.get("EXAMBRIDGE_PAYMENT_PROVIDER") == "alipay":
        # "Pay" posts here and is redirected to the provider's cashier: a redirect after a
        # form's submission is held to form-action too
        form_action += [o for o in (origin_of(current_app.config["EXAMBRIDGE_ALIPAY_GATEWAY"]),) if o]
    frame_ancestors = ["'self'", *platforms]
    if request.endpoint == "lti.register":
        # An LMS registering itself frames this page before it is a registered platform.
        extra = origin_of(request.values.get("openid_configuration"))
        if extra:
            frame_ancestors.append(extra)
    connect = ["'self'"]
    agent = origin_of(current_app.config.get("KIOSK_AGENT_URL"))
    if agent:
        connect.append(agent)  # the exam page saves through the kiosk agent on the PC
    return {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": connect,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": _unique(form_action),
        "frame-ancestors": _unique(frame_ancestors),
    }


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def merge(existing: str | None, ours: dict[str, list[str]]) -> str:
    """``existing`` with our directives added where it names none; never loosened."""
    kept = [d.strip() for d in (existing or "").split(";") if d.strip()]
    named = {d.split()[0].lower() for d in kept}
    strict_default = "default-src" in named
    added = [f"{name} {' '.join(sources)}" for name, sources in ours.items()
             if name not in named and not (strict_default and name in _FETCH)]
    return "; ".join(kept + added)


def _apply(resp):
    try:
        resp.headers["Content-Security-Policy"] = merge(resp.headers.get("Content-Security-Policy"), policy())
    except Exception:  # a header must never turn a page into a 500: fall back to a fixed strict policy
        log.exception("security headers: policy failed")
        resp.headers["Content-Security-Policy"] = merge(resp.headers.get("Content-Security-Policy"),
                                                        {"default-src": ["'self'"], "object-src": ["'none'"],
                                                         "base-uri": ["'self'"], "form-action": ["'self'"],
                                                         "frame-ancestors": ["'self'"]})
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if resp.headers.get("Referrer-Policy", "").strip().lower() not in _STRICTER_REFERRER:
        resp.headers["Referrer-Policy"] = REFERRER_POLICY
    return resp


def _listen_for_platform_changes() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session, object_session

    from lms_plugin.models import Platform

    if event.contains(Session, "after_commit", _after_commit):
        return

    def mark(_mapper, _connection, target):
        session = object_session(target)
        if session is not None:
            session.info["eb_platforms_changed"] = True

    for name in ("after_insert", "after_update", "after_delete"):
        event.listen(Platform, name, mark)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)


def _after_rollback(session) -> None:
    session.info.pop("eb_platforms_changed", None)


def _after_commit(session) -> None:
    global _generation
    if session.info.pop("eb_platforms_changed", False):
        _generation += 1


def init_app(app: Flask) -> None:
    """Register before lms_plugin: after_request hooks run last-registered first, so this one
    sees (and keeps) the attempt pages' frame-ancestors 'none'."""
    app.extensions["security_headers"] = _PlatformOrigins()
    _listen_for_platform_changes()
    app.after_request(_apply)
