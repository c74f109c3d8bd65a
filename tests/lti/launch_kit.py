"""A signing platform for launch tests: its own RSA keys, a JWKS over a real socket, and
id_tokens built claim by claim, so negative tests can sign exactly the bad token they need."""
from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from lms_plugin.core import claims as C

ISSUER = "https://lms.test.example"


def new_key(kid: str | None = None) -> RSAKey:
    kid = kid or uuid.uuid4().hex[:12]
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"}, private=True)


@dataclass
class SigningPlatform:
    """The platform side of a launch. ``jwks`` is what its JWKS URL serves (mutable)."""

    client_id: str = "tool-client-1"
    deployment_id: str = "1"
    issuer: str = ISSUER
    key: RSAKey = field(default_factory=new_key)
    published: list = field(default_factory=list)
    jwks_hits: int = 0

    def __post_init__(self):
        self.published = [self.key]

    def jwks(self) -> dict:
        self.jwks_hits += 1
        return {"keys": [k.as_dict(private=False) | {"kid": k.kid, "alg": "RS256", "use": "sig"}
                         for k in self.published]}

    def wsgi(self, environ, start_response):
        body = json.dumps(self.jwks()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def claims(self, *, nonce: str, target: str, role: str = "Instructor", sub: str = "3",
               message_type: str = C.RESOURCE_LINK_REQUEST, **extra) -> dict:
        now = int(time.time())
        roles = {"Instructor": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
                 "Learner": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]}[role]
        c = {
            "iss": self.issuer, "aud": self.client_id, "sub": sub, "nonce": nonce,
            "iat": now, "exp": now + 60,
            C.DEPLOYMENT_ID: self.deployment_id, C.TARGET_LINK_URI: target,
            C.MESSAGE_TYPE: message_type, C.VERSION: "1.3.0", C.ROLES: roles,
            C.CONTEXT: {"id": "2", "label": "EXAM101", "title": "Exam 101", "type": ["CourseSection"]},
            C.RESOURCE_LINK: {"id": "1", "title": "Final exam"},
            C.LAUNCH_PRESENTATION: {"locale": "en", "document_target": "iframe"},
            "name": "Tess Teacher", "given_name": "Tess", "family_name": "Teacher",
        }
        if message_type == C.DEEP_LINKING_REQUEST:
            c.pop(C.RESOURCE_LINK)
            c[C.DL_SETTINGS] = {"deep_link_return_url": f"{self.issuer}/mod/lti/contentitem_return.php",
                                "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets":
                                ["iframe", "window"], "accept_multiple": False, "auto_create": False}
        c.update(extra)
        return c

    def sign(self, claims: dict, *, key: RSAKey | None = None, header: dict | None = None) -> str:
        key = key or self.key
        h = {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
        h.update(header or {})
        return jwt.encode(h, claims, key, algorithms=["RS256"])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: dict) -> str:
    """alg=none: a token with no signature at all."""
    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."


def hs256_with_public_key(claims: dict, platform: SigningPlatform) -> str:
    """The key-confusion attack: HS256 keyed with the platform's public key PEM."""
    import hashlib
    import hmac

    pem = platform.key.as_pem(private=False)
    header = b64(json.dumps({"alg": "HS256", "kid": platform.key.kid, "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    sig = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(sig)}"


@dataclass
class Login:
    state: str
    nonce: str
    redirect_uri: str
    auth_params: dict


def start_login(http, bridge_url: str, platform: SigningPlatform, *, target: str | None = None,
                headers: dict | None = None) -> Login:
    """Do the OIDC initiation against the bridge; return what the platform's auth endpoint gets."""
    target = target or f"{bridge_url}/lti/launch"
    resp = http.get(f"{bridge_url}/lti/login", params={
        "iss": platform.issuer, "login_hint": "3", "target_link_uri": target,
        "lti_message_hint": "hint-1", "client_id": platform.client_id,
        "lti_deployment_id": platform.deployment_id}, allow_redirects=False, headers=headers or {})
    assert resp.status_code == 302, resp.text
    params = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    return Login(state=params["state"], nonce=params["nonce"], redirect_uri=params["redirect_uri"],
                 auth_params=params)


def error_code(html: str) -> str | None:
    m = re.search(r'data-error-code="([^"]+)"', html)
    return m.group(1) if m else None
