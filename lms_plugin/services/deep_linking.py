"""Deep linking (L3): the teacher picks or creates an exam; the tool answers the LMS with an
``ltiResourceLink`` that carries the exam id and a line item."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Invalid
from bridge.models.users import Course
from bridge.services import audit
from bridge.services.exams import exams
from lms_plugin.core import claims as C
from lms_plugin.core import deep_linking as core
from lms_plugin.core.keys import load_private
from lms_plugin.core.oidc import same_origin
from lms_plugin.errors import LtiError
from lms_plugin.models import Platform
from lms_plugin.services import tool_keys


@dataclass
class DeepLinkForm:
    return_url: str
    jwt: str


def respond(session: Session, dl: dict, *, user_id: int, exam_id: str | None, title: str,
            duration_minutes: str, tool_base: str) -> DeepLinkForm:
    platform = session.get(Platform, dl["platform_id"])
    course = session.get(Course, dl["course_id"])
    if platform is None or course is None:
        raise LtiError("The LMS registration or course of this request no longer exists.", reason="no_deep_link")
    # Before any write: on a fresh install this commits the first key in its own transaction.
    key_row = tool_keys.signing_key(session)
    return_url = dl.get("return_url") or ""
    if not same_origin(return_url, platform.issuer) and not same_origin(return_url, platform.auth_login_url):
        raise LtiError("The LMS's return address is not on the LMS's own host; refusing to post there.",
                       reason="foreign_return_url", detail=return_url)
    if exam_id:
        try:
            exam = exams.get_exam(session, int(exam_id))
        except ValueError:
            raise Invalid("Choose one of the listed exams.") from None
        if exam.course_id != course.id:
            raise Invalid("That exam belongs to another course.")
    else:
        exam = exams.create_exam(session, course, title=title, duration_minutes=duration_minutes,
                                 actor_id=user_id)
    item = core.resource_link_item(
        title=exam.title, url=f"{tool_base}/lti/launch", custom={C.CUSTOM_EXAM: exam.public_id},
        text=f"{exam.duration_minutes} min", score_maximum=exam.score_maximum, resource_id=exam.public_id)
    token = core.response_jwt(load_private(tool_keys.private_pem(key_row), key_row.kid), client_id=platform.client_id,
                              platform_issuer=platform.issuer, deployment_id=dl["deployment_id"],
                              items=[item], data=dl.get("data"), now=clock.timestamp())
    audit.record(session, "lti.deeplink", actor=f"user:{user_id}", target=f"exam:{exam.id}",
                 # the return URL's query carries Moodle's sesskey: never into the audit log
                 detail={"course": course.id, "return_url": return_url.split("?", 1)[0]})
    return DeepLinkForm(return_url=return_url, jwt=token)
