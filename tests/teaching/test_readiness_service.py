"""The teacher's checklist of an exam (bridge.services.exams.exam_readiness), session edits and
deletes until the session starts (bridge.services.exams.exam_sessions), and the warning when a site
places a session that is already under way (bridge.services.venue.exam_data)."""
from __future__ import annotations

import datetime as dt

import pytest

from bridge import clock
from bridge.errors import Conflict
from bridge.models.papers import ExamSession
from bridge.services.delivery import attempts
from bridge.services.exams import exam_readiness, papers, exam_sessions
from tests.exams import factories as f


def _course(s):
    c = f.course(s)
    teacher = f.member(s, c, "teacher", "Tess")
    sam, sue = f.member(s, c, name="Sam"), f.member(s, c, name="Sue")
    return c, teacher, sam, sue


@pytest.mark.req("C10", "L5")
def test_next_step_walks_from_paper_to_release(db_session):
    s = db_session
    c, teacher, sam, sue = _course(s)
    exam = f.exam(s, c, minutes=30)
    step = lambda **kw: exam_readiness.build(s, exam, now=clock.utcnow_naive(), **kw)  # noqa: E731
    first = step()
    assert first.next_step == "paper" and [r.key for r in first.rows] == list(exam_readiness.STEPS)
    assert first.row("paper").state == "todo" and first.row("grading").state == "wait"
    qs = f.questions(s, c)
    papers.set_fixed_items(s, exam, [(qs["single"].id, 2.0), (qs["essay"].id, 7.5)], actor_id=teacher.id)
    assert step().row("paper").facts["items"] == 2 and step().row("paper").facts["points"] == 9.5
    assert step().next_step == "sessions"
    sess = exam_sessions.create_session(s, exam, name="Morning", starts_at=f.now() + dt.timedelta(hours=2), remote=False,
                                   actor_id=teacher.id)
    r = step()
    assert r.next_step == "candidates" and r.row("sessions").facts["next"].id == sess.id
    exam_sessions.assign(s, sess, [sam.id], actor_id=teacher.id)
    r = step()
    assert r.row("candidates").facts == {"assigned": 1, "unassigned": 1, "course": 2} and r.next_step == "candidates"
    exam_sessions.assign(s, sess, [sue.id], actor_id=teacher.id)
    assert step().next_step == "proctor"
    proctor = f.member(s, c, name="Pat")
    from bridge.services.exams import courses
    courses.designate_proctor(s, c.id, proctor.id, on=True, actor_id=teacher.id)
    r = step()
    assert r.row("candidates").facts["course"] == 2                     # a proctor is no candidate
    assert r.next_step == "placement" and r.row("placement").facts["unplaced"] == 1
    exam_sessions.update_session(s, sess, name="Morning", starts_at=sess.starts_at, remote=True, actor_id=teacher.id)
    r = step()
    assert r.row("placement").state == "warn" and r.row("placement").facts["remote_blocked"]   # paper says no remote
    papers.update_settings(s, exam, actor_id=teacher.id, remote_allowed=True)
    assert step().next_step == "wait"
    # the exam happens: Sam submits, his essay waits for grading
    clock.set_offset(2 * 3600 + 60)
    a = attempts.log_in(s, exam, sam.id)
    attempts.read_rules(s, a)
    attempts.start(s, a, seed=1)
    attempts.submit(s, a, reason="candidate")
    r = step()
    assert r.row("grading").facts == {"submitted": 1, "ungraded": 1} and r.next_step == "grading"
    a.score_complete = True
    s.flush()
    assert step().next_step == "release"
    r = step(deliveries={"pending": 1})
    assert r.next_step == "release" and r.row("release").state == "todo"       # not released yet
    papers.paper_for(s, exam).scores_released = True
    r = step(deliveries={"pending": 1})
    assert r.row("release").state == "wait" and r.next_step == "delivering"   # released, on its way
    assert step(deliveries={"failed": 1}).next_step == "release"
    assert step(deliveries={"sent": 1}).row("release").state == "ok"
    assert step(deliveries={"sent": 1}).next_step == "done"


@pytest.mark.req("V4")
def test_a_session_is_edited_and_deleted_only_before_it_starts(db_session):
    s = db_session
    c, teacher, sam, _sue = _course(s)
    exam = f.exam(s, c, minutes=45)
    qs = f.questions(s, c)
    papers.set_fixed_items(s, exam, [(qs["single"].id, 1.0)], actor_id=teacher.id)
    start = f.now() + dt.timedelta(hours=1)
    sess = exam_sessions.create_session(s, exam, name="A", starts_at=start, remote=False, actor_id=teacher.id)
    assert exam_sessions.ends_at(sess, exam) == start + dt.timedelta(minutes=45)
    assert exam_sessions.change_refusal(s, sess) is None
    exam_sessions.update_session(s, sess, name="B", starts_at=start + dt.timedelta(hours=1), remote=True,
                            actor_id=teacher.id)
    assert sess.name == "B" and len(sess.exam_code) == 6
    exam_sessions.update_session(s, sess, name="B", starts_at=sess.starts_at, remote=False, actor_id=teacher.id)
    assert sess.exam_code is None
    # an attempt (a candidate entered) freezes it
    exam_sessions.assign(s, sess, [sam.id], actor_id=teacher.id)
    attempts.log_in(s, exam, sam.id)
    with pytest.raises(Conflict, match="already entered"):
        exam_sessions.update_session(s, sess, name="C", starts_at=sess.starts_at, remote=False, actor_id=teacher.id)
    with pytest.raises(Conflict):
        exam_sessions.delete_session(s, sess, actor_id=teacher.id)
    # a started session too, attempt or not
    other = exam_sessions.create_session(s, exam, name="Later", starts_at=start, remote=False, actor_id=teacher.id)
    clock.set_offset(2 * 3600)
    with pytest.raises(Conflict, match="already started"):
        exam_sessions.delete_session(s, other, actor_id=teacher.id)
    clock.set_offset(0)
    assert exam_sessions.delete_session(s, other, actor_id=teacher.id) == "Later"
    assert s.get(ExamSession, other.id) is None


@pytest.mark.req("V4")
def test_placing_a_started_session_with_a_submitted_attempt_needs_a_confirmation(app, db_session):
    from bridge.services.venue import exam_data
    from tests.venue.readiness_world import make_world

    w = make_world(app, db_session, start_in=dt.timedelta(minutes=-10), candidates=2)
    s = db_session
    sess = s.get(ExamSession, w.session_id)
    a = attempts.log_in(s, w.exam, w.candidates[0].id)
    attempts.read_rules(s, a)
    attempts.start(s, a, seed=1)
    attempts.submit(s, a, reason="candidate")
    with pytest.raises(exam_data.StartedSession) as refused:
        exam_data.place(s, w.site.id, sess.id, w.room.id, actor="user:1")
    assert refused.value.params == {"name": sess.name, "count": 1}
    placed = exam_data.place(s, w.site.id, sess.id, w.room.id, actor="user:1", confirm_started=True)
    assert placed.session_id == sess.id
