"""Access tokens for LTI Advantage services and the one place that sends them (checklist 13).

The tool authenticates to the platform's token endpoint with the OAuth 2 client-credentials
grant and a signed client assertion (``private_key_jwt``, RFC 7523) built by authlib: iss = sub
= client_id, aud = the token URL, a fresh ``jti``, ``exp`` five minutes ahead, the signing
key's ``kid`` in the header. Tokens are cached in this process per (platform, client, token
URL, scopes) until shortly before they expire.

Service calls need no database session: ``credentials()`` copies what they need (endpoints,
client id, the signing key) out of the database into a frozen value, so the outbox can make its
network calls after its transaction has ended.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import requests
from requests.utils import parse_header_links
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from sqlalchemy.orm import Session

from bridge import clock
from lms_plugin.core import keys as key_core
from lms_plugin.core.claims import (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_NRPS,  # noqa: F401
                                   SCOPE_RESULT_READONLY, SCOPE_SCORE)
from lms_plugin.errors import ServiceError
from lms_plugin.models import Platform
from lms_plugin.services import tool_keys
from lms_plugin.services.http import USER_AGENT

log = logging.getLogger(__name__)

ASSERTION_LIFETIME_SECONDS = 300  # checklist 13: exp no more than 5 minutes ahead
DEFAULT_TOKEN_LIFETIME_SECONDS = 300  # when the platform does not say (expires_in is optional)
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_PAGES = 1000  # a guard against an LMS whose rel="next" links go round in circles
_PERMANENT_TOKEN_ERRORS = {"invalid_client", "invalid_scope", "unauthorized_client",
                           "unsupported_grant_type", "invalid_grant", "invalid_request"}


@dataclasses.dataclass(frozen=True)
class PlatformCredentials:
    """What a service call needs about a platform, detached from the database."""

    platform_id: int
    issuer: str
    client_id: str
    token_url: str
    kid: str
    private_pem: str = dataclasses.field(repr=False)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    active: bool = True

    @property
    def label(self) -> str:
        return f"{self.issuer} (client {self.client_id})"


def _configured_timeout() -> float:
    try:
        from flask import current_app

        return float(current_app.config["EXAMBRIDGE_HTTP_TIMEOUT_SECONDS"])
    except (RuntimeError, KeyError):
        return DEFAULT_TIMEOUT_SECONDS


def credentials(session: Session, platform: Platform, *, timeout: float | None = None
                ) -> PlatformCredentials:
    """Snapshot ``platform`` and the tool's current signing key for service calls."""
    key = tool_keys.signing_key(session)
    return PlatformCredentials(
        platform_id=platform.id, issuer=platform.issuer, client_id=platform.client_id,
        token_url=platform.auth_token_url, kid=key.kid, private_pem=tool_keys.private_pem(key),
        timeout=_configured_timeout() if timeout is None else timeout, active=platform.active)


# --- where tokens may go ------------------------------------------------------------------
def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def check_service_url(creds: PlatformCredentials, url: str) -> None:
    """Refuse to send a token anywhere but the platform's own host (checklist 12).

    The service URL's host and port must equal those of the platform's issuer or of its token
    URL, and an https platform is never called over plain http.
    """
    scheme, host, port = _origin(url)
    if scheme not in ("http", "https") or not host:
        raise ServiceError(f"The LMS gave a service address that is not an http(s) URL: {url!r}.",
                           reason="bad_service_url", retryable=False)
    trusted = [_origin(creds.issuer), _origin(creds.token_url)]
    for t_scheme, t_host, t_port in trusted:
        if host == t_host and port == t_port and not (t_scheme == "https" and scheme == "http"):
            return
    hosts = sorted({f"{h}:{p}" for _s, h, p in trusted})
    raise ServiceError(
        f"Refusing to send an LMS access token to {host}:{port}: service addresses must be on "
        f"the platform's own host ({', '.join(hosts)}). Check the issuer and token URL of "
        f"{creds.label}, or the service URLs the LMS sends in its launches.",
        reason="foreign_service_host", retryable=False)


# --- token cache ------------------------------------------------------------------------------
@dataclasses.dataclass
class _Cached:
    token: str
    refresh_at: float  # clock.timestamp() after which a new token is fetched


_cache: dict[tuple, _Cached] = {}
_key_locks: dict[tuple, threading.Lock] = {}
_cache_lock = threading.Lock()  # a gevent lock once gevent has patched threading


def _cache_key(creds: PlatformCredentials, scopes: frozenset[str]) -> tuple:
    return (creds.platform_id, creds.issuer, creds.client_id, creds.token_url, scopes)


def clear_cache() -> None:
    """Forget every cached token (tests; key rotation does not need it)."""
    with _cache_lock:
        _cache.clear()


