"""Run a function every few seconds in the background: a greenlet under gevent (``serve``),
a daemon thread otherwise (tests, the threaded dev server). The function runs inside an app
context; an exception is logged and the loop goes on."""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


def gevent_active() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return monkey.is_module_patched("socket")


def start(app, name: str, fn: Callable[[], object], every: float) -> Callable[[], None]:
    """Start the loop; returns ``stop()``."""
    stopping = threading.Event()

    def loop() -> None:
        while not stopping.is_set():
            try:
                with app.app_context():
                    fn()
            except Exception:
                log.exception("%s: a run failed; trying again in %s s", name, every)
            stopping.wait(every)

    if gevent_active():
        import gevent

        greenlet = gevent.spawn(loop)

        def stop() -> None:
            stopping.set()
            greenlet.kill(block=True, timeout=5)
    else:
        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join(timeout=5)
    return stop
