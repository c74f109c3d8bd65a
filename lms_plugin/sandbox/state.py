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
import string
import threading
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import jwt
import requests

from . import keys
from .course import USERS, User, find_user
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
from .urls import MoodleUrls
from .vocab import DEEP_LINKING_REQUEST, RESOURCE_LINK_REQUEST, SERVICE_SCOPES

STATE_FORMAT = 1
CONTAINERS = ("window", "iframe")
STALE_SCORE_MODES = ("ignore", "moodle")
LOGIN_METHODS = ("get", "post")


class SandboxStateError(RuntimeError):
    """The state file cannot be read; the sandbox refuses to start rather than overwrite it."""


class HintError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RegistrationTokenError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ToolKeySetError(Exception):
    """The tool's JWKS could not be fetched or is not a key set."""


def _now() -> float:
    return time.time()


def new_client_id() -> str:
    """15 random letters and digits, like Moodle's ``random_string(15)``."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(15))


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _require_http_url(value: str, what: str) -> str:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an http(s) URL, not {value!r}")
    return value


class Sandbox:
    HINT_TTL = 3600
    ACCESS_TOKEN_TTL = 3600
    REGISTRATION_TOKEN_TTL = 3600  # Moodle: one hour
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
        now = _now()
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
        _require_http_url(login_url, "login_url")
        _require_http_url(launch_url, "launch_url")
        _require_http_url(jwks_url, "jwks_url")
        if deeplink_url:
            _require_http_url(deeplink_url, "deeplink_url")
        if redirect_uris is None:
            redirect_uris = [launch_url] + ([deeplink_url] if deeplink_url and deeplink_url != launch_url else [])
        if not redirect_uris:
            raise ValueError("a tool needs at least one redirect URI")
        for uri in redirect_uris:
            _require_http_url(uri, "redirect URI")
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
                registered_by=registered_by, logo_uri=logo_uri, created_at=_now())
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
        if cached and not refresh and cached[0] > _now():
            return cached[1]
        try:
            resp = self._http_get(tool.jwks_url, timeout=5, headers={"Accept": "application/json"})
            key_set = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise ToolKeySetError(f"cannot fetch the tool's key set from {tool.jwks_url}: {exc}") from exc
        if getattr(resp, "status_code", 200) != 200 or not isinstance(key_set, dict) \
                or not isinstance(key_set.get("keys"), list):
            raise ToolKeySetError(f"{tool.jwks_url} did not answer a JWK set")
        self._jwks_cache[tool.client_id] = (_now() + self.TOOL_JWKS_TTL, key_set)
        return key_set

    # ------------------------------------------------------------------ activities -----
    def add_activity(self, tool_client_id: str, title: str, custom: dict[str, str] | None = None,
                     line_item: dict[str, Any] | float | None = None, *, url: str | None = None,
                     description: str = "", container: str | None = None,
                     created_by: str = "api") -> Activity:
        """Place a resource link of a registered tool in the course. ``line_item`` is an AGS
        ``lineItem`` dict (``scoreMaximum`` required; ``label``, ``resourceId``, ``tag``) or
        just the maximum; the line item is bound to the new activity."""
        if not (title or "").strip():
            raise ValueError("an activity needs a title")
        if url:
            _require_http_url(url, "activity url")
        if container is not None and container not in CONTAINERS:
            raise ValueError(f"container must be one of {CONTAINERS}")
        if line_item is not None and not isinstance(line_item, dict):
            line_item = {"scoreMaximum": line_item}
        if line_item is not None:
            maximum = line_item.get("scoreMaximum")
            if isinstance(maximum, bool) or not isinstance(maximum, (int, float)) or maximum <= 0:
                raise ValueError("lineItem.scoreMaximum must be a number > 0")
        with self._lock:
            tool = self._tools.get(tool_client_id)
            if tool is None:
                raise KeyError(f"unknown tool {tool_client_id!r}")
            activity = Activity(
                id=self._next("activity"), type_id=tool.type_id, client_id=tool.client_id,
                title=title.strip(), url=url or None, description=description,
                custom={str(k): str(v) for k, v in (custom or {}).items()}, container=container,
                created_by=created_by, created_at=_now())
            self._activities[activity.id] = activity
            if line_item is not None:
                self._create_line_item_locked(
                    type_id=tool.type_id, label=str(line_item.get("label") or activity.title),
                    score_maximum=float(line_item["scoreMaximum"]),
                    resource_id=str(line_item.get("resourceId") or ""), tag=str(line_item.get("tag") or ""),
                    activity_id=activity.id, created_by=created_by)
            self._save()
            return copy.deepcopy(activity)

    @property
    def activities(self) -> list[Activity]:
        with self._lock:
            return [copy.deepcopy(a) for a in sorted(self._activities.values(), key=lambda a: a.id)]

    def activity(self, activity_id) -> Activity | None:
        try:
            key = int(str(activity_id))
        except (TypeError, ValueError):
            return None
        with self._lock:
            activity = self._activities.get(key)
            return copy.deepcopy(activity) if activity else None

    # ------------------------------------------------------------------ line items -----
    def _create_line_item_locked(self, **fields) -> LineItem:
        item = LineItem(id=self._next("line_item"), created_at=_now(), **fields)
        self._line_items[item.id] = item
        return item

    def create_line_item(self, *, type_id: int, label: str, score_maximum: float, resource_id: str = "",
                         tag: str = "", activity_id: int | None = None, start_date_time: str | None = None,
                         end_date_time: str | None = None, created_by: str = "api") -> LineItem:
        with self._lock:
            item = self._create_line_item_locked(
                type_id=type_id, label=label, score_maximum=float(score_maximum), resource_id=resource_id,
                tag=tag, activity_id=activity_id, start_date_time=start_date_time,
                end_date_time=end_date_time, created_by=created_by)
            self._save()
            return copy.deepcopy(item)

    def update_line_item(self, line_item_id: int, **fields) -> LineItem:
        with self._lock:
            item = self._line_items[line_item_id]
            for name, value in fields.items():
                if not hasattr(item, name) or name in ("id", "type_id", "created_at"):
                    raise AttributeError(name)
                setattr(item, name, value)
            self._save()
            return copy.deepcopy(item)

    def delete_line_item(self, line_item_id: int) -> None:
        with self._lock:
            self._line_items.pop(line_item_id)
            self._scores = [s for s in self._scores if s.line_item_id != line_item_id]
            self._save()

    @property
    def line_items(self) -> list[LineItem]:
        with self._lock:
            return [copy.deepcopy(li) for li in sorted(self._line_items.values(), key=lambda li: li.id)]

    def line_item(self, line_item_id) -> LineItem | None:
        try:
            key = int(str(line_item_id))
        except (TypeError, ValueError):
            return None
        with self._lock:
            item = self._line_items.get(key)
            return copy.deepcopy(item) if item else None

    def activity_line_items(self, activity_id: int) -> list[LineItem]:
        return [li for li in self.line_items if li.activity_id == activity_id]

    # ------------------------------------------------------------------ scores ---------
    def record_score(self, score: Score) -> str:
        """Store a validated score. Returns ``applied``, ``ignored`` (older than the score
        on record; spec behaviour) or ``refused`` (``moodle`` mode: not newer, 409)."""
        with self._lock:
            if score.line_item_id not in self._line_items:
                raise KeyError(score.line_item_id)
            current = self._current_score_locked(score.line_item_id, score.user_id)
            outcome = "applied"
            if current is not None:
                new, old = score.timestamp_dt, current.timestamp_dt
                if self.stale_score_mode == "moodle":
                    if int(new.timestamp()) <= int(old.timestamp()):
                        outcome = "refused"
                elif new < old:
                    outcome = "ignored"
            score.applied = outcome == "applied"
            score.received_at = _now()
            self._scores.append(score)
            self._save()
            return outcome

    def _current_score_locked(self, line_item_id: int, user_id: str) -> Score | None:
        for s in reversed(self._scores):
            if s.line_item_id == line_item_id and s.user_id == user_id and s.applied:
                return s
        return None

    def scores(self, line_item_id: int) -> list[Score]:
        """The score on record per user for a line item (the latest applied post)."""
        with self._lock:
            users = sorted({s.user_id for s in self._scores if s.line_item_id == line_item_id},
                           key=lambda u: (len(u), u))
            current = [self._current_score_locked(line_item_id, u) for u in users]
            return [copy.deepcopy(s) for s in current if s is not None]

    def score_log(self, line_item_id: int | None = None) -> list[Score]:
        """Every score post received, in arrival order, including ignored/refused ones."""
        with self._lock:
            return [copy.deepcopy(s) for s in self._scores
                    if line_item_id is None or s.line_item_id == line_item_id]

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

    def issue_launch_hint(self, *, user_id: int, client_id: str, message_type: str,
                          activity_id: int | None, container: str) -> LaunchHint:
        if message_type not in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST):
            raise ValueError(message_type)
        with self._lock:
            hint = LaunchHint(
                launch_id=f"ltilaunch{activity_id or 0}_{secrets.randbelow(10**9)}{secrets.token_hex(4)}",
                user_id=user_id, client_id=client_id, message_type=message_type,
                activity_id=activity_id, container=container, sesskey=secrets.token_urlsafe(8),
                created_at=_now())
            self._hints[hint.launch_id] = hint
            self._save()
            return copy.deepcopy(hint)

    def peek_launch_hint(self, launch_id: str) -> LaunchHint:
        """The unused, unexpired hint for ``launch_id``; raises HintError otherwise."""
        with self._lock:
            hint = self._hints.get(launch_id)
            if hint is None:
                raise HintError("unknown")
            if hint.used_at is not None:
                raise HintError("already used")
            if hint.created_at + self.HINT_TTL < _now():
                raise HintError("expired")
            return copy.deepcopy(hint)

    def consume_launch_hint(self, launch_id: str) -> LaunchHint:
        """Mark the hint used (atomically: a concurrent second use gets HintError)."""
        with self._lock:
            self.peek_launch_hint(launch_id)
            hint = self._hints[launch_id]
            hint.used_at = _now()
            self._save()
            return copy.deepcopy(hint)

    # ------------------------------------------------------------------ OAuth ----------
    def issue_access_token(self, client_id: str, scopes: list[str]) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[_hash_token(token)] = AccessToken(
                token_hash=_hash_token(token), client_id=client_id, scopes=list(scopes),
                expires_at=_now() + self.ACCESS_TOKEN_TTL)
            self._save()
        return token, self.ACCESS_TOKEN_TTL

    def find_access_token(self, token: str) -> AccessToken | None:
        with self._lock:
            record = self._tokens.get(_hash_token(token or ""))
            if record is None or record.expires_at <= _now():
                return None
            return copy.deepcopy(record)

    def remember_jti(self, client_id: str, jti: str, keep_until: float) -> bool:
        """False when this client already used ``jti`` (a replayed client assertion)."""
        key = f"{client_id}\x1f{jti}"
        with self._lock:
            if self._seen_jtis.get(key, 0) > _now():
                return False
            self._seen_jtis[key] = keep_until
            self._save()
            return True

    def remember_deep_link_nonce(self, client_id: str, nonce: str, keep_until: float) -> bool:
        """False when this tool already used ``nonce`` in a deep-linking response."""
        key = f"{client_id}\x1f{nonce}"
        with self._lock:
            if self._dl_nonces.get(key, 0) > _now():
                return False
            self._dl_nonces[key] = keep_until
            self._save()
            return True

    # ------------------------------------------------------------------ registration ---
    def issue_registration_token(self) -> tuple[str, RegistrationToken]:
        """A dynamic-registration token as Moodle makes one: a JWT signed by the platform,
        ``sub`` = the client id the tool will get, ``scope`` = ``reg``; single use."""
        now = int(_now())
        record = RegistrationToken(jti=secrets.token_urlsafe(12), client_id=new_client_id(),
                                   expires_at=now + self.REGISTRATION_TOKEN_TTL)
        token = jwt.encode({"sub": record.client_id, "scope": "reg", "iat": now, "exp": int(record.expires_at),
                            "jti": record.jti, "iss": self.issuer},
                           self._private_pem, algorithm="RS256", headers={"kid": self.kid})
        with self._lock:
            self._reg_tokens[record.jti] = record
            self._save()
        return token, copy.deepcopy(record)

    def check_registration_token(self, token: str) -> RegistrationToken:
        try:
            claims = jwt.decode(token, self._public_pem, algorithms=["RS256"],
                                options={"require": ["exp", "jti", "sub"], "verify_aud": False})
        except jwt.PyJWTError as exc:
            raise RegistrationTokenError(f"invalid registration token ({exc})") from exc
        if claims.get("scope") != "reg":
            raise RegistrationTokenError("not a registration token")
        with self._lock:
            record = self._reg_tokens.get(claims["jti"])
            if record is None or record.client_id != claims["sub"]:
                raise RegistrationTokenError("unknown registration token")
            if record.used_at is not None:
                raise RegistrationTokenError("token_already_used")
            return copy.deepcopy(record)

    def register_with_token(self, token: str, **tool_fields) -> ToolRegistration:
        """Register a tool with a registration token, consuming the token atomically."""
        with self._lock:
            record = self.check_registration_token(token)
            tool = self.register_tool(client_id=record.client_id, registered_by="dynamic", **tool_fields)
            self._reg_tokens[record.jti].used_at = _now()
            self._save()
            return tool

    def registration_token_status(self, jti: str) -> ToolRegistration | None:
        """The tool registered with the token ``jti``, once it has been used."""
        with self._lock:
            record = self._reg_tokens.get(jti)
            if record is None or record.used_at is None:
                return None
            return self.tool(record.client_id)
