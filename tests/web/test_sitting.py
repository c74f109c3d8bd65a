"""A candidate sits an exam over real HTTP: rules, waiting for the start, the exam page,
autosave through the API, a lock, the proctor's unlock, submit, the submitted page (C3,
C5–C7); and the exam-code entry page (C1)."""
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


def _setup(lti_env, *, remote=False):
    from bridge.extensions import transaction
    from bridge.services.exams import papers, exam_sessions

    teacher = lti_env.launch(role="Instructor", sub="3")
    student = lti_env.browser()
    lti_env.launch(role="Learner", sub="5", name="Sam Student", http=student)
    with lti_env.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        sam = s.scalars(select(User).where(User.lti_sub == "5")).one()
        tess = s.scalars(select(User).where(User.lti_sub == "3")).one()
        qs = f.questions(s, course)
        exam = f.exam(s, course, minutes=30)
        papers.set_fixed_items(s, exam, [(qs[k].id, 2.0) for k in ("single", "fill", "essay")], actor_id=tess.id)
        papers.update_settings(s, exam, actor_id=tess.id, lock_limit=5, remote_allowed=remote)
        sitting = exam_sessions.create_session(s, exam, name="Now", starts_at=f.now() + dt.timedelta(minutes=5),
                                          remote=remote, actor_id=tess.id)
        exam_sessions.assign(s, sitting, [sam.id], actor_id=tess.id)
        ids = dict(exam=exam.id, single=qs["single"].id, fill=qs["fill"].id, essay=qs["essay"].id,
                   code=sitting.exam_code)
    return teacher, student, ids


def _attempt_id(lti_env) -> int:
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import Attempt
        return db.session.scalars(select(Attempt.id)).one()


def _api(lti_env, http, path, body):
    token = csrf_token(http, lti_env.bridge)
    return http.post(lti_env.bridge + path, json=body, headers={"X-CSRF-Token": token})


@pytest.mark.req("C3", "C5", "C6", "C7")
def test_a_candidate_sits_the_exam(lti_env):
    _teacher, student, ids = _setup(lti_env)
    page = lti_env.get(f"/exam/{ids['exam']}/sit", http=student)
    assert page.status_code == 200 and 'id="confirm-rules"' in page.text
    attempt_id = int(re.search(r"/attempt/(\d+)/rules", page.text).group(1))
    lti_env.post(f"/attempt/{attempt_id}/rules", http=student, data={"confirm": "1"})
    waiting = lti_env.get(f"/attempt/{attempt_id}", http=student)
    assert 'id="waiting"' in waiting.text
    early = lti_env.post(f"/attempt/{attempt_id}/start", http=student)
    assert early.status_code == 200 and 'id="waiting"' in early.text  # not before the start: back to the countdown
    clock.set_offset(6 * 60)
    exam_page = lti_env.post(f"/attempt/{attempt_id}/start", http=student)
    assert exam_page.status_code == 200 and 'id="exam"' in exam_page.text
    assert exam_page.text.count('class="item"') == 3 and "(1) ______" in exam_page.text

    events = [{"writer": "tab-1", "seq": 1, "question_id": ids["single"], "response": {"choice": "b"}},
              {"writer": "tab-1", "seq": 2, "question_id": ids["fill"], "response": {"blanks": ["Paris", "北京"]}}]
    saved = _api(lti_env, student, f"/api/attempts/{attempt_id}/answers", {"events": events})
    assert saved.status_code == 200 and all("error" not in a for a in saved.json()["acks"])

    locked = _api(lti_env, student, f"/attempt/{attempt_id}/lock", {"why": "visibilitychange"})
    assert locked.json() == {"status": "locked", "lock_count": 1}
    refused = _api(lti_env, student, f"/api/attempts/{attempt_id}/answers",
                   {"events": [{"writer": "tab-1", "seq": 3, "question_id": ids["essay"], "response": {"text": "x"}}]})
    assert refused.json()["acks"][0]["error"] == "locked"
    proctor = lti_env.get(f"/exam/{ids['exam']}/proctor")
    assert f'data-attempt="{attempt_id}" data-status="locked"' in proctor.text
    lti_env.post(f"/exam/{ids['exam']}/proctor/{attempt_id}/unlock")
    state = student.get(f"{lti_env.bridge}/api/attempts/{attempt_id}/state").json()
    assert state["status"] == "in_exam" and 0 < state["remaining_ms"] <= 29 * 60_000

    done = _api(lti_env, student, f"/api/attempts/{attempt_id}/submit", {"key": "k1"})
    again = _api(lti_env, student, f"/api/attempts/{attempt_id}/submit", {"key": "k1"})
    assert done.status_code == 200 and again.status_code == 200
    final = lti_env.get(f"/attempt/{attempt_id}", http=student)
    assert 'id="submitted"' in final.text
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import Attempt

        def scored():  # the scorer scores right after the submit is stored (bridge.runtime.scorer)
            db.session.rollback()
            return db.session.get(Attempt, attempt_id).score is not None

        wait_until(scored, timeout=30)
        a = db.session.get(Attempt, attempt_id)
        assert a.score == 4.0 and a.submit_reason == "candidate"


