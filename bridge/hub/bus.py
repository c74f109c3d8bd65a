"""The event bus: ``publish(channel, message)`` / ``subscribe(channel, callback)``.

In process by default; Redis pub/sub when ``EXAMBRIDGE_REDIS_URL`` is set, so a message
published by one worker reaches the subscribers of every worker. Channels are prefixed
with ``EXAMBRIDGE_REDIS_PREFIX`` (several bridges, or tests, on one Redis).

What the bus carries: notifications ("these kiosks have commands", "fence this socket").
Redis pub/sub is at-most-once (a subscriber that is reconnecting misses what was published
meanwhile), so nothing on the bus is ever the only copy of anything: commands are database
rows, and after the subscriber reconnects every callback is called once with
``RESUBSCRIBED`` so it can catch up from the database.

Callbacks run on the bus's delivery thread (a greenlet under gevent) and must only hand the
message on (enqueue), never block.
"""
from __future__ import annotations

import abc
import json
import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)

Callback = Callable[[dict[str, Any]], None]
#: The message every callback gets after the Redis subscriber reconnected.
RESUBSCRIBED: dict[str, Any] = {"kind": "bus_resubscribed"}
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


class Bus(abc.ABC):
    """The interface; ``InProcessBus`` and ``RedisBus`` implement it."""

    @abc.abstractmethod
    def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every subscriber of ``channel`` (at most once)."""

    @abc.abstractmethod
    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        """Returns the function that unsubscribes."""

    def close(self) -> None:
        pass


class _Subscribers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_channel: dict[str, list[Callback]] = {}

    def add(self, channel: str, callback: Callback) -> Callable[[], None]:
        with self._lock:
            self._by_channel.setdefault(channel, []).append(callback)

        def remove() -> None:
            with self._lock:
                callbacks = self._by_channel.get(channel, [])
                if callback in callbacks:
                    callbacks.remove(callback)
        return remove

    def channels(self) -> list[str]:
        with self._lock:
            return [c for c, cbs in self._by_channel.items() if cbs]

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        with self._lock:
            callbacks = list(self._by_channel.get(channel, ()))
        for callback in callbacks:
            try:
                callback(message)
            except Exception:
                log.exception("bus subscriber on %s failed", channel)


class InProcessBus(Bus):
    """One process: ``publish`` calls the channel's callbacks at once, in the caller."""

    def __init__(self) -> None:
        self._subs = _Subscribers()

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._subs.deliver(channel, message)

    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        return self._subs.add(channel, callback)


class RedisBus(Bus):
    """Redis pub/sub with a key/channel prefix; the subscriber reconnects with exponential
    backoff (0.1 s doubling to 5 s) and then tells every callback ``RESUBSCRIBED``."""

    def __init__(self, url: str, prefix: str = "exambridge:", *, client_name: str | None = None) -> None:
        import os
        import redis

        self.prefix = prefix
        #: The name Redis shows for this bus's connections (CLIENT LIST), e.g. to find the subscriber.
        self.client_name = client_name or f"exambridge-{os.getpid()}"
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_keepalive=True,
                                           health_check_interval=30, client_name=self.client_name)
        self._subs = _Subscribers()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.connected = threading.Event()

    @property
    def redis(self):
        return self._redis

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Publish; a Redis error propagates (the caller decides: commands stay in the
        database and reach the kiosk at its next welcome or resync)."""
        self._redis.publish(self.prefix + channel, json.dumps(message, separators=(",", ":")))

    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        remove = self._subs.add(channel, callback)
        self._changed.set()
        self._ensure_thread()
        return remove

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="exambridge-bus", daemon=True)
                self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def _run(self) -> None:
        backoff = BACKOFF_FIRST
        first = True
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                subscribed: set[str] = set()
                wanted = set(self._subs.channels())
                if wanted:
                    pubsub.subscribe(*(self.prefix + c for c in wanted))
                    subscribed = wanted
                else:
                    pubsub.ping()
                self.connected.set()
                if not first:
                    log.info("event bus: Redis subscriber reconnected")
                    for channel in subscribed:
                        self._subs.deliver(channel, dict(RESUBSCRIBED))
                first = False
                backoff = BACKOFF_FIRST
                while not self._stop.is_set():
                    if self._changed.is_set():
                        self._changed.clear()
                        wanted = set(self._subs.channels())
                        new = wanted - subscribed
                        if new:
                            pubsub.subscribe(*(self.prefix + c for c in new))
                            subscribed |= new
                    item = pubsub.get_message(timeout=1.0)
                    if item is None or item.get("type") != "message":
                        continue
                    channel = item["channel"].decode() if isinstance(item["channel"], bytes) else item["channel"]
                    try:
                        message = json.loads(item["data"])
                    except (TypeError, ValueError):
                        log.warning("event bus: dropped a message that is not JSON on %s", channel)
                        continue
                    if isinstance(message, dict):
                        self._subs.deliver(channel[len(self.prefix):], message)
            except Exception as exc:  # redis.ConnectionError, TimeoutError, a server restart
                self.connected.clear()
                if self._stop.is_set():
                    break
                log.warning("event bus: Redis unavailable (%s); retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        try:
            self._redis.close()
        except Exception:
            pass


def make_bus(redis_url: str | None, prefix: str = "exambridge:") -> Bus:
    return RedisBus(redis_url, prefix) if redis_url else InProcessBus()
