"""The proctor console (监考管理): ``/console/`` pages and the live board over
``/ws/console/<room>`` (P1–P16). A proctor sees the sittings of their room (or their one
sitting), a site admin those of their sites, the admin all (``bridge.services.people.access``)."""
from flask import Blueprint

bp = Blueprint("console", __name__)

from bridge.web.console import live, records, scope, views  # noqa: E402

bp.before_request(scope.check)

bp.add_url_rule("/console/", "home", views.home)
bp.add_url_rule("/console/<int:sitting_id>", "show", views.show)
bp.add_url_rule("/console/<int:sitting_id>/enter", "enter", views.enter, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/board.json", "board_json", views.board_json)
bp.add_url_rule("/console/<int:sitting_id>/allow-login", "allow_login", views.allow_login, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/allow-start", "allow_start", views.allow_start, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/request-code", "request_code", views.request_code, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/violations", "violations", views.violations, methods=["GET", "POST"])
bp.add_url_rule("/console/<int:sitting_id>/violations.csv", "violations_csv", records.violations_csv)
bp.add_url_rule("/console/<int:sitting_id>/violations/<int:violation_id>/cancel", "cancel_violation",
                views.cancel_violation, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/extra-time", "extra_time", views.extra_time, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/absent", "absent", views.absent, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/end", "end", views.end, methods=["GET", "POST"])
bp.add_url_rule("/console/<int:sitting_id>/resume", "resume", views.resume, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/lock", "lock_screen", views.lock_screen, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/candidates/<int:attempt_id>/log", "candidate_log", records.candidate_log)
bp.add_url_rule("/console/<int:sitting_id>/candidates/<int:attempt_id>/log.csv", "candidate_log_csv",
                records.candidate_log)
bp.add_url_rule("/console/<int:sitting_id>/packs", "import_pack", views.import_pack, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/record", "room_record", records.room_record)
bp.add_url_rule("/console/<int:sitting_id>/record.pdf", "room_record_pdf", records.room_record)
bp.add_url_rule("/console/<int:sitting_id>/verification", "verification", records.verification)
bp.add_url_rule("/console/<int:sitting_id>/results.<any(csv, xlsx):fmt>", "results_export", records.results_export)
bp.add_url_rule("/console/<int:sitting_id>/violations.xlsx", "violations_xlsx", records.violations_xlsx)
bp.add_url_rule("/console/<int:sitting_id>/backup", "backup", records.backup, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/upload", "upload_step", records.upload_step, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/remote", "remote", views.remote, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/audit", "audit_trail", records.audit_trail)
bp.add_url_rule("/console/<int:sitting_id>/audit.csv", "audit_csv", records.audit_trail)
bp.add_url_rule("/console/<int:sitting_id>/re-exam", "re_exam", views.re_exam, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/collect", "collect", views.collect, methods=["POST"])
bp.add_url_rule("/console/<int:sitting_id>/mock/<any(login, answer, collect):act>", "mock", views.mock,
                methods=["POST"])
bp.add_url_rule("/console/violation-codes", "violation_codes", views.violation_codes, methods=["GET", "POST"])
bp.add_url_rule("/console/<int:sitting_id>/resumes.csv", "resume_log_csv", records.resume_log_csv)
bp.add_url_rule("/console/<int:sitting_id>/requests/<int:request_id>/cancel", "cancel_request", views.cancel_request,
                methods=["POST"])
bp.add_url_rule("/ws/console/<int:room_id>", "socket", live.socket, websocket=True)
bp.add_url_rule("/ws/proctor/<int:session_id>", "session_socket", live.session_socket, websocket=True)
