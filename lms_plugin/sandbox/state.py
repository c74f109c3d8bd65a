"""The sandbox LMS's state: tools, activities, line items, scores, one-time values and the
platform key, in memory behind one lock, optionally persisted to a JSON file after every
change (persistence.py), so ``make run`` survives a restart with the same platform key,
tools and gradebook. Access tokens are stored as SHA-256 hashes only.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from . import keys
from .course import USERS, User, find_user
from .gradebook import Gradebook
from .one_time_values import HintError, OneTimeValues, RegistrationTokenError
from .persistence import read_json, write_json_atomically
from .records import (
    AccessToken,
    Activity,
    LaunchHint,
    LineItem,
    RegistrationToken,
    Score,
    ToolRegistration,
    from_dict,
    to_dict,
)
from .state_shared import CONTAINERS, current_time, new_client_id, require_http_url
from .urls import MoodleUrls
from .vocab import SERVICE_SCOPES

# HintError and RegistrationTokenError (one_time_values.py), CONTAINERS and new_client_id
# (state_shared.py) stay importable from here, where their users have always found them.
__all__ = ["CONTAINERS", "LOGIN_METHODS", "STALE_SCORE_MODES", "STATE_FORMAT", "HintError",
           "RegistrationTokenError", "Sandbox", "SandboxStateError", "ToolKeySetError", "new_client_id"]

STATE_FORMAT = 1
STALE_SCORE_MODES = ("ignore", "moodle")
LOGIN_METHODS = ("get", "post")


class SandboxStateError(RuntimeError):
    """The state file cannot be read; the sandbox refuses to start rather than overwrite it."""


class ToolKeySetError(Exception):
    """The tool's JWKS could not be fetched or is not a key set."""


