"""The start's one clock (C3): the gate says, by the server's time, whether the start is open
and why not, in milliseconds rounded up, so a page that waits them out never asks early; a
start refused for now is a ``StartNotOpen`` the waiting page turns into a countdown, never
"starts in 0 min 0 s"."""
from __future__ import annotations

import datetime as dt

import pytest

from bridge.services.delivery import attempts
from bridge.services.proctoring import console
from tests.venue.readiness_world import at, ready_room, session_row


@pytest.mark.req("C3", "P2")
def test_the_gate_waits_for_the_proctor_then_counts_down_in_server_milliseconds(app, db_session):
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=20), candidates=1)
    a = attempts.log_in(w.s, w.exam, w.candidates[0].id)
    attempts.read_rules(w.s, a)
    starts_at = session_row(w).starts_at

    gate = attempts.start_gate(w.s, a)
    assert (gate.reason, gate.open) == ("proctor", False)          # the room's "allow start" first
    with pytest.raises(attempts.StartNotOpen, match="not allowed the start"):
        attempts.start(w.s, a)

    at(w, starts_at - dt.timedelta(minutes=10))
    console.allow_start(w.s, w.sitting_id, secret_key=w.secret)
    at(w, starts_at - dt.timedelta(milliseconds=400))
    gate = attempts.start_gate(w.s, a)
    assert gate.reason == "time" and gate.starts_at == starts_at and 0 < gate.remaining_ms <= 400
    with pytest.raises(attempts.StartNotOpen, match=r"starts in 0 min 1 s"):   # rounded up, never "0 s"
        attempts.start(w.s, a)

    at(w, starts_at)
    assert attempts.start_gate(w.s, a).open
    started = attempts.start(w.s, a)
    assert started.status == "in_exam" and started.started_at >= starts_at


@pytest.mark.req("C3")
def test_remaining_ms_is_rounded_up(app, db_session):
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=20), candidates=1)
    a = attempts.log_in(w.s, w.exam, w.candidates[0].id)
    starts_at = session_row(w).starts_at
    gate = attempts.start_gate(w.s, a, now=starts_at - dt.timedelta(microseconds=1500))
    assert gate.remaining_ms == 2                                      # 1.5 ms → 2, never 1
    assert attempts.start_gate(w.s, a, now=starts_at + dt.timedelta(seconds=1)).remaining_ms == 0
