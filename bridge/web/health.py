"""Liveness and readiness for load balancers and operators."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, send_from_directory
from sqlalchemy import text

from bridge.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    from bridge.migrate import current_and_head

    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # the database is down: not ready, and say why
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable", error=str(exc)[:300]), 503
    current, head = current_and_head(db.engine)
    if current != head:
        return jsonify(status="unavailable", database="ok", migrations="behind",
                       current=current, head=head), 503
    return jsonify(status="ok", database="ok", migrations="current", revision=head)


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for on every page that names none (JSON, plain text, errors);
    pages of base.html link the SVG one."""
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=86400)
