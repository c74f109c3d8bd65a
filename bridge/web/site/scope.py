"""Before every site-console view: the person is a site admin (or the admin), the site in
the address is one of theirs, and every id under it belongs to it. An id from another site
is "not found" under this one; another site is "not allowed". The services check the site
again with the actor (``bridge.services.people.access``)."""
from __future__ import annotations

from flask import request

from bridge.errors import NotFound
from bridge.extensions import db
from bridge.i18n import N_
from bridge.models.venues import Seat
from bridge.services.people import access
from bridge.services.venue import exam_data, venues
from bridge.web.auth import require_staff

#: pages every staff member may open (their own password)
ANY_STAFF = {"site.password"}
#: acts only the admin does (a site admin runs the sites they are given)
ADMIN_ONLY = {"site.create_site"}


def check() -> None:
    if request.endpoint in ANY_STAFF:
        require_staff()
        return
    actor = require_staff("site_admin")
    if request.endpoint in ADMIN_ONLY:
        access.check_admin(actor)
    args = request.view_args or {}
    site_id = args.get("site_id")
    if site_id is None:
        return
    venues.get_site(db.session, site_id, actor=actor)  # 404 for no such site, 403 for another's
    if "room_id" in args:
        venues.room_of(db.session, args["room_id"], site_id)
    if "seat_id" in args:
        seat = db.session.get(Seat, args["seat_id"])
        if seat is None or seat.room_id != args.get("room_id"):
            raise NotFound(N_("That seat does not exist."))
    if "sitting_id" in args:
        exam_data.sitting_of(db.session, args["sitting_id"], site_id)
    if "session_id" in args:
        access.check_exam_session_at_site(db.session, actor, site_id, args["session_id"])
