"""Flask adapter for lti1p3platform 0.1.8 (the library ships none).

One ``SandboxPlatformConf`` per request: the library keeps per-request state on the config
object (``self._jwt``, the cached registration). The overrides here are where the library's
known bugs are worked around (numbers refer to docs/sandbox-lms.md, "lti1p3platform bugs"):

* tool JWTs: RS256 only, ``exp``/``iat`` required, JWKS fetched by the sandbox with one
  refetch on an unknown ``kid`` (bug 11), and ``set_tool_key_set(dict)`` so the library
  never fetches URLs itself;
* service tokens: opaque, looked up in the sandbox, bound to the tool, checked per endpoint
  scope, and failures raised as ``LtiServiceException(401)`` so they never become 500s
  (bugs 4, 5, 6);
* the launch: no ``azp`` (Moodle sends none), exp = iat + 60 s, Moodle's claims, the
  auth request checked by the caller's policy (bug 1), our own autoescaped form (bug 2);
* login initiation: the tool's login URL's own query is merged back (bug 13).
"""
from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from flask import render_template
from lti1p3platform.exceptions import LtiException, LtiServiceException
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest

from . import claims
from .course import COURSE_ID, COURSE_LABEL, COURSE_TITLE, find_user
from .records import LaunchHint, ToolRegistration
from .state import Sandbox, ToolKeySetError
from .vocab import AGS_SCOPES, DEEP_LINKING_REQUEST

JWT_LEEWAY = 60  # seconds of clock skew tolerated on tool-signed JWTs
ID_TOKEN_LIFETIME = 60  # Moodle: exp = iat + 60


class FlaskRequest(Request):
    def build_metadata(self, request: Any) -> TRequest:
        return {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": request.headers,
            "content_type": request.mimetype,
            "path": request.path,
            "json": request.get_json(silent=True),
        }


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class SandboxPlatformConf(LTI1P3PlatformConfAbstract):
    """The platform as one tool sees it, for one request."""

    sandbox: Sandbox
    tool: ToolRegistration

    def init_platform_config(self, *, sandbox: Sandbox, tool: ToolRegistration) -> None:
        self.sandbox = sandbox
        self.tool = tool
        self.verified_claims: dict[str, Any] | None = None

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        tool, sb = self.tool, self.sandbox
        return (Registration()
                .set_iss(sb.issuer)
                .set_client_id(tool.client_id)
                .set_deployment_id(tool.deployment_id)
                .set_launch_url(tool.launch_url)
                .set_deeplink_launch_url(tool.deeplink_url or tool.launch_url)
                .set_oidc_login_url(_without_query(tool.login_url))
                .set_tool_key_set_url(tool.jwks_url)
                .set_platform_public_key(sb.public_key_pem)
                .set_platform_private_key(sb.private_key_pem))

    # --- tool-signed JWTs ------------------------------------------------------------------
    def get_tool_key_set(self):  # type: ignore[override]
        registration = self.get_registration()
        key_set = registration.get_tool_key_set()
        if not key_set:
            try:
                key_set = self.sandbox.tool_key_set(self.tool)
            except ToolKeySetError as exc:
                raise LtiException(str(exc)) from exc
            registration.set_tool_key_set(key_set)
        return key_set

    def get_tool_public_key(self) -> bytes:
        """Refetch the tool's JWKS once when the JWT's ``kid`` is not in the cached set."""
        kid = self._jwt.get("header", {}).get("kid")
        known = {k.get("kid") for k in self.get_tool_key_set().get("keys", []) if isinstance(k, dict)}
        if kid and kid not in known:
            try:
                fresh = self.sandbox.tool_key_set(self.tool, refresh=True)
            except ToolKeySetError as exc:
                raise LtiException(str(exc)) from exc
            self.get_registration().set_tool_key_set(fresh)
        return super().get_tool_public_key()

    def tool_validate_and_decode(self, jwt_token_string: str) -> dict[str, Any]:
        if not isinstance(jwt_token_string, str):
            raise LtiException("the JWT must be a string")
        self.validate_jwt_format(jwt_token_string)
        header, body = self._jwt.get("header"), self._jwt.get("body")
        if not isinstance(header, dict) or not isinstance(body, dict):
            raise LtiException("the JWT header and payload must be JSON objects")
        if header.get("alg") != "RS256":
            raise LtiException("the JWT must be signed with RS256")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise LtiException("the JWT header needs a kid")
        public_key = self.get_tool_public_key()
        try:
            decoded = jwt.decode(jwt_token_string, public_key, algorithms=["RS256"], leeway=JWT_LEEWAY,
                                 options={"verify_aud": False, "require": ["exp", "iat"]})
        except jwt.PyJWTError as exc:
            raise LtiException(f"JWT rejected: {exc}") from exc
        self.verified_claims = decoded
        return decoded

    # --- service access tokens ----------------------------------------------------------
    def validate_token(self, token: str, allowed_scopes: list[str] | None = None,
                       audience: str | None = None) -> bool:
        """Opaque bearer tokens from the sandbox's token endpoint, bound to this tool."""
        record = self.sandbox.find_access_token(token)
        if record is None:
            raise LtiServiceException("Invalid or expired access token", 401)
        if record.client_id != self.tool.client_id or not self.tool.active:
            raise LtiServiceException("The access token was not issued to this tool", 401)
        if allowed_scopes and not any(scope in record.scopes for scope in allowed_scopes):
            raise LtiServiceException("The access token lacks the scope this endpoint needs", 401)
        return True


