"""The site console (考点管理): sites, their rooms and each room's seat plan (V1, V2).

Administrators only for now (a site-admin role bound to one site comes with the site's
accounts, V9)."""
from flask import Blueprint

bp = Blueprint("site", __name__)

from bridge.web.site import views  # noqa: E402

bp.add_url_rule("/", "list_sites", views.list_sites)
bp.add_url_rule("/", "create_site", views.create_site, methods=["POST"])
bp.add_url_rule("/<site_id>", "show_site", views.show_site)
bp.add_url_rule("/<site_id>", "update_site", views.update_site, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms", "add_room", views.add_room, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats", "show_seats", views.show_seats)
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats", "add_seat", views.add_seat, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/scan", "scan_seats", views.scan_seats, methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats.csv", "export_seats", views.export_seats)
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/import", "import_seats", views.import_seats,
                methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/<int:seat_id>", "edit_seat", views.edit_seat,
                methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/<int:seat_id>/move", "move_seat", views.move_seat,
                methods=["POST"])
bp.add_url_rule("/<site_id>/rooms/<int:room_id>/seats/<int:seat_id>/delete", "delete_seat", views.delete_seat,
                methods=["GET", "POST"])
