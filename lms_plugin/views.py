"""Thin HTTP adapters for the LTI endpoints; the rules live in lms_plugin.core/services."""
from __future__ import annotations

from flask import Blueprint, jsonify

from bridge.extensions import db
from lms_plugin.services import tool_keys

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")


@bp.get("/jwks")
def jwks():
    keys = tool_keys.published(db.session)
    db.session.commit()  # the first call on a fresh install stores the new key
    resp = jsonify({"keys": keys})
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
