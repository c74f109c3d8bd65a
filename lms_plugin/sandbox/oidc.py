"""Launching: the sandbox's "Launch as" / "Add an activity" starts, the OIDC authorization
endpoint (auth.php), the platform key set (certs.php) and the OpenID configuration.

The authorization endpoint checks what lti1p3platform does not (bug 1): every parameter of
the auth request, the redirect_uri against the tool's registered list, the login_hint
against the user the launch was started for, and the single-use lti_message_hint. A
refused request gets an HTML error page (HTTP 400) and nothing is posted anywhere.
"""
from __future__ import annotations

from functools import partial
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from flask import Blueprint, redirect, render_template, request

from .adapter import (
    FlaskRequest,
    SandboxMessageLaunch,
    SandboxOIDCLogin,
    SandboxPlatformConf,
    parse_message_hint,
)
from .claims import SUPPORTED_VARIABLES
from .course import COURSE_ID, find_user
from .records import LaunchHint, ToolRegistration
from .state import CONTAINERS, LOGIN_METHODS, HintError
from .vocab import (
    DEEP_LINKING_REQUEST,
    MOODLE_RELEASE,
    PLATFORM_CONFIGURATION,
    RESOURCE_LINK_REQUEST,
    SERVICE_SCOPES,
)
from .web import error_page, json_response, sandbox

bp = Blueprint("sandbox_oidc", __name__)


