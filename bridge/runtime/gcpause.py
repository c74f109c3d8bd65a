"""Hold the cyclic garbage collector off during a burst: ``with gc_paused(): ...``.

A broadcast to thousands of kiosks makes tens of thousands of short-lived objects (the
command payloads, one message per socket). Those allocations trigger the collector, and a
full collection walks every object of the process: with 5,000 connected kiosks that is
~100 ms with the gevent loop stopped, in the middle of the broadcast (measured with
``gc.callbacks`` in ``exambridge bench kiosks``). Nothing the burst makes is cyclic garbage
that must go at once, so the collector waits until the burst is over and then runs as it
would have (the allocations still count towards its next run).

Nested and concurrent pauses are counted: the collector is enabled again when the last one
ends, and only if it was enabled before the first.
"""
from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
