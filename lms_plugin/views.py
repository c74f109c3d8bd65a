"""Thin HTTP adapters for the LTI endpoints; the rules live in lms_plugin.core/services."""
from __future__ import annotations

import logging

from flask import (Blueprint, current_app, jsonify, make_response, redirect, render_template,
                   request, session, url_for)
from flask_babel import gettext as _

from bridge import clock
from bridge.i18n import normalize_locale
from bridge.extensions import transaction
from bridge.errors import DomainError
from bridge.extensions import db
from bridge.services import audit
from bridge.services.exams import exams
from bridge.web.auth import current_user, sign_in
from lms_plugin import framing
from lms_plugin.core.registration import TargetPolicy
from lms_plugin.errors import LaunchRejected, LtiError
from lms_plugin.models import LoginState
from lms_plugin.services import deep_linking, launches, registration, tickets, tool_keys

log = logging.getLogger(__name__)
bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")

PROBE_COOKIE = "eb_cookie_probe"


def tool_base() -> str:
    return current_app.config.get("EXAMBRIDGE_PUBLIC_URL") or request.host_url.rstrip("/")


def _cookie(resp, name: str, value: str, max_age: int, *, httponly: bool = True) -> None:
    resp.set_cookie(name, value, max_age=max_age, secure=True, httponly=httponly, samesite="None",
                    partitioned=True, path="/")


def _refuse(exc: LtiError, action: str, *, state: str | None = None):
    """A refused LTI request: a 4xx page naming the problem and an audit line, never a 500."""
    db.session.rollback()
    with transaction() as s:
        if state:
            row = s.get(LoginState, state)
            if row is not None and row.consumed_at is None:
                row.consumed_at = clock.utcnow_naive()  # a state is single use, failed or not
        audit.record(s, action, outcome="refused", remote_addr=request.remote_addr or "",
                     target=request.path, detail={"reason": exc.reason, "message": exc.message,
                                                  "detail": (exc.detail or "")[:500]})
    return render_template("lti/error.html", error=exc), exc.http_status


# --- login initiation -----------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    params = request.values.to_dict()
    try:
        with transaction() as s:
            start = launches.begin_login(s, params, tool_base=tool_base())
            ticket = _launch_ticket(s, start.login.as_params()) if _in_iframe() else None
    except LtiError as exc:
        return _refuse(exc, "lti.login")
    ttl = int(current_app.config["EXAMBRIDGE_LTI_STATE_TTL_SECONDS"])
    if ticket is None:
        resp = redirect(start.auth_url, code=302)
    else:
        # Inside the LMS iframe: check that this browser keeps our cookies before leaving;
        # where it does not, offer the same login in a new window (L6).
        resp = make_response(render_template("lti/cookie_check.html", auth_url=start.auth_url,
                                             continue_url=url_for("lti.login_continue", ticket=ticket),
                                             probe=PROBE_COOKIE))
        _cookie(resp, PROBE_COOKIE, "1", ttl, httponly=False)
    _cookie(resp, start.cookie_name, start.binding_secret, ttl)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _in_iframe() -> bool:
    return request.headers.get("Sec-Fetch-Dest") == "iframe"


def _launch_ticket(s, params: dict) -> str:
    return tickets.issue(s, params, kind=tickets.LOGIN)


@bp.get("/login/continue")
def login_continue():
    """The same login, restarted top-level in a new window with a single-use ticket."""
    with transaction() as s:
        params = tickets.redeem(s, request.args.get("ticket", ""), kind=tickets.LOGIN)
    if params is None:
        return _refuse(LtiError(_("This link was already used or has expired. Open the activity again from "
                                  "the LMS."), reason="launch_ticket_invalid"), "lti.login")
    try:
        with transaction() as s:
            start = launches.begin_login(s, params, tool_base=tool_base())
    except LtiError as exc:
        return _refuse(exc, "lti.login")
    resp = redirect(start.auth_url, code=302)
    _cookie(resp, start.cookie_name, start.binding_secret,
            int(current_app.config["EXAMBRIDGE_LTI_STATE_TTL_SECONDS"]))
    return resp


