"""The deep-linking response (LTI Deep Linking 2.0 §4.2), framework-free."""
from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt

from lms_plugin.core import claims as C

RESPONSE_LIFETIME = 300


def resource_link_item(*, title: str, url: str, custom: dict[str, str], text: str = "",
                       score_maximum: float | None = None, resource_id: str | None = None,
                       tag: str = "exambridge", window: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "ltiResourceLink", "title": title, "url": url, "custom": custom}
    if text:
        item["text"] = text
    if score_maximum is not None:
        item["lineItem"] = {"scoreMaximum": score_maximum, "label": title, "tag": tag}
        if resource_id:
            item["lineItem"]["resourceId"] = resource_id
    if window:
        item["window"] = {"targetName": "exambridge"}
    return item


def response_jwt(key, *, client_id: str, platform_issuer: str, deployment_id: str,
                 items: list[dict], data: str | None = None, message: str | None = None,
                 now: float | None = None) -> str:
    """Signed LtiDeepLinkingResponse: iss = client id, aud = the platform, fresh nonce,
    deployment id and ``data`` echoed back (checklist step 15)."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "aud": platform_issuer,
        "iat": issued,
        "exp": issued + RESPONSE_LIFETIME,
        "nonce": secrets.token_urlsafe(24),
        C.MESSAGE_TYPE: C.DEEP_LINKING_RESPONSE,
        C.VERSION: "1.3.0",
        C.DEPLOYMENT_ID: deployment_id,
        C.DL_CONTENT_ITEMS: items,
    }
    if data is not None:
        claims[C.DL_DATA] = data
    if message:
        claims[C.DL_MSG] = message
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["RS256"])
