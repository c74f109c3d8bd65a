"""The exam page's JSON API: autosave, submit and the attempt's state (C5, C7).

Every write goes through the group writer (``bridge.runtime.writer``): a response comes back only
after the transaction that holds the change has committed. CSRF: the page sends the
session's token in ``X-CSRF-Token`` (``bridge.web.csrf``).
"""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from bridge.web.api import views  # noqa: E402,F401  (route table below)

bp.add_url_rule("/attempts/<int:attempt_id>/answers", "save_answers", views.save_answers, methods=["POST"])
bp.add_url_rule("/attempts/<int:attempt_id>/submit", "submit_attempt", views.submit_attempt, methods=["POST"])
bp.add_url_rule("/attempts/<int:attempt_id>/state", "attempt_state", views.attempt_state)