# --- the exam in a window of its own --------------------------------------------------
SESSION_KEYS = ("course_id", "platform_id", "lti_role", "locale")


@bp.get("/toplevel")
def toplevel():
    """A framed attempt page lands here: the exam opens in a window of its own, and a
    single-use ticket carries the signed-in person there (the frame's cookies may not reach
    it). Opened top level already, it simply goes on to the exam."""
    target = framing.toplevel_target(request.args.get("next", ""))
    if target is None:
        return _refuse(LtiError(_("This address does not lead to an exam page."),
                                reason="bad_toplevel_target"), "lti.toplevel")
    user = current_user()
    if user is None:
        return _refuse(LaunchRejected(_("You are not signed in to ExamBridge in this window. Open the "
                                        "activity again from the LMS."), reason="no_session"), "lti.toplevel")
    if not (framing.framed() or request.args.get("framed") == "1"):
        return redirect(target, code=303)  # top level already: the session is here
    params = {"user_id": user.id, "next": target, **{k: session.get(k) for k in SESSION_KEYS}}
    with transaction() as s:
        ticket = tickets.issue(s, params, kind=tickets.SESSION)
    resp = make_response(render_template("lti/toplevel.html", user=user,
                                         open_url=url_for("lti.toplevel_continue", ticket=ticket),
                                         again_url=url_for("lti.toplevel", next=target, framed=1)))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/toplevel/continue")
def toplevel_continue():
    """The new window: spend the ticket, sign the person in here, go on to the exam page."""
    with transaction() as s:
        params = tickets.redeem(s, request.args.get("ticket", ""), kind=tickets.SESSION)
        from bridge.models.users import User

        user = s.get(User, params["user_id"]) if params else None
        if user is not None:
            audit.record(s, "lti.toplevel", actor=f"user:{user.id}", remote_addr=request.remote_addr or "",
                         target=params["next"])
    target = framing.toplevel_target(params["next"]) if params else None
    if user is None or target is None:
        return _refuse(LtiError(_("This link was already used or has expired. Open the exam again from "
                                  "the LMS."), reason="launch_ticket_invalid"), "lti.toplevel")
    sign_in(user, locale=params.get("locale"), **{k: params.get(k) for k in SESSION_KEYS if k != "locale"})
    resp = redirect(target, code=303)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


# --- launch ---------------------------------------------------------------------------
@bp.route("/launch", methods=["GET", "POST"])
@bp.route("/deeplink", methods=["POST"], endpoint="deeplink_launch")
def launch():
    if request.method != "POST":
        return _refuse(LtiError(_("Launches arrive from the LMS as a form post. Open the activity from "
                                  "your course."), reason="launch_not_post"), "lti.launch")
    state = request.form.get("state")
    binding = request.cookies.get(launches.state_cookie_name(state)) if state else None
    try:
        with transaction() as s:
            outcome = launches.complete_launch(s, id_token=request.form.get("id_token"), state=state,
                                               binding_secret=binding, remote_addr=request.remote_addr or "")
            course_id = outcome.course.id if outcome.course else None
            exam_id = outcome.resource_link.exam_id if outcome.resource_link else None
            link_id = outcome.resource_link.id if outcome.resource_link else None
            ctx = outcome.ctx
    except LtiError as exc:
        return _refuse(exc, "lti.launch", state=state)
    locale = normalize_locale(ctx.locale)
    sign_in(outcome.user, locale=locale, course_id=course_id, platform_id=outcome.platform.id,
            lti_role=outcome.role, resource_link=link_id)  # an exam made in this visit belongs to the activity
    if ctx.is_deep_linking:
        session["deep_link"] = {
            "platform_id": outcome.platform.id, "deployment_id": ctx.deployment_id,
            "return_url": ctx.deep_linking.get("deep_link_return_url"),
            "data": ctx.deep_linking.get("data"), "course_id": course_id,
        }
        target = url_for("lti.deeplink_pick")
    elif exam_id:
        target = url_for("main.exam_home", exam_id=exam_id)
    elif course_id:
        target = url_for("main.course_home", course_id=course_id)
    else:
        target = url_for("main.index")
    resp = redirect(target, code=303)
    resp.delete_cookie(launches.state_cookie_name(state), path="/", secure=True, samesite="None",
                       partitioned=True)
    return resp


