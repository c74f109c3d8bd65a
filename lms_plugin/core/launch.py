"""id_token validation (IMS Security Framework §5.1.3, LTI Core 1.3 §5) and the launch
context the rest of the tool uses. Framework-free: the caller supplies keys and time."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from joserfc import jwt
from joserfc.errors import JoseError

from lms_plugin.core import claims as C
from lms_plugin.core.oidc import normalize_uri
from lms_plugin.errors import LaunchRejected

ALLOWED_ALGS = ("RS256",)
MAX_TOKEN_BYTES = 64 * 1024
# An id_token issued longer ago than this (plus leeway) is stale even if its exp allows it.
MAX_TOKEN_AGE_SECONDS = 300
MAX_ID_LENGTH = 255  # LTI Core: sub, context and resource link ids are at most 255 characters


@dataclass(frozen=True)
class PlatformInfo:
    issuer: str
    client_id: str
    deployment_ids: frozenset[str]


@dataclass
class LaunchContext:
    message_type: str
    issuer: str
    client_id: str
    deployment_id: str
    sub: str
    roles: list[str]
    name: str = ""
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    sourcedid: str = ""
    locale: str | None = None
    document_target: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    resource_link: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    target_link_uri: str = ""
    ags: dict[str, Any] = field(default_factory=dict)
    nrps: dict[str, Any] = field(default_factory=dict)
    deep_linking: dict[str, Any] = field(default_factory=dict)
    tool_platform: dict[str, Any] = field(default_factory=dict)

    @property
    def is_deep_linking(self) -> bool:
        return self.message_type == C.DEEP_LINKING_REQUEST

    @property
    def display_name(self) -> str:
        return self.name or " ".join(p for p in (self.given_name, self.family_name) if p)


def _reject(reason: str, message: str, detail: str | None = None) -> LaunchRejected:
    return LaunchRejected(message, reason=reason, detail=detail)


def _b64json(segment: str) -> dict:
    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def read_header(token: str) -> dict:
    """The JOSE header, after the structural checks (size, three parts, JSON)."""
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise _reject("malformed_token", "The launch carries no valid id_token.")
    parts = token.split(".")
    if len(parts) != 3:
        raise _reject("malformed_token", "The launch's id_token is not a signed JWT (it must have three parts).")
    try:
        header = _b64json(parts[0])
    except (ValueError, UnicodeError, json.JSONDecodeError):
        raise _reject("malformed_token", "The launch's id_token header cannot be read.") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGS:
        raise _reject("alg_not_allowed", "The launch was signed with an algorithm the tool does not accept "
                      "(only RS256).", detail=f"alg={alg!r}")
    if not header.get("kid"):
        raise _reject("missing_kid", "The launch's id_token names no key (kid), so it cannot be verified.")
    return header


def validate_id_token(token: str, *, platform: PlatformInfo, key_for_kid: Callable[[str], Any],
                      expected_nonce: str, expected_target_link_uri: str | None, now: float,
                      leeway: int = 60) -> LaunchContext:
    """Every check of the launch checklist, in order; LaunchRejected(reason=...) on the first
    failure. ``key_for_kid`` resolves the signing key from the platform's JWKS."""
    header = read_header(token)
    key = key_for_kid(header["kid"])
    try:
        decoded = jwt.decode(token, key, algorithms=list(ALLOWED_ALGS))
    except JoseError as exc:
        raise _reject("bad_signature", "The launch's signature does not verify against the LMS's keys.",
                      detail=type(exc).__name__) from None
    except (ValueError, TypeError):
        raise _reject("malformed_token", "The launch's id_token cannot be decoded.") from None
    c = decoded.claims
    _check_registered_claims(c, platform, now, leeway)
    if c.get("nonce") != expected_nonce:
        raise _reject("nonce_mismatch", "The launch's nonce does not match this login; start again from the LMS.")
    return _context(c, platform, expected_target_link_uri)


