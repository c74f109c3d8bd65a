"""Who is connected where: kiosk id → (socket id, address, worker), alive while it heartbeats.

In memory for one process; in Redis (keys ``<prefix>presence:<kiosk id>`` that expire after
``ALIVE_SECONDS`` without a heartbeat) when the bridge runs several workers, so a hello on
worker B sees the socket the same kiosk still holds on worker A. Presence is never
persisted per heartbeat: the database hears only of changes (``bridge.services.kiosks.devices``).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Optional

#: A socket whose kiosk has not been heard for this long is no longer alive (3 heartbeats).
ALIVE_SECONDS = 15.0


@dataclass(slots=True)
class Holder:
    conn_id: str
    address: str
    worker: str
    seen: float  # time.time() of the last message

    @property
    def alive(self) -> bool:
        return time.time() - self.seen < ALIVE_SECONDS


class MemoryPresence:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[int, Holder] = {}

    def get(self, kiosk_id: int) -> Optional[Holder]:
        with self._lock:
            return self._holders.get(kiosk_id)

    def claim(self, kiosk_id: int, holder: Holder) -> None:
        with self._lock:
            self._holders[kiosk_id] = holder

    def touch(self, kiosk_id: int, holder: Holder) -> None:
        holder.seen = time.time()

    def release(self, kiosk_id: int, conn_id: str) -> None:
        with self._lock:
            current = self._holders.get(kiosk_id)
            if current is not None and current.conn_id == conn_id:
                del self._holders[kiosk_id]

    def online(self, kiosk_ids: list[int]) -> dict[int, bool]:
        with self._lock:
            return {k: bool(self._holders.get(k) and self._holders[k].alive) for k in kiosk_ids}


class RedisPresence:
    """The same, in Redis; ``touch`` refreshes the key's expiry (one script call per
    heartbeat, a no-op when another connection holds the key)."""

    def __init__(self, redis_client, prefix: str) -> None:
        self._r = redis_client
        self._prefix = prefix + "presence:"
        self._touch = None

    def _key(self, kiosk_id: int) -> str:
        return f"{self._prefix}{kiosk_id}"

    def get(self, kiosk_id: int) -> Optional[Holder]:
        raw = self._r.get(self._key(kiosk_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return Holder(data["conn"], data["address"], data["worker"], data["seen"])

    @staticmethod
    def _body(holder: Holder) -> str:
        return json.dumps({"conn": holder.conn_id, "address": holder.address, "worker": holder.worker,
                           "seen": holder.seen})

    def _set(self, kiosk_id: int, holder: Holder) -> None:
        self._r.set(self._key(kiosk_id), self._body(holder), ex=int(ALIVE_SECONDS))

    def claim(self, kiosk_id: int, holder: Holder) -> None:
        self._set(kiosk_id, holder)

    #: Refresh the key only while this connection holds it (or it expired): a socket that a
    #: newer connection of the same kiosk took over, on another worker, must not take it back
    #: with its last heartbeats.
    _TOUCH = ("local v = redis.call('GET', KEYS[1]) "
              "if (not v) or cjson.decode(v)['conn'] == ARGV[1] then "
              "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end "
              "return 0")

    def touch(self, kiosk_id: int, holder: Holder) -> None:
        holder.seen = time.time()
        if self._touch is None:
            self._touch = self._r.register_script(self._TOUCH)
        self._touch(keys=[self._key(kiosk_id)], args=[holder.conn_id, self._body(holder), int(ALIVE_SECONDS)])

    _RELEASE = ("local v = redis.call('GET', KEYS[1]) "
                "if v and cjson.decode(v)['conn'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
                "return 0")

    def release(self, kiosk_id: int, conn_id: str) -> None:
        self._r.eval(self._RELEASE, 1, self._key(kiosk_id), conn_id)

    def online(self, kiosk_ids: list[int]) -> dict[int, bool]:
        if not kiosk_ids:
            return {}
        values = self._r.mget([self._key(k) for k in kiosk_ids])
        return {k: v is not None for k, v in zip(kiosk_ids, values)}


class FallbackPresence:
    """Redis presence that keeps working when Redis does not answer: each operation falls
    back to this process's memory (logged), so kiosks still connect and heartbeat during a
    Redis outage; only the cross-worker checks (a second address on another worker) are
    blind meanwhile."""

    def __init__(self, primary: RedisPresence) -> None:
        import logging

        self.primary = primary
        self.memory = MemoryPresence()
        self._log = logging.getLogger(__name__)
        self._warned = 0.0

    def _call(self, name: str, *args):
        try:
            result = getattr(self.primary, name)(*args)
        except Exception as exc:  # redis.ConnectionError, TimeoutError, …
            now = time.time()
            if now - self._warned > 30:
                self._warned = now
                self._log.warning("kiosk presence: Redis unavailable (%s); using this worker's memory", exc)
            return getattr(self.memory, name)(*args)
        if name in ("claim", "touch", "release"):
            getattr(self.memory, name)(*args)  # keep memory current for the next outage
        return result

    def get(self, kiosk_id: int) -> Optional[Holder]:
        return self._call("get", kiosk_id)

    def claim(self, kiosk_id: int, holder: Holder) -> None:
        self._call("claim", kiosk_id, holder)

    def touch(self, kiosk_id: int, holder: Holder) -> None:
        self._call("touch", kiosk_id, holder)

    def release(self, kiosk_id: int, conn_id: str) -> None:
        self._call("release", kiosk_id, conn_id)

    def online(self, kiosk_ids: list[int]) -> dict[int, bool]:
        return self._call("online", kiosk_ids)
