"""One place turns errors into responses: HTML pages for people, JSON for API clients."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from bridge.errors import DomainError

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/healthz", "/readyz", "/lti/jwks")


def wants_json() -> bool:
    if request.path.startswith(JSON_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, title: str, message: str, detail: str | None = None):
    if wants_json():
        body = {"error": code, "message": message}
        if detail:
            body["detail"] = detail
        return jsonify(body), status
    return render_template("errors/error.html", status=status, code=code, title=title,
                           message=message, detail=detail), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        return error_response(exc.http_status, exc.code, _("Request refused"), exc.translated(), exc.detail)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        titles = {
            400: _("Bad request"), 401: _("Sign-in needed"), 403: _("Not allowed"), 404: _("Page not found"),
            405: _("Method not allowed"), 413: _("Upload too large"), 429: _("Too many requests"),
        }
        messages = {
            401: _("Open ExamBridge from your course in the LMS, or sign in, then try again."),
            403: _("Your role does not allow this. If you think it should, ask the course's teacher."),
            404: _("There is nothing at this address. Check the link, or go back to where you came from."),
            405: _("This address does not accept that kind of request."),
            413: _("The file or form you sent is larger than this server accepts."),
        }
        status = exc.code or 500
        if exc.description == "csrf":
            return error_response(400, "csrf_failed", _("The form has expired"),
                                  _("This page was open too long or in another session. Reload the page and "
                                    "try again; nothing was changed."))
        return error_response(status, (exc.name or "error").lower().replace(" ", "_"),
                              titles.get(status, exc.name), messages.get(status, exc.description or ""))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if app.config.get("TESTING"):
            raise exc
        return error_response(500, "internal_error", _("Something went wrong"),
                              _("The server hit an unexpected error. Nothing you sent was lost; "
                                "try again, and tell the administrator if it happens again."))