def _check_registered_claims(c: dict, platform: PlatformInfo, now: float, leeway: int) -> None:
    if c.get("iss") != platform.issuer:
        raise _reject("wrong_iss", "The launch comes from another issuer than the LMS that started the login.",
                      detail=f"iss={c.get('iss')!r}")
    aud = c.get("aud")
    auds = [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []
    if platform.client_id not in auds:
        raise _reject("wrong_aud", "The launch is addressed to another tool (aud does not hold our client id).",
                      detail=f"aud={aud!r}")
    azp = c.get("azp")
    if (len(auds) > 1 or azp is not None) and azp != platform.client_id:
        raise _reject("wrong_azp", "The launch's authorized party (azp) is not this tool.", detail=f"azp={azp!r}")
    for name in ("exp", "iat"):
        if not isinstance(c.get(name), (int, float)):
            raise _reject("missing_claim", f"The launch lacks the required claim {name}.", detail=name)
    if now > c["exp"] + leeway:
        raise _reject("expired", "The launch has expired. Open the activity again from the LMS.",
                      detail=f"exp={c['exp']} now={int(now)}")
    if c["iat"] > now + leeway:
        raise _reject("iat_in_future", "The launch was issued in the future: check the LMS's and the "
                      "tool's clocks.", detail=f"iat={c['iat']} now={int(now)}")
    if now - c["iat"] > MAX_TOKEN_AGE_SECONDS + leeway:
        raise _reject("stale", "The launch is too old. Open the activity again from the LMS.",
                      detail=f"iat={c['iat']} now={int(now)}")
    if isinstance(c.get("nbf"), (int, float)) and c["nbf"] > now + leeway:
        raise _reject("not_yet_valid", "The launch is not valid yet: check the clocks.")


def _require(c: dict, name: str, kind: type | tuple = str):
    value = c.get(name)
    if value is None or not isinstance(value, kind) or (isinstance(value, str) and not value):
        short = name.rsplit("/", 1)[-1]
        raise _reject("missing_claim", f"The launch lacks the required claim {short}.", detail=name)
    return value


def _context(c: dict, platform: PlatformInfo, expected_target: str | None) -> LaunchContext:
    version = c.get(C.VERSION)
    if version != "1.3.0":
        raise _reject("wrong_version", "The launch is not LTI 1.3.0.", detail=f"version={version!r}")
    message_type = c.get(C.MESSAGE_TYPE)
    if message_type not in C.SUPPORTED_MESSAGES:
        raise _reject("unsupported_message_type", "The tool does not handle this kind of LTI message.",
                      detail=f"message_type={message_type!r}")
    deployment_id = _require(c, C.DEPLOYMENT_ID)
    if deployment_id not in platform.deployment_ids:
        raise _reject("unknown_deployment", "This LMS deployment is not registered with the tool; an "
                      "administrator must add it.", detail=f"deployment_id={deployment_id!r}")
    sub = _require(c, "sub")
    roles = _require(c, C.ROLES, list)
    target = _require(c, C.TARGET_LINK_URI)
    if expected_target and normalize_uri(target) != normalize_uri(expected_target):
        raise _reject("target_mismatch", "The launch's target differs from the one the login asked for.",
                      detail=f"{target!r} != {expected_target!r}")
    ctx = LaunchContext(
        message_type=message_type, issuer=c["iss"], client_id=platform.client_id,
        deployment_id=deployment_id, sub=sub, roles=[r for r in roles if isinstance(r, str)],
        name=_s(c.get("name")), given_name=_s(c.get("given_name")), family_name=_s(c.get("family_name")),
        email=_s(c.get("email")), target_link_uri=target,
        sourcedid=_s(_obj(c.get(C.LIS)).get("person_sourcedid")),
        context=_obj(c.get(C.CONTEXT)), resource_link=_obj(c.get(C.RESOURCE_LINK)),
        custom=_obj(c.get(C.CUSTOM)), ags=_obj(c.get(C.AGS_ENDPOINT)), nrps=_obj(c.get(C.NRPS)),
        deep_linking=_obj(c.get(C.DL_SETTINGS)), tool_platform=_obj(c.get(C.TOOL_PLATFORM)),
    )
    presentation = _obj(c.get(C.LAUNCH_PRESENTATION))
    ctx.locale = _s(presentation.get("locale")) or None
    ctx.document_target = _s(presentation.get("document_target")) or None
    if message_type == C.RESOURCE_LINK_REQUEST:
        if not _s(ctx.resource_link.get("id")):
            raise _reject("missing_claim", "The launch lacks the resource link id.", detail=C.RESOURCE_LINK)
    else:
        if not _s(ctx.deep_linking.get("deep_link_return_url")):
            raise _reject("missing_claim", "The deep-linking request lacks its return URL.", detail=C.DL_SETTINGS)
        accept = ctx.deep_linking.get("accept_types")
        if not isinstance(accept, list) or "ltiResourceLink" not in accept:
            raise _reject("unsupported_content", "The LMS does not accept LTI resource links here, which is "
                          "what the tool places.", detail=f"accept_types={accept!r}")
    for what, value in (("sub", sub), ("context id", ctx.context.get("id")),
                        ("resource link id", ctx.resource_link.get("id"))):
        if value is not None and len(str(value)) > MAX_ID_LENGTH:
            raise _reject("claim_too_long", "The launch carries an identifier longer than LTI allows (255).",
                          detail=what)
    if not ctx.context.get("id") and message_type == C.RESOURCE_LINK_REQUEST:
        raise _reject("missing_claim", "The launch comes from outside a course (no context); open the "
                      "activity from inside a course.", detail=C.CONTEXT)
    return ctx


def _obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def _s(value) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