class SandboxOIDCLogin(OIDCLoginAbstract):
    """Starts a launch: the library builds the initiation parameters; ``respond`` turns the
    final URL into a response (redirect, iframe page or auto-posted form)."""

    def __init__(self, request: Any, platform_config: SandboxPlatformConf, *, hint: LaunchHint,
                 respond: Callable[[str], Any]):
        super().__init__(request, platform_config)
        self._tool = platform_config.tool
        self._hint = hint
        self._respond = respond
        self.set_lti_message_hint()

    def set_lti_message_hint(self, **kwargs: Any) -> None:
        """Moodle's hint is JSON naming the course module and the launch id."""
        self._lti_message_hint = json.dumps({"cmid": str(self._hint.activity_id or 0),
                                             "launchid": self._hint.launch_id}, separators=(",", ":"))

    def get_redirect(self, url: str) -> Any:
        own_query = parse_qsl(urlsplit(self._tool.login_url).query, keep_blank_values=True)
        if own_query:
            parts = urlsplit(url)
            merged = own_query + parse_qsl(parts.query, keep_blank_values=True)
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(merged), ""))
        return self._respond(url)


def parse_message_hint(value: str | None) -> str | None:
    """The launch id inside a Moodle-style ``lti_message_hint``; None when malformed."""
    try:
        data = json.loads(value or "")
    except ValueError:
        return None
    launch_id = data.get("launchid") if isinstance(data, dict) else None
    return launch_id if isinstance(launch_id, str) else None


class SandboxMessageLaunch(LTIAdvantageMessageLaunchAbstract):
    """The id_token of one launch. ``check_request`` is the auth-request policy (oidc.py):
    it validates the request and returns the (consumed) launch hint, or raises."""

    def __init__(self, request: Any, platform_config: SandboxPlatformConf, *,
                 check_request: Callable[[dict[str, Any], ToolRegistration], LaunchHint]):
        super().__init__(request, platform_config)
        self._conf = platform_config
        self._check_request = check_request
        self.hint: LaunchHint | None = None
        self.set_id_token_expiration(ID_TOKEN_LIFETIME)

    def validate_preflight_response(self, preflight_response: dict[str, Any]) -> None:
        self.hint = self._check_request(preflight_response, self._conf.tool)
        self._redirect_url = preflight_response["redirect_uri"]

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        sb, tool, hint = self._conf.sandbox, self._conf.tool, self.hint
        assert hint is not None
        user = find_user(hint.user_id)
        activity = sb.activity(hint.activity_id) if hint.activity_id is not None else None
        self.set_user_data(str(user.id), user.launch_roles,
                           full_name=user.name if tool.send_name else None,
                           email_address=user.email if tool.send_email else None)
        self.set_launch_context_claim(str(COURSE_ID), ["CourseSection"], COURSE_TITLE, COURSE_LABEL)
        self.set_custom_parameters_claim(claims.custom_claim(user=user, tool=tool, activity=activity, urls=sb.urls))
        self.set_extra_claims(claims.identity_claims(user, tool))
        self.set_extra_claims(claims.tool_platform_claim(sb.guid))
        self.set_extra_claims(claims.launch_presentation_claim(hint, sb.urls))
        line_items = sb.activity_line_items(activity.id) if activity else []
        self.set_extra_claims(claims.service_claims(tool, sb.urls, line_items))
        if hint.message_type == DEEP_LINKING_REQUEST:
            return_url = sb.urls.content_item_return(tool.type_id, hint.sesskey)
            self.set_dl(return_url, tool.name, tool.description, accept_types={"ltiResourceLink"})
            # Bug 12: the library hard-codes its settings; send Moodle's instead.
            self._deep_linking_launch_data = claims.deep_linking_settings(tool, return_url)
            return
        self.set_resource_link_claim(str(activity.id), activity.description or None, activity.title)
        self.set_launch_url(activity.url or tool.launch_url)
        if any(s in tool.scopes for s in AGS_SCOPES):
            sourcedid = sb.outcome_sourcedid(activity.id, user.id, tool.type_id)
            self.set_extra_claims(claims.basic_outcome_claim(sourcedid, sb.urls))

    def get_launch_message(self, include_extra_claims: bool = True) -> dict[str, Any]:
        message = super().get_launch_message(include_extra_claims)
        message.pop("azp", None)  # Moodle sends no azp
        return message

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> Any:
        return render_template("sandbox/auth_post.html", action=launch_data["launch_url"],
                               id_token=launch_data["id_token"], state=launch_data["state"])