class AuthRequestRefused(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


# ------------------------------------------------------------------ discovery ----------
@bp.get("/mod/lti/openid-configuration.php")
def openid_configuration():
    urls = sandbox().urls
    return json_response({
        "issuer": urls.issuer,
        "token_endpoint": urls.token,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "jwks_uri": urls.certs,
        "authorization_endpoint": urls.auth,
        "registration_endpoint": urls.registration,
        "scopes_supported": ["openid", *SERVICE_SCOPES],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
        PLATFORM_CONFIGURATION: {
            "product_family_code": "moodle",
            "version": MOODLE_RELEASE,
            "messages_supported": [{"type": RESOURCE_LINK_REQUEST},
                                   {"type": DEEP_LINKING_REQUEST, "placements": ["ContentArea"]}],
            "variables": list(SUPPORTED_VARIABLES),
        },
    })


@bp.get("/mod/lti/certs.php")
def certs():
    return json_response({"keys": [sandbox().public_jwk]})


# ------------------------------------------------------------------ starting a launch --
def _deliver(url: str, *, container: str, method: str, title: str, user_name: str):
    """Send the browser to the tool's login initiation URL: a redirect, an iframe page, or
    (``post``, as Moodle does) an auto-submitted form, in the window or into the iframe."""
    if method == "get" and container == "window":
        return redirect(url, code=302)
    parts = urlsplit(url)
    action = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    fields = parse_qsl(parts.query, keep_blank_values=True)
    if container == "window":
        return render_template("sandbox/login_post.html", action=action, fields=fields, title=title)
    return render_template("sandbox/launch_frame.html", src=url if method == "get" else None,
                           action=action, fields=fields if method == "post" else None,
                           title=title, user_name=user_name)


def _start(tool: ToolRegistration, hint: LaunchHint, *, target: str | None, method: str, title: str):
    sb = sandbox()
    conf = SandboxPlatformConf(sandbox=sb, tool=tool)
    user = find_user(hint.user_id)
    login = SandboxOIDCLogin(FlaskRequest(request), conf, hint=hint,
                             respond=partial(_deliver, container=hint.container, method=method, title=title,
                                             user_name=user.name))
    if target:
        login.set_launch_url(target)
    else:
        login.set_deeplinking_launch_url()
    return login.initiate_login(str(user.id))


def _launch_options(default_container: str):
    container = request.args.get("container") or default_container
    method = request.args.get("method") or sandbox().login_method
    if container not in CONTAINERS or method not in LOGIN_METHODS:
        return None
    return container, method


@bp.get(f"/course/{COURSE_ID}/launch")
def start_launch():
    sb = sandbox()
    user = find_user(request.args.get("user"))
    activity = sb.activity(request.args.get("link"))
    if user is None or activity is None:
        return error_page(404, "Not found", "No such user or activity in this course.")
    tool = sb.tool(activity.client_id)
    if tool is None or not tool.active:
        return error_page(409, "Tool not available", "The activity's tool is not registered or is disabled.")
    options = _launch_options(activity.container or tool.default_container)
    if options is None:
        return error_page(400, "Bad request", "container must be window or iframe; method get or post.")
    container, method = options
    hint = sb.issue_launch_hint(user_id=user.id, client_id=tool.client_id, message_type=RESOURCE_LINK_REQUEST,
                                activity_id=activity.id, container=container)
    return _start(tool, hint, target=activity.url or tool.launch_url, method=method, title=activity.title)


@bp.get(f"/course/{COURSE_ID}/deeplink")
def start_deep_link():
    sb = sandbox()
    user = find_user(request.args.get("user"))
    tool = sb.tool(request.args.get("tool"))
    if user is None or tool is None:
        return error_page(404, "Not found", "No such user or tool.")
    if not user.can_add_activities:
        return error_page(403, "Not allowed", f"{user.name} ({user.role_label}) cannot add activities.")
    if not tool.active or not tool.supports_deep_linking:
        return error_page(409, "Deep linking not available",
                          f"{tool.name} is disabled or has no deep-linking URL.")
    options = _launch_options("window")
    if options is None:
        return error_page(400, "Bad request", "container must be window or iframe; method get or post.")
    container, method = options
    hint = sb.issue_launch_hint(user_id=user.id, client_id=tool.client_id, message_type=DEEP_LINKING_REQUEST,
                                activity_id=None, container=container)
    return _start(tool, hint, target=None, method=method, title=f"Add an activity: {tool.name}")


# ------------------------------------------------------------------ auth.php -----------
def check_auth_request(params: dict, tool: ToolRegistration) -> LaunchHint:
    """Moodle's auth.php checks, plus a strict redirect_uri match. Consumes the hint."""
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri or redirect_uri not in tool.redirect_uris:
        raise AuthRequestRefused("invalid_request", "redirect_uri is not one of the tool's registered redirect URIs")
    if params.get("scope") != "openid":
        raise AuthRequestRefused("invalid_scope", "scope must be openid")
    if params.get("response_type") != "id_token":
        raise AuthRequestRefused("unsupported_response_type", "response_type must be id_token")
    if params.get("response_mode") != "form_post":
        raise AuthRequestRefused("invalid_request", "response_mode must be form_post")
    if params.get("prompt") != "none":
        raise AuthRequestRefused("invalid_request", "prompt must be none")
    if not params.get("nonce"):
        raise AuthRequestRefused("invalid_request", "nonce is missing")
    if not params.get("state"):
        raise AuthRequestRefused("invalid_request", "state is missing")
    launch_id = parse_message_hint(params.get("lti_message_hint"))
    if launch_id is None:
        raise AuthRequestRefused("invalid_request", "lti_message_hint is missing or malformed")
    sb = sandbox()
    try:
        hint = sb.peek_launch_hint(launch_id)
    except HintError as exc:
        raise AuthRequestRefused("invalid_request", f"lti_message_hint is {exc.reason}") from exc
    if hint.client_id != tool.client_id:
        raise AuthRequestRefused("invalid_request", "lti_message_hint belongs to another tool")
    if params.get("login_hint") != str(hint.user_id):
        raise AuthRequestRefused("access_denied", "login_hint is not the user this launch was started for")
    try:
        return sb.consume_launch_hint(launch_id)
    except HintError as exc:
        raise AuthRequestRefused("invalid_request", f"lti_message_hint is {exc.reason}") from exc


@bp.route("/mod/lti/auth.php", methods=["GET", "POST"])
def authorize():
    params = request.args if request.args else request.form
    tool = sandbox().tool(params.get("client_id"))
    if tool is None or not tool.active:
        return error_page(400, "Invalid request", "client_id is not a registered, active tool.",
                          code="unauthorized_client")
    conf = SandboxPlatformConf(sandbox=sandbox(), tool=tool)
    launch = SandboxMessageLaunch(FlaskRequest(request), conf, check_request=check_auth_request)
    try:
        return launch.lti_launch()
    except AuthRequestRefused as exc:
        return error_page(400, "Invalid request", exc.description, code=exc.error)