@pytest.mark.req("C6")
def test_an_unlock_code_read_out_by_the_proctor(lti_env):
    _teacher, student, ids = _setup(lti_env)
    lti_env.get(f"/exam/{ids['exam']}/sit", http=student)
    attempt_id = _attempt_id(lti_env)
    lti_env.post(f"/attempt/{attempt_id}/rules", http=student, data={"confirm": "1"})
    clock.set_offset(6 * 60)
    lti_env.post(f"/attempt/{attempt_id}/start", http=student)
    _api(lti_env, student, f"/attempt/{attempt_id}/lock", {"why": "blur"})
    shown = lti_env.post(f"/exam/{ids['exam']}/proctor/{attempt_id}/code")
    code = re.search(r"Unlock code for Sam Student: (\d{6})", shown.text).group(1)
    wrong = _api(lti_env, student, f"/attempt/{attempt_id}/unlock", {"code": "12345x"})
    assert wrong.status_code == 403
    ok = _api(lti_env, student, f"/attempt/{attempt_id}/unlock", {"code": code})
    assert ok.json() == {"status": "in_exam"}
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import AttemptLog

        actions = db.session.scalars(select(AttemptLog.action).where(AttemptLog.attempt_id == attempt_id)
                                     .order_by(AttemptLog.id)).all()
    assert actions[-2:] == ["unlock_refused", "unlock"]  # the refusal is in the candidate log


@pytest.mark.req("C1")
def test_exam_code_page(lti_env):
    _teacher, student, ids = _setup(lti_env, remote=True)
    page = lti_env.get("/code", http=student)
    assert 'name="code"' in page.text
    bad = lti_env.post("/code", http=student, data={"code": "99999"})
    assert bad.status_code == 404
    good = lti_env.post("/code", http=student, data={"code": ids["code"]})
    assert good.status_code == 200 and 'id="confirm-rules"' in good.text


@pytest.mark.req("C3")
def test_other_people_cannot_open_an_attempt(lti_env):
    _teacher, student, ids = _setup(lti_env)
    lti_env.get(f"/exam/{ids['exam']}/sit", http=student)
    attempt_id = _attempt_id(lti_env)
    other = lti_env.browser()
    lti_env.launch(role="Learner", sub="6", name="Sue", http=other)
    assert lti_env.get(f"/attempt/{attempt_id}", http=other).status_code == 403
    assert lti_env.get(f"/exam/{ids['exam']}/sit", http=other).status_code == 403     # not on any session list
    assert lti_env.get(f"/exam/{ids['exam']}/proctor", http=other).status_code == 403


@pytest.mark.req("C2")
def test_the_pre_exam_form_comes_before_the_rules(lti_env):
    _teacher, student, ids = _setup(lti_env)
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.exams import Exam
        course_id = db.session.get(Exam, ids["exam"]).course_id
    saved = lti_env.post(f"/course/{course_id}/exams/{ids['exam']}/paper/settings", data={
        "section": "settings", "rules_html": "", "info_form": "Phone number *\nWorkplace",
        "early_submit_minutes": "0", "late_login_minutes": "30", "lock_limit": "5",
        "multiple_rule": "all_or_nothing"})
    assert saved.status_code == 200
    page = lti_env.get(f"/exam/{ids['exam']}/sit", http=student)
    assert "Phone number" in page.text and "Workplace" in page.text and 'id="confirm-rules"' not in page.text
    attempt_id = int(re.search(r"/attempt/(\d+)/info", page.text).group(1))
    missing = lti_env.post(f"/attempt/{attempt_id}/info", http=student, data={"f2": "Clinic"})
    assert missing.status_code == 422 and "Phone number" in missing.text
    done = lti_env.post(f"/attempt/{attempt_id}/info", http=student, data={"f1": "123", "f2": ""})
    assert 'id="confirm-rules"' in done.text
    with lti_env.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import InfoFormResponse
        assert db.session.scalars(select(InfoFormResponse.data)).one() == {"f1": "123", "f2": ""}
