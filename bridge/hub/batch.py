"""Many small hub writes as one writer job.

Thousands of kiosks answer a broadcast within the same second, and after a restart they all
say hello at once. One group-writer job per message (its own SAVEPOINT, its own statements)
costs more than the write itself, and on SQLite the writer's thread then fights the busy
event loop for the GIL. A ``Batcher`` collects items for ``every`` seconds and hands them to
the writer as ONE job ``fn(session, items) -> [result per item]``; ``add`` returns a handle
whose ``get()`` waits (cooperatively) for the item's result, or raises its error. A job that
fails whole runs again item by item, so one bad item fails only its own caller.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class Handle:
    __slots__ = ("_event", "_value", "_error")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def _set(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error
        self._event.set()

    def get(self, timeout: float | None = 30.0) -> Any:
        if not self._event.wait(timeout):
            raise TimeoutError("the batched write did not finish in time")
        if self._error is not None:
            raise self._error
        if isinstance(self._value, BaseException):
            raise self._value
        return self._value


class Batcher:
    def __init__(self, app, fn: Callable[[Any, list], list], *, every: float = 0.01, name: str = "batch") -> None:
        self.app = app
        self.fn = fn
        self.every = every
        self.name = name
        self._lock = threading.Lock()
        self._items: list[tuple[Any, Handle]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, item: Any) -> Handle:
        handle = Handle()
        with self._lock:
            self._items.append((item, handle))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"exambridge-hub-{self.name}", daemon=True)
                self._thread.start()
        self._wake.set()
        return handle

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        from bridge.runtime.writer import get_writer

        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self.every:
                self._stop.wait(self.every)  # let the burst gather
            with self._lock:
                batch, self._items = self._items, []
            if not batch:
                continue
            items = [item for item, _handle in batch]
            try:
                results = get_writer(self.app).submit(self.fn, items)
            except Exception as exc:  # the job failed whole: each item again alone, so one bad
                log.warning("hub %s: a batch of %d failed (%r); each item again alone", self.name, len(batch), exc)
                self._one_by_one(batch, exc)  # item fails only itself
                continue
            for (_item, handle), result in zip(batch, results):
                handle._set(result)

    def _one_by_one(self, batch: list[tuple[Any, "Handle"]], first_error: BaseException) -> None:
        from bridge.runtime.writer import get_writer

        if len(batch) == 1:
            batch[0][1]._set(error=first_error)
            return
        for item, handle in batch:
            try:
                handle._set(get_writer(self.app).submit(self.fn, [item])[0])
            except Exception as exc:
                log.warning("hub %s: an item failed alone: %r", self.name, exc)
                handle._set(error=exc)
