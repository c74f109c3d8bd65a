"""Teacher pages for exam content: the question bank, the paper, sessions, grading and release."""
from flask import Blueprint

bp = Blueprint("teaching", __name__)

from bridge.web.teaching import exam_views, views  # noqa: E402  (route table below)

ID = "int(max=2147483647)"  # larger ids are 404, not a database overflow
C = f"/course/<{ID}:course_id>"
Q = C + f"/bank/<{ID}:question_id>"
E = C + f"/exams/<{ID}:exam_id>"
POST = {"methods": ["POST"]}

bp.add_url_rule(C + "/bank", "bank", views.bank_page)
bp.add_url_rule(C + "/bank/import", "import_bank", views.import_bank, **POST)
bp.add_url_rule(C + "/bank/import", "import_form", views.import_form)
bp.add_url_rule(C + f"/bank/imports/<{ID}:report_id>", "import_report", views.import_report)
bp.add_url_rule(C + "/bank/export", "export_bank", views.export_bank)
bp.add_url_rule(C + "/bank/new", "new_item", views.new_item)
bp.add_url_rule(C + "/bank/new", "create_item", views.create_item, **POST)
bp.add_url_rule(Q + "/edit", "edit_item", views.edit_item)
bp.add_url_rule(Q + "/edit", "update_item", views.update_item, **POST)
bp.add_url_rule(Q + "/preview", "preview_item", views.preview_item)
bp.add_url_rule(Q + "/archive", "confirm_archive", views.confirm_archive)
bp.add_url_rule(Q + "/archive", "archive_item", views.archive_item, **POST)

bp.add_url_rule(E + "/paper", "paper", exam_views.paper)
bp.add_url_rule(E + "/paper/items", "set_fixed", exam_views.set_fixed, **POST)
bp.add_url_rule(E + "/paper/draws", "set_draws", exam_views.set_draws, **POST)
bp.add_url_rule(E + "/paper/settings", "save_settings", exam_views.save_settings, **POST)
bp.add_url_rule(E + "/sessions", "sessions", exam_views.sessions)
bp.add_url_rule(E + "/sessions", "create_sitting", exam_views.create_sitting, **POST)
bp.add_url_rule(E + "/sessions/assign", "assign_candidates", exam_views.assign_candidates, **POST)
bp.add_url_rule(E + f"/sessions/<{ID}:session_id>/edit", "edit_sitting", exam_views.edit_sitting)
bp.add_url_rule(E + f"/sessions/<{ID}:session_id>/edit", "update_sitting", exam_views.update_sitting, **POST)
bp.add_url_rule(E + f"/sessions/<{ID}:session_id>/delete", "confirm_delete_sitting", exam_views.confirm_delete_sitting)
bp.add_url_rule(E + f"/sessions/<{ID}:session_id>/delete", "delete_sitting", exam_views.delete_sitting, **POST)
bp.add_url_rule(E + "/grading", "grading", exam_views.grading)
bp.add_url_rule(E + f"/grading/<{ID}:attempt_id>", "grade_attempt", exam_views.grade_attempt)
bp.add_url_rule(E + f"/grading/<{ID}:attempt_id>/items/<{ID}:question_id>", "grade_item", exam_views.grade_item, **POST)
bp.add_url_rule(E + f"/grading/questions/<{ID}:question_id>", "grade_question", exam_views.grade_question)
bp.add_url_rule(E + f"/grading/<{ID}:attempt_id>/files/<{ID}:file_id>", "answer_file", exam_views.answer_file)
bp.add_url_rule(E + "/release", "confirm_release", exam_views.confirm_release)
bp.add_url_rule(E + "/release", "release", exam_views.release, **POST)
