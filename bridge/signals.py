"""What the core announces for plugins to act on (blinker signals; DESIGN "core never imports
plugins"). A receiver runs inside the sender's unit of work: it may add rows to the same
session, never commit.

- ``score_ready``: a candidate's total for an exam is final and released. Sent with the
  session as sender and ``exam``, ``user_id``, ``score_given`` (on the exam's scale) and
  ``actor``; the LMS plugin queues it for the gradebook (lms_plugin.services.outbox).
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

score_ready = _signals.signal("score-ready")
