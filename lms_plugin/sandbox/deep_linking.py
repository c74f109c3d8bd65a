"""The deep-linking return (contentitem_return.php): verify the tool's response, then add
the activities it chose.

lti1p3platform's ``validate_deeplinking_resp`` only checks the signature, the message type
and the item types (bug 10). Here also: iss == client_id, aud == the platform's issuer, a
nonce never used before, the tool's deployment_id, version 1.3.0, exp/iat (adapter), and
the items themselves (url on the tool's host, custom a string map, lineItem.scoreMaximum).

Moodle hands the chosen item to the activity form and creates the activity when the
teacher saves it; the sandbox saves at once and shows what it added.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import jwt
from flask import Blueprint, render_template, request
from lti1p3platform.exceptions import LtiDeepLinkingResponseException, LtiException

from .adapter import JWT_LEEWAY, SandboxPlatformConf
from .records import ToolRegistration
from .vocab import (
    DEEP_LINKING_RESPONSE,
    DEPLOYMENT_ID,
    DL_CONTENT_ITEMS,
    DL_ERRORMSG,
    DL_MSG,
    MESSAGE_TYPE,
    VERSION,
)
from .web import error_page, sandbox

bp = Blueprint("sandbox_deep_linking", __name__)


class DeepLinkRejected(Exception):
    pass


def _tool_hosts(tool: ToolRegistration) -> set[str]:
    hosts = {urlsplit(u).netloc.lower() for u in (tool.launch_url, tool.deeplink_url) if u}
    if tool.domain:
        hosts.add(tool.domain.lower())
    return hosts


def _check_claims(claims: dict[str, Any], tool: ToolRegistration, issuer: str) -> None:
    if claims.get("iss") != tool.client_id:
        raise DeepLinkRejected("iss must be the tool's client_id")
    aud = claims.get("aud")
    if not (aud == issuer or (isinstance(aud, list) and issuer in aud)):
        raise DeepLinkRejected("aud must be the platform's issuer")
    if claims.get(DEPLOYMENT_ID) != tool.deployment_id:
        raise DeepLinkRejected("deployment_id is not this tool's deployment")
    if claims.get(VERSION) != "1.3.0":
        raise DeepLinkRejected("version must be 1.3.0")
    if claims.get(MESSAGE_TYPE) != DEEP_LINKING_RESPONSE:
        raise DeepLinkRejected("message_type must be LtiDeepLinkingResponse")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise DeepLinkRejected("nonce is missing")


def _activity_from_item(item: Any, tool: ToolRegistration) -> dict[str, Any]:
    """An ``ltiResourceLink`` content item → ``Sandbox.add_activity`` arguments."""
    if not isinstance(item, dict) or item.get("type") != "ltiResourceLink":
        raise DeepLinkRejected("only ltiResourceLink items are accepted")
    url = item.get("url")
    if url is not None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or parts.netloc.lower() not in _tool_hosts(tool):
            raise DeepLinkRejected("the item's url must be on the tool's own host")
    for key in ("title", "text"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise DeepLinkRejected(f"{key} must be a string")
    custom = item.get("custom", {})
    if not isinstance(custom, dict) or not all(
            isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool)
            for k, v in custom.items()):
        raise DeepLinkRejected("custom must map names to string values")
    line_item = item.get("lineItem")
    if line_item is not None:
        maximum = line_item.get("scoreMaximum") if isinstance(line_item, dict) else None
        if isinstance(maximum, bool) or not isinstance(maximum, (int, float)) or maximum <= 0:
            raise DeepLinkRejected("lineItem.scoreMaximum must be a number > 0")
        if any(line_item.get(k) is not None and not isinstance(line_item[k], str)
               for k in ("label", "resourceId", "tag")):
            raise DeepLinkRejected("lineItem label, resourceId and tag must be strings")
    container = "iframe" if "iframe" in item else "window" if "window" in item else None
    return {"title": (item.get("title") or tool.name).strip() or tool.name, "url": url,
            "description": item.get("text") or "", "custom": {k: str(v) for k, v in custom.items()},
            "line_item": line_item, "container": container}


def verify_response(token: str, expected_type_id: str | None) -> tuple[ToolRegistration, dict, list[dict]]:
    sb = sandbox()
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise DeepLinkRejected(f"JWT is not a JWT ({exc})") from exc
    tool = sb.tool(unverified.get("iss") if isinstance(unverified.get("iss"), str) else None)
    if tool is None or not tool.active:
        raise DeepLinkRejected("iss is not a registered, active tool")
    if expected_type_id not in (None, "", str(tool.type_id)):
        raise DeepLinkRejected("the response is for another tool than the one this return URL was issued to")
    conf = SandboxPlatformConf(sandbox=sb, tool=tool)
    conf.set_accepted_deeplinking_types(["ltiResourceLink"])
    try:
        conf.validate_deeplinking_resp({"JWT": token})
    except (LtiException, LtiDeepLinkingResponseException) as exc:
        raise DeepLinkRejected(str(exc) or "unsupported content item") from exc
    except (KeyError, TypeError, AttributeError) as exc:  # the library indexes items unchecked
        raise DeepLinkRejected("content_items is malformed") from exc
    claims = conf.verified_claims or {}
    _check_claims(claims, tool, sb.issuer)
    items = claims.get(DL_CONTENT_ITEMS, [])
    if not isinstance(items, list):
        raise DeepLinkRejected("content_items must be a list")
    activities = [_activity_from_item(item, tool) for item in items]
    if not sb.remember_deep_link_nonce(tool.client_id, claims["nonce"], keep_until=claims["exp"] + JWT_LEEWAY):
        raise DeepLinkRejected("nonce was already used")
    return tool, claims, activities


@bp.post("/mod/lti/contentitem_return.php")
def content_item_return():
    token = request.form.get("JWT")
    if not token:
        return error_page(400, "Deep linking refused", "The tool posted no JWT.")
    try:
        tool, claims, chosen = verify_response(token, request.args.get("id"))
    except DeepLinkRejected as exc:
        return error_page(400, "Deep linking refused", str(exc))
    sb = sandbox()
    added = []
    for spec in chosen:
        activity = sb.add_activity(tool.client_id, spec["title"], spec["custom"], spec["line_item"],
                                   url=spec["url"], description=spec["description"],
                                   container=spec["container"], created_by="deep linking")
        added.append((activity, sb.activity_line_items(activity.id)))
    return render_template("sandbox/deep_link_done.html", tool=tool, added=added,
                           msg=claims.get(DL_MSG), errormsg=claims.get(DL_ERRORMSG))
