"""Before every console page: the person is staff, and the sitting in the address is one
their account covers (a proctor's room, a site admin's site; the admin's every room). The
services check it again with the actor (``bridge.services.people.access``). The live sockets answer
their own refusals in plain text before the upgrade."""
from __future__ import annotations

from flask import request

from bridge.extensions import db
from bridge.services.proctoring import basics
from bridge.web.auth import current_actor, require_staff

SOCKETS = {"console.socket", "console.session_socket"}


def check() -> None:
    if request.endpoint in SOCKETS:
        return
    require_staff("site_admin", "proctor")
    sitting_id = (request.view_args or {}).get("sitting_id")
    if sitting_id is not None:
        basics.sitting_of(db.session, sitting_id, current_actor())