def invalidate(creds: PlatformCredentials, scopes: Iterable[str], token: str | None = None) -> None:
    """Drop the cached token for these scopes (after a 401). With ``token``, drop it only if it
    is still the cached one, so a fresh token another caller just fetched survives."""
    key = _cache_key(creds, frozenset(scopes))
    with _cache_lock:
        cached = _cache.get(key)
        if cached and (token is None or cached.token == token):
            del _cache[key]


def _refresh_margin(lifetime: float) -> float:
    return min(60.0, lifetime / 2)


def require_granted(scopes: Iterable[str], granted: Iterable[str] | None, *, what: str) -> None:
    """Refuse scopes the launch did not grant (checklist 13); ``granted=None`` skips the check."""
    if granted is None:
        return
    missing = sorted(set(scopes) - set(granted))
    if missing:
        raise ServiceError(
            f"The LMS has not granted this tool the right to {what} ({', '.join(missing)}). "
            "Enable the service in the tool's settings in the LMS (Moodle: 'IMS LTI Assignment "
            "and Grade Services' / 'IMS LTI Names and Role Provisioning') and launch the tool "
            "from the course again.", reason="scope_not_granted", retryable=False)


def access_token(creds: PlatformCredentials, scopes: Iterable[str]) -> str:
    """A bearer token for exactly ``scopes``, from the cache or the platform's token endpoint."""
    scope_set = frozenset(scopes)
    if not scope_set:
        raise ValueError("access_token needs at least one scope")
    key = _cache_key(creds, scope_set)
    with _cache_lock:
        cached = _cache.get(key)
        if cached and cached.refresh_at > clock.timestamp():
            return cached.token
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:  # one fetch per key at a time; latecomers reuse its token
        with _cache_lock:
            cached = _cache.get(key)
            if cached and cached.refresh_at > clock.timestamp():
                return cached.token
        token, lifetime = _fetch(creds, scope_set)
        with _cache_lock:
            _cache[key] = _Cached(token, clock.timestamp() + lifetime - _refresh_margin(lifetime))
        return token


def _client_assertion(creds: PlatformCredentials) -> PrivateKeyJWT:
    """authlib's private_key_jwt with our claims. Built per request: authlib adds a ``jti`` to
    the claims dict it is given, so a shared dict would repeat the first one."""
    now = int(clock.timestamp())
    claims = {"iat": now, "exp": now + ASSERTION_LIFETIME_SECONDS, "jti": secrets.token_urlsafe(24)}
    return PrivateKeyJWT(creds.token_url, claims=claims, headers={"kid": creds.kid}, alg="RS256")


