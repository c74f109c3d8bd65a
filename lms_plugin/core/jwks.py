"""Platform key sets: fetched, cached for a while, and refetched once on an unknown kid
(a platform that rotated its key must not lock users out until the cache expires)."""
from __future__ import annotations

import threading
import time
from typing import Callable

from joserfc.jwk import KeySet

from lms_plugin.errors import LaunchRejected

Fetch = Callable[[str], dict]

# A refetch for an unknown kid happens at most this often per URL, so a flood of tokens
# with random kids cannot make the tool hammer the platform.
MIN_REFETCH_SECONDS = 10.0


class JwksCache:
    def __init__(self, fetch: Fetch, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 min_refetch: float = MIN_REFETCH_SECONDS):
        self._fetch = fetch
        self._min_refetch = min_refetch
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, KeySet]] = {}

    def _load(self, url: str) -> KeySet:
        try:
            data = self._fetch(url)
            keyset = KeySet.import_key_set(data)
        except LaunchRejected:
            raise
        except Exception as exc:
            raise LaunchRejected("The LMS's public keys could not be fetched, so the launch cannot "
                                 "be verified. Try again in a minute; if it persists, tell the administrator.",
                                 reason="jwks_unavailable", detail=f"{url}: {exc}") from None
        with self._lock:
            self._entries[url] = (self._clock(), keyset)
        return keyset

    def key(self, url: str, kid: str):
        """The key ``kid`` from the set at ``url``; LaunchRejected(unknown_kid) if absent."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(url)
        if entry is None or now - entry[0] > self._ttl:
            found, fresh = _find(self._load(url), kid), True
        else:
            found, fresh = _find(entry[1], kid), False
        if found is None and not fresh and now - entry[0] >= self._min_refetch:
            found = _find(self._load(url), kid)
        if found is None:
            raise LaunchRejected("The launch was signed with a key the LMS does not publish.",
                                 reason="unknown_kid", detail=f"kid {kid!r} is not in {url}")
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _find(keyset: KeySet, kid: str):
    for key in keyset.keys:
        if key.kid == kid:
            return key
    return None
