"""Where a candidate stands in an exam (``bridge.services.delivery.standing``), as the course page and
the exam's page show it: not yet in a session, scheduled, waiting, in the exam, submitted
(with the score only once released) or absent (the login closed and they never came)."""
from __future__ import annotations

import datetime as dt

import pytest

from bridge.services.delivery import attempts, standing
from bridge.services.proctoring import console
from tests.exams import factories as f
from tests.venue.readiness_world import at, ready_room, session_row


@pytest.mark.req("C7")
def test_each_state_of_a_candidate(app, db_session):
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=20), candidates=2)
    sam, sue = w.candidates
    starts_at = session_row(w).starts_at
    outsider = f.member(w.s, w.exam.course, name="Olga")
    assert standing.of(w.s, w.exam, outsider.id).state == "unscheduled"
    st = standing.of(w.s, w.exam, sam.id)
    assert (st.state, st.starts_at, st.ends_at) == ("scheduled", starts_at,
                                                    starts_at + dt.timedelta(minutes=w.exam.duration_minutes))
    at(w, starts_at - dt.timedelta(minutes=10))
    a = attempts.log_in(w.s, w.exam, sam.id)
    assert standing.of(w.s, w.exam, sam.id).state == "waiting"
    attempts.read_rules(w.s, a)
    console.allow_start(w.s, w.sitting_id, secret_key=w.secret)
    at(w, starts_at)
    attempts.start(w.s, a)
    assert standing.of(w.s, w.exam, sam.id).state == "in_exam"
    attempts.submit(w.s, a, reason="candidate")
    st = standing.of(w.s, w.exam, sam.id)
    assert (st.state, st.released, st.score) == ("submitted", False, None)   # no score before the release
    assert standing.of(w.s, w.exam, sue.id).state == "open"                  # started: she may still come
    at(w, starts_at + dt.timedelta(minutes=31))                               # past the late-login cutoff
    assert standing.of(w.s, w.exam, sue.id).state == "absent"
