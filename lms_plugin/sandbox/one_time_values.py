"""The sandbox LMS's one-time values: launch hints (``lti_message_hint``), OAuth access
tokens (stored as SHA-256 hashes only), replayed-assertion ``jti``s, deep-linking nonces
and dynamic-registration tokens. A mixin of ``state.Sandbox``, kept apart because these
values each live a short while and are used once, unlike the tools and the gradebook; it
works on the ``Sandbox``'s own fields, registers through its ``register_tool`` and
persists through its ``_save``.
"""
from __future__ import annotations

import copy
import hashlib
import secrets

import jwt

from .records import AccessToken, LaunchHint, RegistrationToken, ToolRegistration
from .state_shared import current_time, new_client_id
from .vocab import DEEP_LINKING_REQUEST, RESOURCE_LINK_REQUEST


class HintError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RegistrationTokenError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class OneTimeValues:
    """Launch hints, access tokens, jtis, deep-linking nonces and registration tokens."""

    HINT_TTL = 3600
    ACCESS_TOKEN_TTL = 3600
    REGISTRATION_TOKEN_TTL = 3600  # Moodle: one hour

    # ------------------------------------------------------------------ launch hints ---
    def issue_launch_hint(self, *, user_id: int, client_id: str, message_type: str,
                          activity_id: int | None, container: str) -> LaunchHint:
        if message_type not in (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST):
            raise ValueError(message_type)
        with self._lock:
            hint = LaunchHint(
                launch_id=f"ltilaunch{activity_id or 0}_{secrets.randbelow(10**9)}{secrets.token_hex(4)}",
                user_id=user_id, client_id=client_id, message_type=message_type,
                activity_id=activity_id, container=container, sesskey=secrets.token_urlsafe(8),
                created_at=current_time())
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
            if hint.created_at + self.HINT_TTL < current_time():
                raise HintError("expired")
            return copy.deepcopy(hint)

    def consume_launch_hint(self, launch_id: str) -> LaunchHint:
        """Mark the hint used (atomically: a concurrent second use gets HintError)."""
        with self._lock:
            self.peek_launch_hint(launch_id)
            hint = self._hints[launch_id]
            hint.used_at = current_time()
            self._save()
            return copy.deepcopy(hint)

    # ------------------------------------------------------------------ OAuth ----------
    def issue_access_token(self, client_id: str, scopes: list[str]) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[_hash_token(token)] = AccessToken(
                token_hash=_hash_token(token), client_id=client_id, scopes=list(scopes),
                expires_at=current_time() + self.ACCESS_TOKEN_TTL)
            self._save()
        return token, self.ACCESS_TOKEN_TTL

    def find_access_token(self, token: str) -> AccessToken | None:
        with self._lock:
            record = self._tokens.get(_hash_token(token or ""))
            if record is None or record.expires_at <= current_time():
                return None
            return copy.deepcopy(record)

    def remember_jti(self, client_id: str, jti: str, keep_until: float) -> bool:
        """False when this client already used ``jti`` (a replayed client assertion)."""
        key = f"{client_id}\x1f{jti}"
        with self._lock:
            if self._seen_jtis.get(key, 0) > current_time():
                return False
            self._seen_jtis[key] = keep_until
            self._save()
            return True

    def remember_deep_link_nonce(self, client_id: str, nonce: str, keep_until: float) -> bool:
        """False when this tool already used ``nonce`` in a deep-linking response."""
        key = f"{client_id}\x1f{nonce}"
        with self._lock:
            if self._dl_nonces.get(key, 0) > current_time():
                return False
            self._dl_nonces[key] = keep_until
            self._save()
            return True

    # ------------------------------------------------------------------ registration ---
    def issue_registration_token(self) -> tuple[str, RegistrationToken]:
        """A dynamic-registration token as Moodle makes one: a JWT signed by the platform,
        ``sub`` = the client id the tool will get, ``scope`` = ``reg``; single use."""
        now = int(current_time())
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
            self._reg_tokens[record.jti].used_at = current_time()
            self._save()
            return tool

    def registration_token_status(self, jti: str) -> ToolRegistration | None:
        """The tool registered with the token ``jti``, once it has been used."""
        with self._lock:
            record = self._reg_tokens.get(jti)
            if record is None or record.used_at is None:
                return None
            return self.tool(record.client_id)