# --- deep linking ---------------------------------------------------------------------
@bp.get("/deeplink")
def deeplink_pick():
    dl = session.get("deep_link")
    if not dl or not dl.get("course_id"):
        return _refuse(LtiError(_("There is no open request from the LMS to place an exam. Start from the "
                                  "LMS's activity picker."), reason="no_deep_link"), "lti.deeplink")
    from bridge.web.auth import require_course

    user, course, _member = require_course(dl["course_id"], "teacher")
    return render_template("lti/deeplink.html", course=course, user=user,
                           exams=exams.list_exams(db.session, course.id), errors={}, form={})


@bp.post("/deeplink/respond")
def deeplink_respond():
    dl = session.get("deep_link")
    if not dl or not dl.get("course_id"):
        return _refuse(LtiError(_("This placement was already sent to the LMS or has expired."),
                                reason="no_deep_link"), "lti.deeplink")
    from bridge.web.auth import require_course

    user, course, _member = require_course(dl["course_id"], "teacher")
    try:
        with transaction() as s:
            form = deep_linking.respond(s, dl, user_id=user.id, exam_id=request.form.get("exam_id"),
                                        title=request.form.get("title", ""),
                                        duration_minutes=request.form.get("duration_minutes", ""),
                                        tool_base=tool_base())
    except DomainError as exc:
        return render_template("lti/deeplink.html", course=course, user=user,
                               exams=exams.list_exams(db.session, course.id),
                               errors=getattr(exc, "fields", {"_": exc.message}), form=request.form), 422
    session.pop("deep_link", None)
    return render_template("lti/autopost.html", action=form.return_url, fields={"JWT": form.jwt},
                           title=_("Returning to the LMS…"))


# --- dynamic registration -------------------------------------------------------------
@bp.route("/register", methods=["GET", "POST"])
def register():
    mode = current_app.config["EXAMBRIDGE_DYNAMIC_REGISTRATION"]
    values = request.values
    config_url, token, ticket = (values.get("openid_configuration"), values.get("registration_token"),
                                 values.get("ticket"))
    try:
        registration.check_ticket(db.session, mode, ticket)
    except DomainError as exc:
        return render_template("lti/error.html", error=exc), exc.http_status
    if not config_url:
        return render_template("lti/register_info.html", base=tool_base()), 200
    if request.method == "GET":  # nothing leaves the tool on a GET: a link or a crawler can send one
        return render_template("lti/register_confirm.html", config_url=config_url, host=_host_of(config_url),
                               token=token or "", ticket=ticket or "")
    cfg = current_app.config
    policy = TargetPolicy.from_settings(cfg["EXAMBRIDGE_REGISTRATION_ALLOW_NETWORKS"],
                                        https_only=cfg["EXAMBRIDGE_ENV"] == "production")
    try:
        with transaction() as s:
            row = registration.check_ticket(s, mode, ticket)
            platform = registration.register(s, config_url=config_url, registration_token=token,
                                             tool_base=tool_base(), ticket=row,
                                             remote_addr=request.remote_addr or "", policy=policy)
            info = {"issuer": platform.issuer, "client_id": platform.client_id,
                    "deployments": [d.deployment_id for d in platform.deployments]}
    except LtiError as exc:
        return _refuse(exc, "lti.register")
    except DomainError as exc:
        return render_template("lti/error.html", error=exc), exc.http_status
    return render_template("lti/register_done.html", info=info)


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or url[:200]
    except ValueError:
        return url[:200]


# --- keys -----------------------------------------------------------------------------
@bp.get("/jwks")
def jwks():
    with transaction() as s:  # the first call on a fresh install stores the first key
        keys = tool_keys.published(s)
    resp = jsonify({"keys": keys})
    resp.headers["Cache-Control"] = f"public, max-age={tool_keys.JWKS_MAX_AGE}"
    return resp
