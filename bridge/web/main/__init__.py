"""Landing pages after an LTI launch: the teacher's course page, the candidate's exams."""
from flask import Blueprint

bp = Blueprint("main", __name__)

from bridge.web.main import views  # noqa: E402,F401  (route table below)

bp.add_url_rule("/", "index", views.index)
bp.add_url_rule("/course/<int:course_id>", "course_home", views.course_home)
bp.add_url_rule("/course/<int:course_id>/exams", "create_exam", views.create_exam, methods=["POST"])
bp.add_url_rule("/course/<int:course_id>/proctors", "designate_proctor", views.designate_proctor,
                methods=["POST"])
bp.add_url_rule("/course/<int:course_id>/roster/sync", "sync_roster", views.sync_roster, methods=["POST"])
bp.add_url_rule("/course/<int:course_id>/exams/<int:exam_id>/score", "publish_score",
                views.publish_score, methods=["POST"])
bp.add_url_rule("/exam/<int:exam_id>", "exam_home", views.exam_home)
bp.add_url_rule("/exam/<int:exam_id>/deliveries", "exam_deliveries", views.exam_deliveries)
bp.add_url_rule("/locale/<code>", "set_locale", views.set_locale, methods=["POST"])
bp.add_url_rule("/logout", "logout", views.logout, methods=["POST"])
