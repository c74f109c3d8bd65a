"""A simulated LTI tool for the sandbox tests: an RSA key (joserfc), a JWKS served over
HTTP, and the JWTs a tool signs (client assertions, deep-linking responses).

The tool's login/launch URLs are never fetched: the tests play the browser and the tool,
reading the sandbox's redirects and forms themselves.
"""
from __future__ import annotations

import functools
import json
import secrets
import time
from typing import Any

from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from lms_plugin.sandbox import Sandbox, ToolRegistration


def new_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or secrets.token_hex(6), "alg": "RS256", "use": "sig"},
                               private=True)


@functools.lru_cache(maxsize=1)
def _default_key() -> RSAKey:
    """The simulated tools' first key, shared by the session (RSA generation is slow)."""
    return new_key()


class SimTool:
    def __init__(self) -> None:
        self.key = _default_key()
        self.published = [self.key]
        self.jwks_fetches = 0
        self.base_url = ""  # set once served
        self.registration: ToolRegistration | None = None

    # --- the JWKS endpoint (a tiny WSGI app) ---------------------------------------------
    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/jwks":
            self.jwks_fetches += 1
            body = json.dumps({"keys": [k.as_dict(private=False) for k in self.published]}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"simulated tool"]

    # --- URLs ----------------------------------------------------------------------------
    @property
    def login_url(self) -> str:
        return f"{self.base_url}/lti/login"

    @property
    def launch_url(self) -> str:
        return f"{self.base_url}/lti/launch"

    @property
    def deeplink_url(self) -> str:
        return f"{self.base_url}/lti/deeplink"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks"

    @property
    def client_id(self) -> str:
        assert self.registration is not None
        return self.registration.client_id

    def register(self, state: Sandbox, **overrides: Any) -> ToolRegistration:
        fields = dict(name="Simulated tool", login_url=self.login_url, launch_url=self.launch_url,
                      deeplink_url=self.deeplink_url, jwks_url=self.jwks_url)
        fields.update(overrides)
        self.registration = state.register_tool(**fields)
        return self.registration

    # --- signing -------------------------------------------------------------------------
    def rotate(self) -> None:
        """Publish a new key and sign with it from now on (the old one stays published)."""
        self.key = new_key()
        self.published.append(self.key)

    def sign(self, claims: dict[str, Any], *, key: RSAKey | None = None, kid: str | None = None) -> str:
        key = key or self.key
        return jose_jwt.encode({"alg": "RS256", "kid": kid or key.kid, "typ": "JWT"}, claims, key)

    def client_assertion(self, token_url: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": token_url, "iat": now, "exp": now + 60,
                  "jti": secrets.token_hex(8)}
        claims.update(overrides)
        return self.sign({k: v for k, v in claims.items() if v is not None})

    def deep_link_response(self, issuer: str, items: list[dict[str, Any]], **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id, "aud": issuer, "iat": now, "exp": now + 300, "nonce": secrets.token_hex(8),
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id": self.registration.deployment_id,
            "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiDeepLinkingResponse",
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            "https://purl.imsglobal.org/spec/lti-dl/claim/content_items": items,
        }
        claims.update(overrides)
        return self.sign({k: v for k, v in claims.items() if v is not None})