def _fetch(creds: PlatformCredentials, scopes: frozenset[str]) -> tuple[str, float]:
    check_service_url(creds, creds.token_url)
    oauth = OAuth2Session(client_id=creds.client_id,
                          client_secret=key_core.load_private(creds.private_pem, creds.kid),
                          token_endpoint_auth_method="private_key_jwt")
    oauth.headers["User-Agent"] = USER_AGENT
    oauth.register_client_auth_method(_client_assertion(creds))
    scope = " ".join(sorted(scopes))
    try:
        with oauth:
            token = oauth.fetch_token(creds.token_url, grant_type="client_credentials",
                                      scope=scope, timeout=creds.timeout)
    except OAuthError as exc:
        error = getattr(exc, "error", "") or "oauth_error"
        description = getattr(exc, "description", "") or ""
        permanent = error in _PERMANENT_TOKEN_ERRORS
        hint = {
            "invalid_client": " Check the client id and that the LMS has the tool's public "
                              "keyset URL (or current key).",
            "invalid_scope": " The LMS refused the requested scopes; enable the services in "
                             "the tool's settings in the LMS.",
        }.get(error, "")
        raise ServiceError(f"The LMS token endpoint refused the request: {error}"
                           f"{' (' + description + ')' if description else ''}.{hint}",
                           reason=f"token_{error}", retryable=not permanent) from exc
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        raise ServiceError(f"The LMS token endpoint answered HTTP {status}.",
                           reason="token_http_error", status=status,
                           retryable=status is None or status >= 500 or status in (408, 429)) from exc
    except requests.RequestException as exc:
        raise ServiceError(f"The LMS token endpoint {creds.token_url} could not be reached: "
                           f"{type(exc).__name__}.", reason="token_unreachable") from exc
    except ValueError as exc:  # a body that is not a JSON object (authlib)
        raise ServiceError(f"The LMS token endpoint answered something that is not a token: {exc}",
                           reason="token_bad_response") from exc
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise ServiceError("The LMS token endpoint answered without an access_token.",
                           reason="token_bad_response")
    try:
        lifetime = float(token.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
    except (TypeError, ValueError):
        lifetime = DEFAULT_TOKEN_LIFETIME_SECONDS
    return access, max(lifetime, 1.0)


# --- calling a service ----------------------------------------------------------------------
def call(creds: PlatformCredentials, method: str, url: str, *, scopes: Iterable[str],
         accept: str, content_type: str | None = None, body: Any = None,
         headers: Mapping[str, str] | None = None) -> requests.Response:
    """Send one authorised request to a platform service and return its response, whatever
    its status. A 401 drops the cached token and retries once with a fresh one. Connection
    errors and timeouts raise a retryable ServiceError; other statuses are the caller's."""
    if not creds.active:
        raise ServiceError(f"The platform {creds.label} is disabled in ExamBridge; enable it "
                           "on the admin page to talk to it again.", reason="platform_disabled")
    check_service_url(creds, url)
    scopes = frozenset(scopes)
    send_headers = {"Accept": accept, "User-Agent": USER_AGENT, **(headers or {})}
    if content_type:
        send_headers["Content-Type"] = content_type
    data = None if body is None else (body if isinstance(body, (bytes, str)) else
                                      _json_bytes(body))
    response = None
    for attempt in (1, 2):
        token = access_token(creds, scopes)
        send_headers["Authorization"] = f"Bearer {token}"
        try:
            response = requests.request(method, url, headers=send_headers, data=data,
                                        timeout=creds.timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise ServiceError(f"The LMS did not answer {method} {_short(url)} within "
                               f"{creds.timeout:g} s.", reason="timeout") from exc
        except requests.RequestException as exc:
            raise ServiceError(f"The LMS could not be reached for {method} {_short(url)}: "
                               f"{type(exc).__name__}.", reason="unreachable") from exc
        if response.status_code != 401 or attempt == 2:
            return response
        log.info("LMS answered 401 to %s %s; fetching a fresh token and retrying once",
                 method, _short(url))
        invalidate(creds, scopes, token)
    return response  # pragma: no cover - the loop always returns


def next_link(headers: Mapping[str, str] | None) -> str | None:
    """The target of ``Link: <…>; rel="next"``, or None (also when there is no Link header)."""
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() != "link" or not value:
            continue
        for link in parse_header_links(value):
            if "next" in (link.get("rel") or "").lower().split() and link.get("url"):
                return link["url"].strip()
    return None


def get_pages(creds: PlatformCredentials, url: str, *, scopes: Iterable[str], accept: str,
              what: str) -> Iterator[Any]:
    """GET ``url`` and every page after it (rel="next"), yielding each page's JSON body.
    ``what`` completes "The LMS refused to …" in error messages."""
    seen: set[str] = set()
    page_url: str | None = url
    while page_url:
        if page_url in seen or len(seen) >= MAX_PAGES:
            raise ServiceError(f"The LMS's pages go round in circles; stopped after {len(seen)} "
                               f"pages while trying to {what}.", reason="pagination",
                               retryable=False)
        seen.add(page_url)
        resp = call(creds, "GET", page_url, scopes=scopes, accept=accept)
        if not 200 <= resp.status_code < 300:
            raise failure(resp, what)
        try:
            body = resp.json()
        except ValueError:
            raise ServiceError(f"The LMS answered with something that is not JSON while trying "
                               f"to {what}.", reason="bad_response", retryable=False) from None
        yield body
        link = next_link(resp.headers)
        page_url = urljoin(page_url, link) if link else None


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _short(url: str) -> str:
    """The URL without its query string, for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def failure(response: requests.Response, what: str) -> ServiceError:
    """A ServiceError for a non-2xx service response: 4xx other than 401/408/429 are permanent
    (the LMS refused the request itself), the rest retryable. Carries the LMS's own message."""
    status = response.status_code
    message = lms_message(response)
    retryable = status >= 500 or status in (401, 408, 429)
    hint = ""
    if status == 401:
        hint = (" The LMS refused the tool's access token twice; if it sits behind Apache, "
                "make sure the Authorization header is passed on (CGIPassAuth On).")
    return ServiceError(f"The LMS refused to {what}: HTTP {status}"
                        f"{': ' + message if message else ''}.{hint}",
                        reason=f"http_{status}", status=status, retryable=retryable)


def lms_message(response: requests.Response, limit: int = 300) -> str:
    """The most useful text in an LMS error response (JSON error fields, else the body)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for field in ("message", "error_description", "reason", "error", "detail"):
            value = data.get(field)
            if isinstance(value, str) and value.strip():
                return value.strip()[:limit]
    text = (response.text or "").strip()
    return " ".join(text.split())[:limit]
