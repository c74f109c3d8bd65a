"""Scores candidates' submits right after they are stored, off the request path (C10, C7).

A candidate's submit is acknowledged once the submission is durable; scoring its objective
items (loading the paper, the answers and the questions, writing a grade per item) costs
several times more than storing it. At the end of an exam every candidate submits within a
few seconds, so the API stores the submits first (``submits.submit_many``) and hands the
attempt ids here: one scorer per app collects them and scores them in small batches through
the group writer, between the other writes. Scoring is idempotent, and the deadline sweeper
scores any submitted attempt still unscored (a process that died before its scorer ran), so
nothing depends on this queue surviving a crash.
"""
from __future__ import annotations

import logging
import threading
import weakref

from bridge.services.delivery import scoring

log = logging.getLogger(__name__)

EXTENSION_KEY = "exambridge.scorer"
CHUNK = 20            # attempts per writer job: short jobs keep saves and submits flowing
COLLECT_SECONDS = 0.2


class Scorer:
    def __init__(self, app):
        from bridge.runtime.writer import gevent_active

        self.app = app
        self._stopped = False
        if gevent_active():
            import gevent
            from gevent.queue import Queue

            self._queue = Queue()
            self._worker = gevent.spawn(self._loop)
        else:
            import queue

            self._queue = queue.Queue()
            self._worker = threading.Thread(target=self._loop, name="exambridge-scorer", daemon=True)
            self._worker.start()

    def enqueue(self, attempt_id: int) -> None:
        if not self._stopped:
            self._queue.put(attempt_id)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._queue.put(None)

    def _take(self) -> list[int] | None:
        import time

        first = self._queue.get()
        if first is None:
            return None
        ids, deadline = [first], time.monotonic() + COLLECT_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                more = self._queue.get(timeout=remaining)
            except Exception:  # Empty
                break
            if more is None:
                self._stopped = True
                break
            ids.append(more)
        return ids

    def _loop(self) -> None:
        from bridge.runtime.writer import WriterStopped, get_writer

        while True:
            ids = self._take()
            if ids is None:
                return
            for start in range(0, len(ids), CHUNK):
                if self._stopped:
                    return  # shutting down: the sweeper of the next start scores the rest
                try:
                    get_writer(self.app).submit(scoring.score_submitted, sorted(set(ids[start:start + CHUNK])))
                except WriterStopped:
                    return
                except Exception:
                    log.exception("scoring %d submitted attempt(s) failed; the sweeper will try again", len(ids))
            if self._stopped:
                return


def stop_scorer(app) -> None:
    """Stop the app's scorer (at shutdown, before the writer): what it had not scored yet
    is scored by the sweeper later."""
    scorer = app.extensions.pop(EXTENSION_KEY, None)
    if scorer is not None:
        scorer.stop()


def get_scorer(app) -> Scorer:
    app = app._get_current_object() if hasattr(app, "_get_current_object") else app
    scorer = app.extensions.get(EXTENSION_KEY)
    if scorer is None:
        scorer = app.extensions[EXTENSION_KEY] = Scorer(app)
        weakref.finalize(app, scorer.stop)
    return scorer
