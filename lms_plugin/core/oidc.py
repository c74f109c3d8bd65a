"""OIDC third-party login initiation (LTI Core 1.3 §5.1.1), framework-free."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

from lms_plugin.errors import LoginRejected


@dataclass(frozen=True)
class LoginRequest:
    iss: str
    login_hint: str
    target_link_uri: str
    lti_message_hint: str | None = None
    client_id: str | None = None
    lti_deployment_id: str | None = None

    def as_params(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def parse_login(params: Mapping[str, str]) -> LoginRequest:
    """The initiation parameters, or LoginRejected naming the one that is missing."""
    def get(name: str) -> str | None:
        value = params.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    missing = [n for n in ("iss", "login_hint", "target_link_uri") if not get(n)]
    if missing:
        message = f"The LMS's login request lacks {', '.join(missing)}."
        raise LoginRejected(message, reason="missing_login_parameter", detail=", ".join(missing))
    too_long = [n for n in LoginRequest.__dataclass_fields__ if len(get(n) or "") > MAX_PARAMETER_LENGTH]
    if too_long:
        raise LoginRejected("The LMS's login request has a parameter that is far too long.",
                            reason="bad_login_parameter", detail=", ".join(too_long))
    try:
        origin(get("target_link_uri"))
    except ValueError:
        raise LoginRejected("The LMS asked to launch an address that is not a valid URL.",
                            reason="bad_target_link_uri", detail=get("target_link_uri")[:200]) from None
    return LoginRequest(iss=get("iss"), login_hint=get("login_hint"),
                        target_link_uri=get("target_link_uri"),
                        lti_message_hint=get("lti_message_hint"), client_id=get("client_id"),
                        lti_deployment_id=get("lti_deployment_id"))


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def binding_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


MAX_PARAMETER_LENGTH = 2000  # the columns that keep them hold 2,000 characters

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in; ValueError for a malformed URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url[:200]!r}")
    return scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme]


def same_origin(a: str, b: str) -> bool:
    try:
        return origin(a) == origin(b)
    except ValueError:
        return False


def normalize_uri(uri: str) -> str:
    parts = urlsplit(uri)
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def auth_request_url(auth_login_url: str, *, client_id: str, redirect_uri: str, login: LoginRequest,
                     state: str, nonce: str) -> str:
    """The platform's authorization endpoint with the OIDC parameters (checklist step 3)."""
    params = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "login_hint": login.login_hint,
        "state": state,
        "nonce": nonce,
    }
    if login.lti_message_hint is not None:
        params["lti_message_hint"] = login.lti_message_hint
    parts = urlsplit(auth_login_url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
