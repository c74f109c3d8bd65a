"""Moodle's URL shapes, built from the sandbox's issuer (its wwwroot).

A tool sees exactly the paths it would see on Moodle 4.5: services under
``/mod/lti/services.php/...`` with ``?type_id=`` on the AGS URLs, so a tool that builds
``/scores`` by string concatenation instead of inserting it before the query string fails
here as it would on Moodle.
"""
from __future__ import annotations

from urllib.parse import urlencode

from .course import COURSE_ID


class MoodleUrls:
    def __init__(self, issuer: str):
        self.issuer = issuer.rstrip("/")

    def _u(self, path: str, **query) -> str:
        q = {k: v for k, v in query.items() if v is not None}
        return f"{self.issuer}{path}" + (f"?{urlencode(q)}" if q else "")

    # --- OpenID / OAuth ------------------------------------------------------------------
    @property
    def openid_configuration(self) -> str:
        return self._u("/mod/lti/openid-configuration.php")

    @property
    def auth(self) -> str:
        return self._u("/mod/lti/auth.php")

    @property
    def token(self) -> str:
        return self._u("/mod/lti/token.php")

    @property
    def certs(self) -> str:
        return self._u("/mod/lti/certs.php")

    @property
    def registration(self) -> str:
        return self._u("/mod/lti/openid-registration.php")

    # --- LTI Advantage services ----------------------------------------------------------
    def memberships(self, type_id: int) -> str:
        return self._u(f"/mod/lti/services.php/CourseSection/{COURSE_ID}/bindings/{type_id}/memberships")

    def lineitems(self, type_id: int) -> str:
        return self._u(f"/mod/lti/services.php/{COURSE_ID}/lineitems", type_id=type_id)

    def lineitem(self, line_item_id: int, type_id: int) -> str:
        return self._u(f"/mod/lti/services.php/{COURSE_ID}/lineitems/{line_item_id}/lineitem",
                       type_id=type_id)

    def results(self, line_item_id: int, type_id: int, user_id: str | None = None) -> str:
        return self._u(f"/mod/lti/services.php/{COURSE_ID}/lineitems/{line_item_id}/lineitem/results",
                       type_id=type_id, user_id=user_id)

    @property
    def basic_outcome_service(self) -> str:
        return self._u("/mod/lti/service.php")

    # --- Browser-facing ------------------------------------------------------------------
    def return_url(self, activity_id: int, container_code: int, sesskey: str) -> str:
        return self._u("/mod/lti/return.php", course=COURSE_ID, launch_container=container_code,
                       instanceid=activity_id, sesskey=sesskey)

    def content_item_return(self, type_id: int, sesskey: str) -> str:
        return self._u("/mod/lti/contentitem_return.php", course=COURSE_ID, id=type_id, sesskey=sesskey)

    def course(self) -> str:
        return self._u(f"/course/{COURSE_ID}")

    def launch(self, user_id: int, activity_id: int, container: str = "window") -> str:
        return self._u(f"/course/{COURSE_ID}/launch", user=user_id, link=activity_id, container=container)

    def deep_link(self, user_id: int, client_id: str, container: str = "window") -> str:
        return self._u(f"/course/{COURSE_ID}/deeplink", user=user_id, tool=client_id, container=container)
