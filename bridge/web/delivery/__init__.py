"""The candidate's side: from the LMS (or an exam code) to the submitted page (C1–C7), and the
proctor's session page (lock/unlock until the full console arrives)."""
from flask import Blueprint

bp = Blueprint("delivery", __name__)

from bridge.web.delivery import admission, proctor, views  # noqa: E402

bp.add_url_rule("/exam/<int:exam_id>/sit", "sit", views.sit)
bp.add_url_rule("/code", "code", views.code, methods=["GET", "POST"])
bp.add_url_rule("/exam/sign-in", "admission_sign_in", admission.sign_in_page, methods=["GET", "POST"])
bp.add_url_rule("/attempt/<int:attempt_id>", "attempt", views.attempt)
bp.add_url_rule("/attempt/<int:attempt_id>/info", "save_info", views.save_info, methods=["POST"])
bp.add_url_rule("/attempt/<int:attempt_id>/rules", "read_rules", views.read_rules, methods=["POST"])
bp.add_url_rule("/attempt/<int:attempt_id>/start", "start", views.start, methods=["POST"])
bp.add_url_rule("/attempt/<int:attempt_id>/gate", "gate", views.gate)
bp.add_url_rule("/attempt/<int:attempt_id>/unloaded", "page_unloaded", views.page_unloaded, methods=["POST"])
bp.app_context_processor(views.candidate_globals)
bp.add_url_rule("/attempt/<int:attempt_id>/lock", "lock", views.lock, methods=["POST"])
bp.add_url_rule("/attempt/<int:attempt_id>/unlock", "unlock", views.unlock, methods=["POST"])
bp.add_url_rule("/attempt/<int:attempt_id>/upload/<int:question_id>", "upload", views.upload, methods=["POST"])
bp.add_url_rule("/attempt/<int:attempt_id>/media/<int:question_id>/<path:name>", "media", views.media)
bp.add_url_rule("/exam/<int:exam_id>/proctor", "proctor", proctor.page)
bp.add_url_rule("/exam/<int:exam_id>/proctor/<int:attempt_id>/unlock", "proctor_unlock", proctor.unlock,
                methods=["POST"])
bp.add_url_rule("/exam/<int:exam_id>/proctor/<int:attempt_id>/code", "proctor_code", proctor.code,
                methods=["POST"])
