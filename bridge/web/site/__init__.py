"""The site console (考点管理): sites, their rooms and each room's seat plan (V1, V2).

Site admins see only their own sites (``scope``); the admin sees every site.
Views: ``views`` (sites, rooms, seats), ``readiness`` (V3–V8), ``upkeep`` (V9)."""
from flask import Blueprint

bp = Blueprint("site", __name__)

from bridge.web.site import readiness, scope, upkeep, views  # noqa: E402

bp.before_request(scope.check)

bp.add_url_rule("/", "list_sites", views.list_sites)
bp.add_url_rule("/", "create_site", views.create_site, methods=["POST"])
bp.add_url_rule("/<site_id>", "show_site", views.show_site)
bp.add_url_rule("/<site_id>", "update_site", views.update_site, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms", "add_room", views.add_room, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats", "show_seats", views.show_seats)
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats", "add_seat", views.add_seat, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/scan", "scan_seats", views.scan_seats, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats.csv", "export_seats", views.export_seats)
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/display", "display_seats", views.display_seats, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/import", "import_seats", views.import_seats,
                methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/<int:seat_id>", "edit_seat", views.edit_seat,
                methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/<int:seat_id>/move", "move_seat", views.move_seat,
                methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/<int:seat_id>/delete", "delete_seat", views.delete_seat,
                methods=["GET", "POST"])

# the environment check of a room (V3)
_room = "/<site_id>/rooms/<int:room_id>"
bp.add_url_rule(f"{_room}/envcheck", "show_envcheck", readiness.show_envcheck)
bp.add_url_rule(f"{_room}/envcheck", "start_envcheck", readiness.start_envcheck, methods=["POST"])
bp.add_url_rule(f"{_room}/envcheck/requirements", "save_requirements", readiness.save_requirements, methods=["POST"])
bp.add_url_rule(f"{_room}/envcheck/report.html", "envcheck_report", readiness.envcheck_report)
# sessions, exam data, authorization (V4, V6, V8)
bp.add_url_rule("/<site_id>/sessions", "show_sessions", readiness.show_sessions)
bp.add_url_rule("/<site_id>/sessions", "place_session", readiness.place_session, methods=["POST"])
bp.add_url_rule("/<site_id>/sittings/<int:sitting_id>/build", "build_data", readiness.build_data, methods=["POST"])
bp.add_url_rule("/<site_id>/sittings/<int:sitting_id>/data.json", "export_data", readiness.export_data)
bp.add_url_rule("/<site_id>/sittings/<int:sitting_id>/load", "load_data", readiness.load_data, methods=["POST"])
bp.add_url_rule("/<site_id>/sittings/<int:sitting_id>/chart", "seating_chart", readiness.seating_chart)
bp.add_url_rule("/<site_id>/sittings/<int:sitting_id>/chart.pdf", "seating_chart_pdf", readiness.seating_chart)
bp.add_url_rule("/<site_id>/sessions/<int:session_id>/authorize", "authorize_session", readiness.authorize_session,
                methods=["POST"])
bp.add_url_rule("/<site_id>/sessions/<int:session_id>/authorization.json", "export_authorization",
                readiness.export_authorization)
bp.add_url_rule("/<site_id>/authorization", "import_authorization", readiness.import_authorization, methods=["POST"])
bp.add_url_rule("/<site_id>/sessions/<int:session_id>/verify", "verify_session", readiness.verify_session,
                methods=["POST"])
# sealing check and monitoring (V7, V8)
bp.add_url_rule("/<site_id>/sessions/<int:session_id>/sealing", "show_sealing", readiness.show_sealing)
bp.add_url_rule("/<site_id>/sessions/<int:session_id>/sealing", "run_sealing", readiness.run_sealing, methods=["POST"])
bp.add_url_rule("/<site_id>/sessions/<int:session_id>/monitor", "show_monitor", readiness.show_monitor)
# stations (V5)
bp.add_url_rule("/<site_id>/stations", "show_stations", readiness.show_stations)
bp.add_url_rule(f"{_room}/station/code", "new_station_code", readiness.new_station_code, methods=["POST"])
bp.add_url_rule(f"{_room}/station/revoke", "revoke_station", readiness.revoke_station, methods=["GET", "POST"])
bp.add_url_rule("/<site_id>/site-info", "site_info", readiness.site_info)
bp.add_url_rule("/<site_id>/site-file", "site_file", readiness.site_file)
# backup, restore, init, password (V9)
bp.add_url_rule("/<site_id>/upkeep", "show_upkeep", upkeep.show_upkeep)
bp.add_url_rule("/<site_id>/backup", "download_backup", upkeep.download_backup, methods=["POST"])
bp.add_url_rule("/restore", "restore_backup", upkeep.restore_backup, methods=["POST"])
bp.add_url_rule("/<site_id>/init", "init_site", upkeep.init_site, methods=["POST"])
bp.add_url_rule("/password", "password", upkeep.password, methods=["GET", "POST"])

from bridge.web.site import collection  # noqa: E402

bp.add_url_rule("/<site_id>/collection", "show_collection", collection.show_collection)
bp.add_url_rule("/<site_id>/collection", "import_results", collection.import_results, methods=["POST"])

from bridge.web.site import registrations  # noqa: E402

bp.add_url_rule("/<site_id>/registrations", "registrations", registrations.registrations_page)
bp.add_url_rule("/<site_id>/registrations/approve", "approve_registrations", registrations.approve, methods=["POST"])
bp.add_url_rule("/<site_id>/registrations/<int:registration_id>", "show_registration", registrations.show)
bp.add_url_rule("/<site_id>/registrations/<int:registration_id>/reject", "reject_registration", registrations.reject,
                methods=["POST"])
bp.add_url_rule("/<site_id>/registrations/<int:registration_id>/photo.jpg", "registration_photo",
                registrations.photo)
bp.add_url_rule("/<site_id>/registrations/<int:registration_id>/confirm", "confirm_registration",
                registrations.confirm_onsite, methods=["POST"])
bp.add_url_rule("/<site_id>/verify/<token>", "verify_ticket", registrations.verify_ticket)
