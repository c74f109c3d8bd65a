"""The candidate's journey over real HTTP (C3, C5–C7): the waiting page's clock is the
server's (a JSON gate in milliseconds) and an early start goes back to the countdown instead
of an error page; an unloading exam page (reload, close) is logged, not locked; the course
page and the exam's page tell where the candidate stands and, once released, the score."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.models.users import Course, User
from tests.exams import factories as f
from tests.fixtures.servers import csrf_token
from tests.fixtures.waiting import wait_until

AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEMS = "https://lms.test.example/lineitems"   # never reached: the score waits in the outbox


def _setup(lti_env, *, start_in=dt.timedelta(minutes=5)):
    from bridge.extensions import transaction
    from bridge.services.exams import papers, exam_sessions

    lti_env.launch(role="Instructor", sub="3", **{AGS: {"scope": [AGS_SCORE], "lineitems": LINEITEMS}})
    student = lti_env.browser()
    lti_env.launch(role="Learner", sub="5", name="Sam Student", http=student)
    with lti_env.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        sam = s.scalars(select(User).where(User.lti_sub == "5")).one()
        tess = s.scalars(select(User).where(User.lti_sub == "3")).one()
        qs = f.questions(s, course)
        exam = f.exam(s, course, minutes=30)
        papers.set_fixed_items(s, exam, [(qs[k].id, 1.0) for k in ("single", "truefalse", "multiple")],
                               actor_id=tess.id)
        papers.update_settings(s, exam, actor_id=tess.id, shuffle_options=False)
        sitting = exam_sessions.create_session(s, exam, name="Morning", starts_at=f.now() + start_in, remote=False,
                                          actor_id=tess.id)
        exam_sessions.assign(s, sitting, [sam.id], actor_id=tess.id)
        ids = dict(exam=exam.id, course=course.id, teacher=tess.id, starts_at=sitting.starts_at,
                   single=qs["single"].id, truefalse=qs["truefalse"].id, multiple=qs["multiple"].id)
    return student, ids


def _to_waiting(lti_env, student, ids) -> int:
    page = lti_env.get(f"/exam/{ids['exam']}/sit", http=student)
    attempt_id = int(re.search(r"/attempt/(\d+)/rules", page.text).group(1))
    lti_env.post(f"/attempt/{attempt_id}/rules", http=student, data={"confirm": "1"})
    return attempt_id


def _until_start(ids, seconds: float) -> None:
    """Move the clock so that the session starts in ``seconds`` (negative: started)."""
    clock.set_offset(0)
    clock.set_offset((ids["starts_at"] - clock.utcnow_naive()).total_seconds() - seconds)


def _api(lti_env, http, path, body):
    return http.post(lti_env.bridge + path, json=body, headers={"X-CSRF-Token": csrf_token(http, lti_env.bridge)})


@pytest.mark.req("C3")
def test_the_waiting_page_and_the_server_share_one_clock(lti_env):
    student, ids = _setup(lti_env)
    attempt_id = _to_waiting(lti_env, student, ids)
    waiting = lti_env.get(f"/attempt/{attempt_id}", http=student)
    assert 'id="waiting"' in waiting.text and "Morning" in waiting.text
    assert re.search(r'<button type="submit" id="start"\s+hidden', waiting.text)   # no start during the countdown
    gate = student.get(f"{lti_env.bridge}/attempt/{attempt_id}/gate").json()
    assert gate["open"] is False and gate["reason"] == "time" and 290_000 < gate["remaining_ms"] <= 300_000

    _until_start(ids, 0.3)                              # the page's own clock may run a little ahead
    early = lti_env.post(f"/attempt/{attempt_id}/start", http=student)
    assert early.status_code == 200 and 'id="waiting"' in early.text and "not open yet" in early.text
    assert "0 min 0 s" not in early.text and early.history and early.history[0].status_code == 302

    _until_start(ids, -0.05)
    gate = student.get(f"{lti_env.bridge}/attempt/{attempt_id}/gate").json()
    assert gate == {"status": "rules_read", "open": True, "reason": None, "remaining_ms": 0}
    exam_page = lti_env.post(f"/attempt/{attempt_id}/start", http=student)
    assert exam_page.status_code == 200 and 'id="exam"' in exam_page.text and "Morning" in exam_page.text
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import Attempt

        a = db.session.get(Attempt, attempt_id)
        assert ids["starts_at"] <= a.started_at <= ids["starts_at"] + dt.timedelta(seconds=2)
    after = student.get(f"{lti_env.bridge}/attempt/{attempt_id}/gate").json()
    assert after["status"] == "in_exam" and after["open"] is True


@pytest.mark.req("C5", "C6")
def test_an_unloading_exam_page_is_logged_not_locked(lti_env):
    student, ids = _setup(lti_env)
    attempt_id = _to_waiting(lti_env, student, ids)
    _until_start(ids, -1)
    lti_env.post(f"/attempt/{attempt_id}/start", http=student)
    gone = lti_env.post(f"/attempt/{attempt_id}/unloaded", http=student, data={"why": "pagehide"})
    assert gone.status_code == 204
    state = student.get(f"{lti_env.bridge}/api/attempts/{attempt_id}/state").json()
    assert state["status"] == "in_exam"
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import Attempt, AttemptLog

        assert db.session.get(Attempt, attempt_id).lock_count == 0
        actions = db.session.scalars(select(AttemptLog.action).where(AttemptLog.attempt_id == attempt_id)).all()
        assert "page_unload" in actions and "lock" not in actions
    # leaving the exam still locks (C6)
    locked = _api(lti_env, student, f"/attempt/{attempt_id}/lock", {"why": "blur"})
    assert locked.json() == {"status": "locked", "lock_count": 1}


@pytest.mark.req("C7", "C10")
def test_the_course_page_tells_where_the_candidate_stands_and_the_released_score(lti_env):
    from bridge.extensions import transaction
    from bridge.services.delivery import scoring
    from bridge.services.exams import exams

    student, ids = _setup(lti_env)
    course_url = f"/course/{ids['course']}"
    row = re.compile(r'<tr id="exam-%d" data-state="(\w+)">' % ids["exam"])
    before = lti_env.get(course_url, http=student)
    assert row.search(before.text).group(1) == "scheduled" and "Morning" in before.text
    attempt_id = _to_waiting(lti_env, student, ids)
    assert row.search(lti_env.get(course_url, http=student).text).group(1) == "waiting"
    _until_start(ids, -1)
    lti_env.post(f"/attempt/{attempt_id}/start", http=student)
    assert "in progress" in lti_env.get(course_url, http=student).text
    events = [{"writer": "t", "seq": 1, "question_id": ids["single"], "response": {"choice": "b"}},      # right
              {"writer": "t", "seq": 2, "question_id": ids["truefalse"], "response": {"value": False}},  # wrong
              {"writer": "t", "seq": 3, "question_id": ids["multiple"], "response": {"choices": ["a", "b"]}}]
    assert _api(lti_env, student, f"/api/attempts/{attempt_id}/answers", {"events": events}).ok
    assert _api(lti_env, student, f"/api/attempts/{attempt_id}/submit", {"key": "k"}).ok

    submitted = lti_env.get(course_url, http=student)
    assert row.search(submitted.text).group(1) == "submitted" and "score not released yet" in submitted.text
    assert "Enter the exam" not in submitted.text
    page = lti_env.get(f"/attempt/{attempt_id}", http=student)
    assert 'id="submitted"' in page.text and "What happens next" in page.text

    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import Attempt

        def scored():  # the scorer scores right after the submit is stored (bridge.runtime.scorer)
            db.session.rollback()
            return db.session.get(Attempt, attempt_id).score is not None

        wait_until(scored, timeout=30)
    with lti_env.app.app_context(), transaction() as s:
        scoring.release(s, exams.get_exam(s, ids["exam"]), actor_id=ids["teacher"])
    released = lti_env.get(course_url, http=student).text
    assert "Score: 66.67 / 100" in released                            # 2 of 3 points, rounded for people
    assert "Score: 66.67 / 100" in lti_env.get(f"/exam/{ids['exam']}", http=student).text
    result = lti_env.get(f"/attempt/{attempt_id}", http=student).text
    assert 'class="score">66.67</span> / 100' in result
