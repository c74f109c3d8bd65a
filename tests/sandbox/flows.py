"""Playing the browser and the tool against the sandbox over HTTP."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests

from .toolsim import SimTool

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "moodle-4.5.6"


def moodle_fixture(name: str) -> dict[str, Any]:
    """A captured Moodle 4.5.6 payload; skips the test when the shared folder is absent."""
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"Moodle fixtures not found at {FIXTURES} (the shared folder beside the repo)")
    return json.loads(path.read_text())


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.iframes: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "method": attrs.get("method"),
                               "target": attrs.get("target"), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "iframe":
            self.iframes.append(attrs)


def parse_html(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    return parser


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def login_initiation(http: requests.Session, start_url: str) -> dict[str, str]:
    """Follow a sandbox launch start to the tool's login initiation; its parameters."""
    resp = http.get(start_url, allow_redirects=False)
    assert resp.status_code == 302, resp.text
    return query_of(resp.headers["Location"])


def auth_request(login: dict[str, str], redirect_uri: str, /, **overrides: Any) -> dict[str, str]:
    """The tool's OIDC authentication request for a login initiation (overrides; None drops)."""
    params = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
              "client_id": login["client_id"], "redirect_uri": redirect_uri, "login_hint": login["login_hint"],
              "lti_message_hint": login["lti_message_hint"], "nonce": "nonce-123", "state": "state-456"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def platform_keys(http: requests.Session, lms) -> dict[str, Any]:
    return {k["kid"]: jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(k))
            for k in http.get(f"{lms.url}/mod/lti/certs.php").json()["keys"]}


def verify_id_token(http: requests.Session, lms, token: str, client_id: str) -> dict[str, Any]:
    """Verify an id_token the way a tool must: the platform's JWKS, kid, RS256, iss, aud."""
    header = jwt.get_unverified_header(token)
    key = platform_keys(http, lms)[header["kid"]]
    return jwt.decode(token, key, algorithms=["RS256"], audience=client_id, issuer=lms.url)


def launch(http: requests.Session, lms, tool: SimTool, start_url: str, *, redirect_uri: str | None = None,
           **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The whole happy path: start → login initiation → auth.php → the id_token form.
    Returns (verified claims, the form)."""
    login = login_initiation(http, start_url)
    resp = http.get(f"{lms.url}/mod/lti/auth.php",
                    params=auth_request(login, redirect_uri or tool.launch_url, **overrides))
    assert resp.status_code == 200, resp.text
    form = parse_html(resp.text).forms[0]
    return verify_id_token(http, lms, form["fields"]["id_token"], tool.client_id), form


def access_token(http: requests.Session, lms, tool: SimTool, scopes: list[str]) -> str:
    resp = http.post(f"{lms.url}/mod/lti/token.php", data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": tool.client_assertion(f"{lms.url}/mod/lti/token.php"),
        "scope": " ".join(scopes)})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}
