"""The proctor station's registration to its room (V5): ``/station/``. A station is the
browser in the exam room the proctor runs the room from; it registers once with the room
code and registration code (or restores from the signed site file after a reinstall) and
keeps the station token in a first-party cookie."""
from flask import Blueprint

bp = Blueprint("station", __name__)

from bridge.web.station import views  # noqa: E402

bp.add_url_rule("/", "home", views.home)
bp.add_url_rule("/register", "register", views.register, methods=["POST"])
bp.add_url_rule("/restore", "restore", views.restore, methods=["POST"])