class Sandbox(Gradebook, OneTimeValues):
    """The whole sandbox LMS state; the gradebook and the one-time values are its mixins."""

    TOOL_JWKS_TTL = 300

    def __init__(self, issuer: str, state_path: str | Path | None = None, *,
                 http_get: Callable[..., Any] | None = None, private_key_pem: str | None = None):
        """``private_key_pem`` seeds the platform key of a NEW state (tests share one to
        save the RSA generation); a state file's own key always wins."""
        self.issuer = issuer.rstrip("/")
        self.urls = MoodleUrls(self.issuer)
        self._lock = threading.RLock()
        self._path = Path(state_path) if state_path else None
        self._http_get = http_get or requests.get
        self._outage = False
        self._jwks_cache: dict[str, tuple[float, dict]] = {}

        self._private_pem = ""
        self._outcome_secret = ""
        self._counters = {"type": 1, "activity": 1, "line_item": 2}  # grade item 1: course total
        self._settings = {"stale_score_mode": "ignore", "login_method": "get"}
        self._tools: dict[str, ToolRegistration] = {}
        self._activities: dict[int, Activity] = {}
        self._line_items: dict[int, LineItem] = {}
        self._scores: list[Score] = []
        self._hints: dict[str, LaunchHint] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._reg_tokens: dict[str, RegistrationToken] = {}
        self._seen_jtis: dict[str, float] = {}
        self._dl_nonces: dict[str, float] = {}

        if self._path and self._path.exists():
            self._load()
        else:
            self._private_pem = private_key_pem or keys.generate_private_pem()
            self._outcome_secret = secrets.token_hex(32)
            self._save()
        self._public_pem = keys.public_pem(self._private_pem)
        self._public_jwk = keys.public_jwk(self._public_pem)

    # ------------------------------------------------------------------ persistence ----
    def _snapshot(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "platform_private_key": self._private_pem,
            "outcome_secret": self._outcome_secret,
            "counters": self._counters,
            "settings": self._settings,
            "tools": [to_dict(t) for t in self._tools.values()],
            "activities": [to_dict(a) for a in self._activities.values()],
            "line_items": [to_dict(li) for li in self._line_items.values()],
            "scores": [to_dict(s) for s in self._scores],
            "launch_hints": [to_dict(h) for h in self._hints.values()],
            "access_tokens": [to_dict(t) for t in self._tokens.values()],
            "registration_tokens": [to_dict(t) for t in self._reg_tokens.values()],
            "seen_jtis": self._seen_jtis,
            "deep_link_nonces": self._dl_nonces,
        }

    def _load(self) -> None:
        try:
            data = read_json(self._path)
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            self._private_pem = data["platform_private_key"]
            self._outcome_secret = data["outcome_secret"]
            self._counters.update(data.get("counters", {}))
            self._settings.update(data.get("settings", {}))
            self._tools = {t["client_id"]: from_dict(ToolRegistration, t) for t in data.get("tools", [])}
            self._activities = {a["id"]: from_dict(Activity, a) for a in data.get("activities", [])}
            self._line_items = {li["id"]: from_dict(LineItem, li) for li in data.get("line_items", [])}
            self._scores = [from_dict(Score, s) for s in data.get("scores", [])]
            self._hints = {h["launch_id"]: from_dict(LaunchHint, h) for h in data.get("launch_hints", [])}
            self._tokens = {t["token_hash"]: from_dict(AccessToken, t) for t in data.get("access_tokens", [])}
            self._reg_tokens = {t["jti"]: from_dict(RegistrationToken, t)
                                for t in data.get("registration_tokens", [])}
            self._seen_jtis = dict(data.get("seen_jtis", {}))
            self._dl_nonces = dict(data.get("deep_link_nonces", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SandboxStateError(f"{self._path}: cannot load the sandbox state ({exc}); "
                                    "move the file away to start afresh") from exc

    def _prune(self) -> None:
        now = current_time()
        day = 86400
        self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}
        self._seen_jtis = {k: exp for k, exp in self._seen_jtis.items() if exp > now}
        self._dl_nonces = {k: exp for k, exp in self._dl_nonces.items() if exp > now}
        self._hints = {k: h for k, h in self._hints.items() if h.created_at > now - day}
        self._reg_tokens = {k: t for k, t in self._reg_tokens.items() if t.expires_at > now - day}

    def _save(self) -> None:
        """Persist the whole state (callers hold the lock)."""
        self._prune()
        if self._path:
            write_json_atomically(self._path, self._snapshot())

    def _next(self, counter: str) -> int:
        value = self._counters[counter]
        self._counters[counter] = value + 1
        return value

    # ------------------------------------------------------------------ platform key ----
    @property
    def private_key_pem(self) -> str:
        return self._private_pem

    @property
    def public_key_pem(self) -> str:
        return self._public_pem

    @property
    def public_jwk(self) -> dict:
        return dict(self._public_jwk)

    @property
    def kid(self) -> str:
        return self._public_jwk["kid"]

    @property
    def guid(self) -> str:
        """Stable per installation, like Moodle's site identifier hash."""
        return hashlib.md5(("guid:" + self._outcome_secret).encode()).hexdigest()

    def outcome_sourcedid(self, activity_id: int, user_id: int, type_id: int) -> str:
        """The LTI 1.1 ``lis_result_sourcedid``: Moodle's JSON with an HMAC over the data."""
        data = {"instanceid": str(activity_id), "userid": str(user_id), "typeid": str(type_id),
                "launchid": secrets.randbelow(2_000_000_000)}
        raw = json.dumps(data, separators=(",", ":"))
        digest = hmac.new(self._outcome_secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
        return json.dumps({"data": data, "hash": digest}, separators=(",", ":"))

    # ------------------------------------------------------------------ people ---------
    @property
    def users(self) -> list[User]:
        return list(USERS)

    def user(self, user_id) -> User | None:
        return find_user(user_id)

    # ------------------------------------------------------------------ settings -------
    @property
    def outage(self) -> bool:
        return self._outage

    def set_outage(self, on: bool) -> None:
        """While on, the AGS and NRPS endpoints answer 503 (not persisted)."""
        self._outage = bool(on)

    @property
    def stale_score_mode(self) -> str:
        return self._settings["stale_score_mode"]

    def set_stale_score_mode(self, mode: str) -> None:
        """``ignore``: a score older than the stored one is dropped and answered 200 (AGS
        spec). ``moodle``: refused with 409 when not newer, at second resolution, as
        Moodle 4.5's gradebookservices does."""
        if mode not in STALE_SCORE_MODES:
            raise ValueError(f"stale score mode must be one of {STALE_SCORE_MODES}")
        with self._lock:
            self._settings["stale_score_mode"] = mode
            self._save()

    @property
    def login_method(self) -> str:
        return self._settings["login_method"]

    def set_login_method(self, method: str) -> None:
        """How launches reach the tool's login initiation URL: ``get`` (a redirect) or
        ``post`` (an auto-submitted form, as Moodle does)."""
        if method not in LOGIN_METHODS:
            raise ValueError(f"login method must be one of {LOGIN_METHODS}")
        with self._lock:
            self._settings["login_method"] = method
            self._save()

    # ------------------------------------------------------------------ tools ----------
    def register_tool(self, *, name: str, login_url: str, launch_url: str, deeplink_url: str | None = None,
                      jwks_url: str, redirect_uris: list[str] | None = None,
                      scopes: list[str] | None = None, custom: dict[str, str] | None = None,
                      description: str = "", domain: str | None = None, send_name: bool = True,
                      send_email: bool = True, default_container: str = "window",
                      registered_by: str = "api", logo_uri: str = "",
                      client_id: str | None = None) -> ToolRegistration:
        """Register a tool type. ``redirect_uris`` defaults to the launch and deep-linking
        URLs; ``scopes`` to every service scope the sandbox offers."""
        if not (name or "").strip():
            raise ValueError("a tool needs a name")
        require_http_url(login_url, "login_url")
        require_http_url(launch_url, "launch_url")
        require_http_url(jwks_url, "jwks_url")
        if deeplink_url:
            require_http_url(deeplink_url, "deeplink_url")
        if redirect_uris is None:
            redirect_uris = [launch_url] + ([deeplink_url] if deeplink_url and deeplink_url != launch_url else [])
        if not redirect_uris:
            raise ValueError("a tool needs at least one redirect URI")
        for uri in redirect_uris:
            require_http_url(uri, "redirect URI")
        scopes = list(SERVICE_SCOPES) if scopes is None else [s for s in SERVICE_SCOPES if s in scopes]
        if default_container not in CONTAINERS:
            raise ValueError(f"default_container must be one of {CONTAINERS}")
        with self._lock:
            if client_id is None:
                client_id = new_client_id()
            if client_id in self._tools:
                raise ValueError(f"client id {client_id!r} is already registered")
            type_id = self._next("type")
            tool = ToolRegistration(
                client_id=client_id, deployment_id=str(type_id), type_id=type_id, name=name.strip(),
                login_url=login_url, launch_url=launch_url, deeplink_url=deeplink_url or None,
                jwks_url=jwks_url, redirect_uris=list(redirect_uris), scopes=scopes,
                description=description, domain=domain or urlsplit(launch_url).netloc,
                custom={str(k): str(v) for k, v in (custom or {}).items()},
                send_name=send_name, send_email=send_email, default_container=default_container,
                registered_by=registered_by, logo_uri=logo_uri, created_at=current_time())
            self._tools[client_id] = tool
            self._save()
            return copy.deepcopy(tool)

    @property
    def tools(self) -> list[ToolRegistration]:
        with self._lock:
            return sorted((copy.deepcopy(t) for t in self._tools.values()), key=lambda t: t.type_id)

    def tool(self, client_id: str | None) -> ToolRegistration | None:
        with self._lock:
            tool = self._tools.get(client_id or "")
            return copy.deepcopy(tool) if tool else None

    def tool_by_type(self, type_id) -> ToolRegistration | None:
        try:
            wanted = int(str(type_id))
        except (TypeError, ValueError):
            return None
        with self._lock:
            for tool in self._tools.values():
                if tool.type_id == wanted:
                    return copy.deepcopy(tool)
        return None

    def set_tool_active(self, client_id: str, active: bool) -> None:
        with self._lock:
            if client_id not in self._tools:
                raise KeyError(client_id)
            self._tools[client_id].active = bool(active)
            self._save()

    def tool_key_set(self, tool: ToolRegistration, *, refresh: bool = False) -> dict:
        """The tool's JWKS, fetched from its ``jwks_uri`` and cached for a few minutes;
        ``refresh`` forces a refetch (used once when a JWT names an unknown ``kid``)."""
        cached = self._jwks_cache.get(tool.client_id)
        if cached and not refresh and cached[0] > current_time():
            return cached[1]
        try:
            resp = self._http_get(tool.jwks_url, timeout=5, headers={"Accept": "application/json"})
            key_set = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise ToolKeySetError(f"cannot fetch the tool's key set from {tool.jwks_url}: {exc}") from exc
        if getattr(resp, "status_code", 200) != 200 or not isinstance(key_set, dict) \
                or not isinstance(key_set.get("keys"), list):
            raise ToolKeySetError(f"{tool.jwks_url} did not answer a JWK set")
        self._jwks_cache[tool.client_id] = (current_time() + self.TOOL_JWKS_TTL, key_set)
        return key_set

    # ------------------------------------------------------------------ launches -------
    def launch_url(self, user_id: int, activity_id: int, container: str = "window") -> str:
        """The sandbox URL that starts a resource-link launch (what "Launch as" links to)."""
        if container not in CONTAINERS:
            raise ValueError(f"container must be one of {CONTAINERS}")
        return self.urls.launch(user_id, activity_id, container)

    def deep_link_url(self, user_id: int, tool_client_id: str, container: str = "window") -> str:
        """The sandbox URL that starts a deep-linking launch for a tool."""
        if container not in CONTAINERS:
            raise ValueError(f"container must be one of {CONTAINERS}")
        return self.urls.deep_link(user_id, tool_client_id, container)
