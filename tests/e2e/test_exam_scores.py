"""Issue 3, Done when: scores arrive in the sandbox LMS gradebook — an exam placed by deep
linking, sat through the API, scored on submit, released by the teacher, delivered by the
outbox to the line item the deep link created."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from tests.exams import factories as f
from tests.fixtures.servers import csrf_token
from tests.fixtures.world import STUDENT1, TEACHER


@pytest.mark.req("C10", "L5")
def test_released_scores_reach_the_sandbox_gradebook(lms_world):
    from bridge.extensions import transaction
    from bridge.models.exams import Exam
    from bridge.models.users import Course, User
    from bridge.services.exams import papers, exam_sessions
    from lms_plugin.services import outbox

    teacher = lms_world.browser()
    activity, line_item = lms_world.place_exam(teacher, "Quiz", 20)
    student = lms_world.browser()
    lms_world.launch(student, STUDENT1, activity.id)
    with lms_world.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        exam = s.scalars(select(Exam)).one()
        sam = s.scalars(select(User).where(User.lti_sub == str(STUDENT1))).one()
        tess = s.scalars(select(User).where(User.lti_sub == str(TEACHER))).one()
        qs = f.questions(s, course)
        papers.set_fixed_items(s, exam, [(qs["single"].id, 5.0), (qs["truefalse"].id, 5.0)], actor_id=tess.id)
        sitting = exam_sessions.create_session(s, exam, name="Now", starts_at=f.now() - dt.timedelta(minutes=1),
                                          remote=False, actor_id=tess.id)
        exam_sessions.assign(s, sitting, [sam.id], actor_id=tess.id)
        exam_id, course_id, single, tf = exam.id, course.id, qs["single"].id, qs["truefalse"].id

    page = student.get(f"{lms_world.bridge}/exam/{exam_id}/sit")
    attempt_id = int(re.search(r"/attempt/(\d+)/rules", page.text).group(1))
    student.post(f"{lms_world.bridge}/attempt/{attempt_id}/rules", data={"confirm": "1"})
    student.post(f"{lms_world.bridge}/attempt/{attempt_id}/start")
    token = csrf_token(student.http, lms_world.bridge)
    events = [{"writer": "w", "seq": 1, "question_id": single, "response": {"choice": "b"}},
              {"writer": "w", "seq": 2, "question_id": tf, "response": {"value": False}}]
    headers = {"X-CSRF-Token": token}
    assert student.http.post(f"{lms_world.bridge}/api/attempts/{attempt_id}/answers", json={"events": events},
                             headers=headers).status_code == 200
    assert student.http.post(f"{lms_world.bridge}/api/attempts/{attempt_id}/submit", json={"key": "s"},
                             headers=headers).status_code == 200

    lms_world.launch(teacher, TEACHER, activity.id)
    released = teacher.post(f"{lms_world.bridge}/course/{course_id}/exams/{exam_id}/release")
    assert released.status_code == 200
    with lms_world.app.app_context():
        assert outbox.deliver_due().sent == 1
    scores = lms_world.lms.state.scores(line_item.id)
    # 5 of 10 points (the true/false answer was wrong), scaled to the exam's maximum of 100
    assert [(s.user_id, s.score_given, s.score_maximum) for s in scores] == [(str(STUDENT1), 50.0, 100.0)]
