"""LTI Dynamic Registration (openid-registration.php), validated like Moodle 4.5's
``registration_helper::registration_to_config`` and answered like its
``config_to_registration``.

The bearer token is a platform-signed JWT issued by the admin page, valid one hour and
usable once: it is consumed by a successful registration only, so a tool can fix a
rejected body and retry. Token problems answer 401, body problems 400 (JSON).
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, request

from .records import ToolRegistration
from .state import RegistrationTokenError
from .vocab import DEEP_LINKING_REQUEST, SERVICE_SCOPES, TOOL_CONFIGURATION
from .web import json_response, sandbox

bp = Blueprint("sandbox_registration", __name__)


class RegistrationRejected(Exception):
    pass


def moodle_domain(url: str) -> str:
    """Moodle's ``lti_get_domain_from_url``: host[:port], scheme and ``www.`` dropped."""
    match = re.match(r"^(?:https?://)?(?:www\.)?([^/?#]+)", url.strip(), re.IGNORECASE)
    return match.group(1).lower() if match else ""


def _http_url(payload: dict, key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise RegistrationRejected(f"missing required attribute {key}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RegistrationRejected(f"{key} must be an http(s) URL")
    return value


def _optional_str(payload: dict, key: str) -> str:
    value = payload.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RegistrationRejected(f"{key} must be a string")
    return value


def parse_registration(payload: Any) -> dict[str, Any]:
    """The request body → ``Sandbox.register_tool`` arguments, or RegistrationRejected."""
    if not isinstance(payload, dict):
        raise RegistrationRejected("the body must be a JSON object")
    response_types = payload.get("response_types")
    if not isinstance(response_types, list) or "id_token" not in response_types:
        raise RegistrationRejected("invalid_response_types")
    login_url = _http_url(payload, "initiate_login_uri")
    redirect_uris = payload.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris or not all(isinstance(u, str) for u in redirect_uris):
        raise RegistrationRejected("invalid_redirect_uris")
    for uri in redirect_uris:
        _http_url({"redirect_uri": uri}, "redirect_uri")
    name = payload.get("client_name")
    if not isinstance(name, str) or not name.strip():
        raise RegistrationRejected("missing required attribute client_name")
    jwks_url = _http_url(payload, "jwks_uri")
    if payload.get("token_endpoint_auth_method") != "private_key_jwt":
        raise RegistrationRejected("invalid_token_endpoint_auth_method")
    if payload.get("application_type") not in (None, "", "web"):
        raise RegistrationRejected("invalid_application_type")
    config = payload.get(TOOL_CONFIGURATION)
    if not isinstance(config, dict):
        raise RegistrationRejected(f"missing required attribute {TOOL_CONFIGURATION}")
    domain = config.get("domain")
    if not isinstance(domain, str) or not domain.strip():
        raise RegistrationRejected("missing_domain")
    target_link_uri = _http_url(config, "target_link_uri")
    if moodle_domain(domain) != moodle_domain(target_link_uri):
        raise RegistrationRejected("domain_targetlinkuri_mismatch")

    deeplink_url = None
    messages = config.get("messages", [])
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise RegistrationRejected("messages must be a list of objects")
    for message in messages:
        if message.get("type") == DEEP_LINKING_REQUEST:
            deeplink_url = _http_url(message, "target_link_uri") if message.get("target_link_uri") \
                else target_link_uri
    custom = config.get("custom_parameters") or {}
    if not isinstance(custom, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in custom.items()):
        raise RegistrationRejected("custom_parameters must map names to strings")
    claims = config.get("claims") or []
    if not isinstance(claims, list):
        raise RegistrationRejected("claims must be a list")
    scope = payload.get("scope") or ""
    if not isinstance(scope, str):
        raise RegistrationRejected("scope must be a space-separated string")
    return {
        "name": name.strip(), "login_url": login_url, "launch_url": target_link_uri,
        "deeplink_url": deeplink_url, "jwks_url": jwks_url, "redirect_uris": list(redirect_uris),
        "scopes": [s for s in scope.split() if s in SERVICE_SCOPES],
        "custom": dict(custom), "description": _optional_str(config, "description"),
        "domain": domain.strip(), "logo_uri": _optional_str(payload, "logo_uri"),
        "send_name": bool({"name", "given_name", "family_name"} & set(claims)),
        "send_email": "email" in claims,
        "default_container": "iframe",  # Moodle: embedded, without blocks
    }


def registration_response(tool: ToolRegistration) -> dict[str, Any]:
    """What the tool gets back: its client_id and, in the tool configuration, deployment_id."""
    config: dict[str, Any] = {
        "version": "1.3.0",
        "deployment_id": tool.deployment_id,
        "target_link_uri": tool.launch_url,
        "domain": tool.domain,
        "description": tool.description,
    }
    if tool.deeplink_url:
        config["messages"] = [{"type": DEEP_LINKING_REQUEST, "target_link_uri": tool.deeplink_url}]
    if tool.custom:
        config["custom_parameters"] = dict(tool.custom)
    config["claims"] = ["sub", "iss"] + (["name", "family_name", "given_name"] if tool.send_name else []) \
        + (["email"] if tool.send_email else [])
    return {
        "client_id": tool.client_id,
        "response_types": ["id_token"],
        "jwks_uri": tool.jwks_url,
        "initiate_login_uri": tool.login_url,
        "grant_types": ["client_credentials", "implicit"],
        "redirect_uris": list(tool.redirect_uris),
        "application_type": "web",
        "token_endpoint_auth_method": "private_key_jwt",
        "client_name": tool.name,
        "logo_uri": tool.logo_uri,
        "scope": " ".join(tool.scopes),
        TOOL_CONFIGURATION: config,
    }


@bp.post("/mod/lti/openid-registration.php")
def register():
    sb = sandbox()
    auth = request.headers.get("Authorization", "").split()
    if len(auth) != 2 or auth[0].lower() != "bearer":
        return json_response({"error": "invalid_token", "error_description": "a Bearer registration token is required"},
                             401)
    try:
        sb.check_registration_token(auth[1])
        fields = parse_registration(request.get_json(force=True, silent=True))
        tool = sb.register_with_token(auth[1], **fields)
    except RegistrationTokenError as exc:
        return json_response({"error": "invalid_token", "error_description": exc.reason}, 401)
    except (RegistrationRejected, ValueError) as exc:
        return json_response({"error": "invalid_client_metadata", "error_description": str(exc)}, 400)
    return json_response(registration_response(tool))
