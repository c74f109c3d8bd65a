"""Autosave and submit without Flask's request machinery (issue 3, Performance).

``POST /api/attempts/<id>/answers`` is most of a running exam's traffic (one per answer
change per candidate). Through Flask it costs about 0.4 ms of the one core a gevent process
has (request context, session, Babel, routing, CSRF form parsing, the response object), about
as much as the whole rest of the save. This WSGI middleware serves the common case itself
and hands everything else to Flask unchanged:

* served here: a signed-in candidate (valid session cookie, sign-in not expired) with the
  session's CSRF token in ``X-CSRF-Token``, on an attempt that is theirs (the owner cache
  ``views._owners``, filled here on a miss): saves with a JSON body ``{"events": [1..100]}``,
  and submits that are stored (a refused submit stored nothing: Flask's view renders it);
* handed to Flask (the body put back): anything else: no or bad cookie, expired sign-in,
  CSRF mismatch, an attempt that does not exist or is another's, a malformed body. Flask's
  view answers those with the usual translated errors.
* When the writer refused some events (locked, submitted, invalid…), the events are already
  handled, so the per-event messages are rendered inside a request context of this request
  (the candidate's language), without running the view again.

The checks are the view's own functions: the token compared by ``bridge.web.csrf.matches``,
the owner read by ``bridge.web.api.owners.owner_of``, the same expiry as
``bridge.web.auth.signed_in_user_id``; acks formatted by ``answers.outcome``. Tests exercise
both paths.
"""
from __future__ import annotations

import io
import json
import logging
import re
import time

from werkzeug.http import parse_cookie


from bridge import clock
from bridge.extensions import db
from bridge.runtime.scorer import get_scorer
from bridge.services.delivery import answers
from bridge.services.delivery import submits
from bridge.web import csrf
from bridge.web.api import owners, views
from bridge.web.security_headers import API_HEADERS  # Flask's after_request never sees these answers
from bridge.runtime.writer import WriterStopped, get_writer

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/api/attempts/([1-9][0-9]{0,17})/(answers|submit)$")
_MAX_BODY = 8 * 1024 * 1024
  # 100 events of at most 64 KiB each, with room for the envelope


class AutosaveFastPath:
    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.session_seconds = float(app.config["EXAMBRIDGE_SESSION_HOURS"]) * 3600
        self._serializer = None
        self._engine = None
        self.cookie_seconds = int(app.permanent_session_lifetime.total_seconds())
        # cookie value -> (signed at, session): a candidate's cookie does not change during
        # an exam, so its signature is checked once, not on every save
        self._verified: dict[str, tuple[float, dict]] = {}

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            match = _PATH.match(environ.get("PATH_INFO", ""))
            if match is not None:
                body = _read_body(environ)
                if body is not None:
                    serve = self._save if match.group(2) == "answers" else self._submit
                    served = serve(environ, int(match.group(1)), body, start_response)
                    if served is not None:
                        return served
                    environ["wsgi.input"] = io.BytesIO(body)
                    environ["CONTENT_LENGTH"] = str(len(body))
        return self.wsgi_app(environ, start_response)

    # -- the common cases --
    def _caller(self, environ, attempt_id: int, body: bytes):
        """(user id, JSON body) when the signed-in owner of the attempt is asking with the
        session's CSRF token and a JSON object; None: let Flask answer."""
        session = self._session(environ)
        if session is None or not self._csrf_ok(environ, session):
            return None
        user_id = session.get("user_id")
        if not user_id or clock.timestamp() - float(session.get("signed_in_at", 0)) > self.session_seconds:
            return None
        owner = self._owner(attempt_id)
        if owner is None or owner != user_id:
            return None  # no such attempt, or another's: Flask's view answers 404 / 403
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        return (user_id, payload, session.get("signed_in_at")) if isinstance(payload, dict) else None

    def _save(self, environ, attempt_id: int, body: bytes, start_response):
        caller = self._caller(environ, attempt_id, body)
        if caller is None:
            return None
        events = caller[1].get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= views.MAX_EVENTS:
            return None
        carrier = answers.Carrier(signed_in_at=caller[2])  # the session's epoch, not the events' own
        try:
            results = get_writer(self.app).submit_grouped(answers.append_many,
                                                          [(attempt_id, event, carrier) for event in events])
        except WriterStopped:
            return None  # Flask's view answers the shutdown the usual way
        if all(isinstance(result, answers.Ack) for result in results):
            acks = [result.as_dict() for result in results]
        else:  # a refusal is translated: in the candidate's language, from their request
            environ["wsgi.input"] = io.BytesIO(body)
            with self.app.request_context(environ):
                acks = [answers.outcome(event, result) for event, result in zip(events, results)]
        return _json(start_response, {"acks": acks})

    def _submit(self, environ, attempt_id: int, body: bytes, start_response):
        """A refused submit stores nothing, so Flask's view may run it again to render the
        refusal (the same refusal, in the candidate's language)."""
        caller = self._caller(environ, attempt_id, body)
        if caller is None:
            return None
        user_id, payload, _signed_in_at = caller
        fields = {"key": payload.get("key"), "actor": f"user:{user_id}", "address": environ.get("REMOTE_ADDR") or ""}
        try:
            result = get_writer(self.app).submit_grouped(submits.submit_many, [(attempt_id, fields)])[0]
        except WriterStopped:
            return None
        if isinstance(result, BaseException):
            return None
        if not result.duplicate:
            get_scorer(self.app).enqueue(attempt_id)
        return _json(start_response, result.as_dict())

    def _owner(self, attempt_id: int) -> int | None:
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return owners.owner_of(self.app, self._engine, attempt_id)

    def _session(self, environ) -> dict | None:
        raw = environ.get("HTTP_COOKIE")
        if not raw or self.cookie_name not in raw:
            return None
        value = parse_cookie(raw).get(self.cookie_name)
        if not value:
            return None
        serializer = self._serializer
        if serializer is None:
            serializer = self._serializer = self.app.session_interface.get_signing_serializer(self.app)
            if serializer is None:  # no secret key: Flask answers
                return None
        hit = self._verified.get(value)
        now = time.time()
        if hit is not None and now - hit[0] < self.cookie_seconds:
            return hit[1]
        try:
            data, signed_at = serializer.loads(value, max_age=self.cookie_seconds, return_timestamp=True)
        except Exception:  # BadSignature, expired, malformed: Flask starts a fresh session
            return None
        if not isinstance(data, dict):
            return None
        if len(self._verified) > 100_000:
            self._verified.clear()
        self._verified[value] = (signed_at.timestamp(), data)
        return data

    @staticmethod
    def _csrf_ok(environ, session: dict) -> bool:
        return csrf.matches(environ.get("HTTP_X_CSRF_TOKEN"), session.get("_csrf"))


def _json(start_response, value) -> list[bytes]:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                              ("Cache-Control", "no-store"), *API_HEADERS])
    return [data]


def _read_body(environ) -> bytes | None:
    """The request body, or None when it is not a plain sized JSON body (Flask handles it)."""
    if not (environ.get("CONTENT_TYPE") or "").startswith("application/json"):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= _MAX_BODY:
        return None
    return environ["wsgi.input"].read(length)


def init_app(app) -> None:
    """Install inside ProxyFix when the app has one, so the address and scheme are the
    client's here too."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    if isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app.app = AutosaveFastPath(app, app.wsgi_app.app)
    else:
        app.wsgi_app = AutosaveFastPath(app, app.wsgi_app)
