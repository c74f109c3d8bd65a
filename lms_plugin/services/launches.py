"""Login initiation and launch completion: state, nonce, validation, then the people,
course and resource link the launch describes. Services flush; callers commit."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.exams import Exam
from bridge.models.users import Course, CourseMember, User
from bridge.services import audit
from lms_plugin.core import claims as C
from lms_plugin.core import oidc
from lms_plugin.core.jwks import JwksCache
from lms_plugin.core.launch import LaunchContext, PlatformInfo, validate_id_token
from lms_plugin.core.roles import map_roles
from lms_plugin.errors import LaunchRejected, LoginRejected
from lms_plugin.models import Deployment, LaunchTicket, LoginState, Platform, ResourceLink, UsedNonce
from lms_plugin.services import gradebook, http

STATE_COOKIE_PREFIX = "eb_lti_"
LAUNCH_PATHS = ("/lti/launch", "/lti/deeplink")


def state_cookie_name(state: str) -> str:
    return STATE_COOKIE_PREFIX + state[:16]


def jwks_cache() -> JwksCache:
    app = current_app._get_current_object()
    cache = app.extensions.get("exambridge_jwks")
    if cache is None:
        cache = JwksCache(lambda url: http.get_json(url),
                          ttl=float(app.config["EXAMBRIDGE_LTI_JWKS_CACHE_SECONDS"]))
        app.extensions["exambridge_jwks"] = cache
    return cache


@dataclass
class LoginStart:
    login: oidc.LoginRequest
    auth_url: str
    state: str
    binding_secret: str
    cookie_name: str
    platform: Platform


def begin_login(session: Session, params, *, tool_base: str) -> LoginStart:
    login = oidc.parse_login(params)
    platform = _platform_for_login(session, login)
    if not oidc.same_origin(login.target_link_uri, tool_base):
        raise LoginRejected("The LMS asked to launch an address that is not this tool.",
                            reason="foreign_target_link_uri", detail=login.target_link_uri)
    if login.lti_deployment_id and login.lti_deployment_id not in {d.deployment_id for d in platform.deployments}:
        raise LoginRejected("This LMS deployment is not registered with the tool; an administrator must add it.",
                            reason="unknown_deployment", detail=login.lti_deployment_id)
    target_path = "/" + login.target_link_uri.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    redirect_path = target_path.rstrip("/") if target_path.rstrip("/") in LAUNCH_PATHS else "/lti/launch"
    _purge_expired(session)
    state, nonce, secret = oidc.new_secret(), oidc.new_secret(), oidc.new_secret()
    session.add(LoginState(state=state, nonce=nonce, platform_id=platform.id,
                           target_link_uri=login.target_link_uri, binding_hash=oidc.binding_hash(secret)))
    session.flush()
    url = oidc.auth_request_url(platform.auth_login_url, client_id=platform.client_id,
                                redirect_uri=tool_base + redirect_path, login=login, state=state, nonce=nonce)
    return LoginStart(login=login, auth_url=url, state=state, binding_secret=secret,
                      cookie_name=state_cookie_name(state), platform=platform)


# Login states are useless after their TTL, used nonces after an id_token's maximum age
# (launch.MAX_TOKEN_AGE_SECONDS + leeway); both are kept a day for the audit's sake.
RETENTION = dt.timedelta(days=1)


def _purge_expired(session: Session) -> None:
    cutoff = clock.utcnow_naive() - RETENTION
    session.execute(delete(LoginState).where(LoginState.created_at < cutoff))
    session.execute(delete(UsedNonce).where(UsedNonce.used_at < cutoff))
    session.execute(delete(LaunchTicket).where(LaunchTicket.expires_at < cutoff))


def _platform_for_login(session: Session, login: oidc.LoginRequest) -> Platform:
    stmt = select(Platform).where(Platform.issuer == login.iss)
    if login.client_id:
        stmt = stmt.where(Platform.client_id == login.client_id)
    found = list(session.scalars(stmt))
    if not found:
        raise LoginRejected("This LMS is not registered with ExamBridge. An administrator must register it "
                            "first (see docs/admin-lti.md).", reason="unknown_issuer",
                            detail=f"iss={login.iss!r} client_id={login.client_id!r}")
    if len(found) > 1:
        raise LoginRejected("Several registrations share this issuer and the LMS sent no client_id; "
                            "the administrator must configure the LMS to send it.",
                            reason="ambiguous_client", detail=login.iss)
    if not found[0].active:
        raise LoginRejected("The administrator has disabled launches from this LMS.",
                            reason="platform_disabled", detail=login.iss)
    return found[0]


def check_state(session: Session, state: str | None, binding_secret: str | None) -> LoginState:
    """The login state for this launch (read only); LaunchRejected when missing, expired,
    already used or not bound to this browser. ``consume_state`` marks it used."""
    if not state:
        raise LaunchRejected("The launch has no state. Start again from the LMS.", reason="missing_state")
    row = session.get(LoginState, state)
    if row is None:
        raise LaunchRejected("The launch does not belong to a login this tool started. Start again from the LMS.",
                             reason="unknown_state")
    ttl = dt.timedelta(seconds=current_app.config["EXAMBRIDGE_LTI_STATE_TTL_SECONDS"])
    if row.consumed_at is not None:
        raise LaunchRejected("This launch was already used. Open the activity again from the LMS.",
                             reason="state_replayed")
    if clock.utcnow_naive() - row.created_at > ttl:
        raise LaunchRejected("The login took too long and expired. Open the activity again from the LMS.",
                             reason="state_expired")
    if not binding_secret or oidc.binding_hash(binding_secret) != row.binding_hash:
        raise LaunchRejected("The launch did not come back to the browser that started it. If your browser "
                             "blocks cookies in the LMS page, open the activity in a new window.",
                             reason="state_not_bound")
    return row


def consume_state(session: Session, state: str) -> None:
    """Single use even against a concurrent request with the same state: only one UPDATE
    finds it unused."""
    result = session.execute(update(LoginState).where(LoginState.state == state, LoginState.consumed_at.is_(None))
                             .values(consumed_at=clock.utcnow_naive()))
    if result.rowcount != 1:
        raise LaunchRejected("This launch was already used. Open the activity again from the LMS.",
                             reason="state_replayed")


def _use_nonce(session: Session, platform: Platform, nonce: str) -> None:
    try:
        with session.begin_nested():
            session.add(UsedNonce(platform_id=platform.id, nonce=nonce))
    except IntegrityError:
        raise LaunchRejected("This launch was already used (its nonce was seen before).",
                             reason="nonce_replayed") from None


@dataclass
class LaunchOutcome:
    ctx: LaunchContext
    platform: Platform
    user: User
    course: Course | None
    member: CourseMember | None
    role: str
    resource_link: ResourceLink | None


def complete_launch(session: Session, *, id_token: str | None, state: str | None,
                    binding_secret: str | None, remote_addr: str = "") -> LaunchOutcome:
    # Read, validate (which may fetch the platform's keys), and only then write: no network
    # call happens while this transaction holds a write lock (on SQLite under gevent, a
    # lock held across network I/O stalls every other writer of the process).
    login = check_state(session, state, binding_secret)
    platform = session.get(Platform, login.platform_id)
    if platform is None or not platform.active:
        raise LaunchRejected("Launches from this LMS are disabled.", reason="platform_disabled")
    info = PlatformInfo(issuer=platform.issuer, client_id=platform.client_id,
                        deployment_ids=frozenset(d.deployment_id for d in platform.deployments))
    cache = jwks_cache()
    ctx = validate_id_token(id_token or "", platform=info,
                            key_for_kid=lambda kid: cache.key(platform.jwks_url, kid),
                            expected_nonce=login.nonce, expected_target_link_uri=login.target_link_uri,
                            now=clock.timestamp(),
                            leeway=int(current_app.config["EXAMBRIDGE_LTI_LEEWAY_SECONDS"]))
    consume_state(session, login.state)
    _use_nonce(session, platform, login.nonce)
    role = map_roles(ctx.roles)
    if role is None:
        raise LaunchRejected("Your role in this course gives no access to ExamBridge.", reason="no_role",
                             detail=f"roles={ctx.roles!r}")
    deployment = session.scalars(select(Deployment).where(
        Deployment.platform_id == platform.id, Deployment.deployment_id == ctx.deployment_id)).one()
    user = _upsert_user(session, platform, ctx)
    course = member = link = None
    if ctx.context.get("id"):
        course = _upsert_course(session, deployment, ctx)
        member = _upsert_member(session, course, user, role, ctx)
        if ctx.resource_link.get("id"):
            link = _upsert_link(session, course, ctx)
    audit.record(session, "lti.launch", actor=f"user:{user.id}", remote_addr=remote_addr,
                 target=f"course:{course.id}" if course else f"platform:{platform.id}",
                 detail={"message_type": ctx.message_type, "role": role, "iss": ctx.issuer,
                         "deployment": ctx.deployment_id, "resource_link": ctx.resource_link.get("id")})
    return LaunchOutcome(ctx=ctx, platform=platform, user=user, course=course, member=member, role=role,
                         resource_link=link)


def _upsert_user(session: Session, platform: Platform, ctx: LaunchContext) -> User:
    user = session.scalars(select(User).where(User.platform_id == platform.id, User.lti_sub == ctx.sub)).first()
    if user is None:
        user = User(platform_id=platform.id, lti_sub=ctx.sub)
        session.add(user)
    # Names and email follow the LMS; a launch that omits them (privacy settings) keeps ours.
    for attr in ("name", "given_name", "family_name", "email", "sourcedid"):
        value = getattr(ctx, attr)
        if value:
            setattr(user, attr, value[:320])
    if ctx.locale:
        user.locale = ctx.locale[:16]
    session.flush()
    return user


def _one_or_new(session: Session, model, **keys):
    """The row with these key columns, or a new one added to the session."""
    row = session.scalars(select(model).filter_by(**keys)).first()
    if row is None:
        row = model(**keys)
        session.add(row)
    return row


def _upsert_course(session: Session, deployment: Deployment, ctx: LaunchContext) -> Course:
    cid = str(ctx.context["id"])
    course = _one_or_new(session, Course, deployment_id=deployment.id, context_id=cid)
    course.label = str(ctx.context.get("label") or course.label or "")[:255]
    course.title = str(ctx.context.get("title") or course.title or "")[:500]
    nrps_url = ctx.nrps.get("context_memberships_url")
    if isinstance(nrps_url, str) and nrps_url:
        course.nrps_url = nrps_url
    lineitems = ctx.ags.get("lineitems")
    if isinstance(lineitems, str) and lineitems:
        course.ags_lineitems_url = lineitems
    scopes = ctx.ags.get("scope")
    if isinstance(scopes, list):
        course.ags_scopes = [s for s in scopes if isinstance(s, str)]
    session.flush()
    return course


def _upsert_member(session: Session, course: Course, user: User, role: str, ctx: LaunchContext) -> CourseMember:
    member = _one_or_new(session, CourseMember, course_id=course.id, user_id=user.id)
    member.role = role
    member.lms_roles = list(ctx.roles)
    member.active = True
    member.source = "launch"
    member.updated_at = clock.utcnow_naive()
    session.flush()
    return member


def _upsert_link(session: Session, course: Course, ctx: LaunchContext) -> ResourceLink:
    rlid = str(ctx.resource_link["id"])
    link = _one_or_new(session, ResourceLink, course_id=course.id, resource_link_id=rlid)
    link.title = str(ctx.resource_link.get("title") or link.title or "")[:500]
    public_id = ctx.custom.get(C.CUSTOM_EXAM)
    if isinstance(public_id, str) and public_id:
        exam = session.scalars(select(Exam).where(Exam.public_id == public_id)).first()
        if exam is not None and exam.course_id == course.id:
            link.exam_id = exam.id
        elif exam is not None and exam.course_id != course.id:
            # A link copied into another course (course copy/backup-restore): the exam stays
            # with its own course; the teacher places one here.
            link.exam_id = None
    lineitem = ctx.ags.get("lineitem")
    if isinstance(lineitem, str) and lineitem and len(lineitem) <= 2000:
        link.lineitem_url = lineitem  # the activity's own gradebook column
    session.flush()
    if link.exam_id and link.lineitem_url:
        exam = session.get(Exam, link.exam_id)
        if exam is not None:  # one exam, one column: the activity's (lms_plugin.services.gradebook)
            gradebook.adopt_activity_lineitem(session, exam, link.lineitem_url, actor="system:launch")
    return link
