"""``POST /hub/commands``: an administrator sends a command to kiosks (HTTP; the hub relays
it to the kiosks' sockets, on this worker or another)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from bridge.errors import Forbidden, Invalid, Unauthorized
from bridge.extensions import db
from bridge.hub import issue_commands
from bridge.i18n import N_
from bridge.web.auth import current_user

bp = Blueprint("commands", __name__)


@bp.post("/hub/commands")
def post_commands():
    """``{"kiosks": [id, ...], "name": str, "args": {}}`` → ``{"commands": [id, ...]}``."""
    user = current_user()
    if user is None:
        raise Unauthorized(N_("Sign in first."))
    if not user.is_admin:
        raise Forbidden(N_("Only an administrator may send commands to kiosks here."))
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("kiosks"), list) \
            or not all(isinstance(k, int) and not isinstance(k, bool) for k in body["kiosks"]):
        raise Invalid(N_("Send {\"kiosks\": [id, ...], \"name\": ..., \"args\": {...}}."))
    actor = f"user:{user.id}"
    db.session.close()
    ids = issue_commands(current_app._get_current_object(), body["kiosks"], body.get("name") or "",
                         body.get("args"), issued_by=actor)
    return jsonify(commands=ids)
