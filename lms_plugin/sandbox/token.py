"""The OAuth 2 token endpoint (token.php): client_credentials with a JWT client assertion.

lti1p3platform's ``get_access_token`` checks neither aud, iss, sub nor jti and signs a JWT
with every scope (bugs 3 and 4). Here the assertion's signature is checked by the adapter
(the tool's JWKS, refetched on an unknown kid) and its claims strictly: iss == sub ==
client_id, aud == this endpoint's URL, exp present and at most 5 minutes ahead, jti never
seen before. Granted scopes are those requested AND registered for the tool; the token is
opaque. Errors are Moodle's: 400 ``{"error": "invalid_client"}`` and friends.
"""
from __future__ import annotations

import time

import jwt
from flask import Blueprint, request
from lti1p3platform.exceptions import LtiException

from .adapter import JWT_LEEWAY, SandboxPlatformConf
from .web import json_response, sandbox

bp = Blueprint("sandbox_token", __name__)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300


class TokenRequestError(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


def _client_id_of(assertion: str) -> str:
    """The client the (not yet verified) assertion claims to come from."""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenRequestError("invalid_client", f"client_assertion is not a JWT ({exc})") from exc
    client_id = unverified.get("sub")
    if not isinstance(client_id, str) or not client_id:
        raise TokenRequestError("invalid_client", "client_assertion has no sub")
    return client_id


def _check_claims(claims: dict, client_id: str, token_url: str) -> None:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise TokenRequestError("invalid_client", "iss and sub must both be the client_id")
    aud = claims.get("aud")
    if not (aud == token_url or (isinstance(aud, list) and token_url in aud)):
        raise TokenRequestError("invalid_client", "aud must be the token endpoint URL")
    if claims["exp"] > time.time() + MAX_ASSERTION_LIFETIME + JWT_LEEWAY:
        raise TokenRequestError("invalid_client", "exp is more than 5 minutes ahead")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise TokenRequestError("invalid_client", "jti is missing")
    if not sandbox().remember_jti(client_id, jti, keep_until=claims["exp"] + JWT_LEEWAY):
        raise TokenRequestError("invalid_client", "jti was already used")


def issue_token(form) -> dict:
    for name in ("grant_type", "client_assertion_type", "client_assertion", "scope"):
        if not form.get(name):
            raise TokenRequestError("invalid_request", f"{name} is missing")
    if form["grant_type"] != "client_credentials":
        raise TokenRequestError("unsupported_grant_type", "grant_type must be client_credentials")
    if form["client_assertion_type"] != JWT_BEARER:
        raise TokenRequestError("invalid_request", "client_assertion_type must be jwt-bearer")
    sb = sandbox()
    client_id = _client_id_of(form["client_assertion"])
    tool = sb.tool(client_id)
    if tool is None or not tool.active:
        raise TokenRequestError("invalid_client", "unknown client")
    conf = SandboxPlatformConf(sandbox=sb, tool=tool)
    try:
        claims = conf.tool_validate_and_decode(form["client_assertion"])
    except LtiException as exc:
        raise TokenRequestError("invalid_client", str(exc)) from exc
    _check_claims(claims, client_id, sb.urls.token)
    requested = form["scope"].split()
    granted = [scope for scope in requested if scope in tool.scopes]
    if not granted:
        raise TokenRequestError("invalid_scope", "none of the requested scopes is granted to this tool")
    token, ttl = sb.issue_access_token(client_id, granted)
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": " ".join(granted)}


@bp.post("/mod/lti/token.php")
def token_endpoint():
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    try:
        return json_response(issue_token(request.form), headers=headers)
    except TokenRequestError as exc:
        return json_response({"error": exc.error, "error_description": exc.description}, 400, headers=headers)
