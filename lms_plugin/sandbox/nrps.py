"""Names and Role Provisioning Service (NRPS 2.0) in Moodle's shapes (fixtures 04–06, 13).

Overrides the library's ``handle_get_members``: it crashes on ``page + 1`` with a string
page (bug 7), passes every query parameter as a keyword (bug 8) and never sends a Link
header. Here: ``limit``/``from`` paging with ``Link: <next>; rel="next"``, the ``role``
filter (full URI or short name) and ``rlid`` (adds each member's message claims).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint
from lti1p3platform.exceptions import LtiServiceException
from lti1p3platform.membership import Context, ContextMembership
from lti1p3platform.response import Response
from lti1p3platform.service_connector import NamesRoleProvisioningService, TPage, authenticate
from lti1p3platform.utils import dataclass_to_dict

from . import shapes
from .adapter import FlaskRequest, SandboxPlatformConf
from .course import COURSE_ID, COURSE_LABEL, COURSE_TITLE, role_filter_matches, roster
from .services import PagedResponse, page, parse_paging, serve
from .vocab import MEDIA_MEMBERSHIPS, SCOPE_NRPS

bp = Blueprint("sandbox_nrps", __name__)


class SandboxNRPS(NamesRoleProvisioningService):
    def __init__(self, request: FlaskRequest, conf: SandboxPlatformConf):
        super().__init__(request, conf, conf.sandbox.urls.memberships(conf.tool.type_id))
        self.conf = conf

    @property
    def allowed_scopes(self) -> list[str]:
        return [SCOPE_NRPS]

    def get_context_by_id(self) -> Context:
        return Context(id=str(COURSE_ID), label=COURSE_LABEL, title=COURSE_TITLE)

    def is_resource_link_valid(self, context_id: str, resource_link_id: str) -> bool:
        activity = self.conf.sandbox.activity(resource_link_id)
        return activity is not None and activity.client_id == self.conf.tool.client_id

    def get_member_data_page(self, page: int = 1, limit: int | None = None, role: str | None = None,
                             since: str | None = None, *, offset: int = 0, rlid: str | None = None,
                             **ignored: Any) -> TPage:
        sb, tool = self.conf.sandbox, self.conf.tool
        users = [u for u in roster() if not role or role_filter_matches(u, role)]
        members = []
        for user in users:
            message = None
            if rlid:
                sourcedid = sb.outcome_sourcedid(int(rlid), user.id, tool.type_id)
                message = shapes.member_message(sourcedid, sb.urls)
            members.append(shapes.member(user, tool, message))
        return {"content": members, "has_next": False}

    @authenticate(allow_methods=["GET"], accept=MEDIA_MEMBERSHIPS)
    def handle_get_members(self) -> Response:
        query = dict(self.request.get_data)
        limit, offset = parse_paging(query)
        rlid = query.get("rlid") or None
        if rlid and not self.is_resource_link_valid(str(COURSE_ID), rlid):
            raise LtiServiceException(f"Not Found: resource link {rlid} of this tool", 404)
        everyone = self.get_member_data_page(role=query.get("role") or None, rlid=rlid)["content"]
        members, next_url = page(everyone, limit, offset, self.nrps.context_memberships_url, query)
        body = dataclass_to_dict(ContextMembership(id=self.nrps.context_memberships_url,
                                                   context=self.get_context_by_id()))
        body["members"] = self.clean_members(members)
        return PagedResponse(body, next_url=next_url)


@bp.get("/mod/lti/services.php/CourseSection/<int:course_id>/bindings/<int:type_id>/memberships")
def memberships(course_id: int, type_id: int):
    return serve(type_id, SandboxNRPS, "handle_get_members", media_type=MEDIA_MEMBERSHIPS, course_id=course_id)
