"""Grading in chromium: a teacher opens a submitted attempt with single, multiple, true/false,
fill and essay answers, sees each answer with its automatic score, overrides an objective one
with a reason, grades the essay, and the release sends the overridden total to the sandbox
gradebook. Screenshot: build/screenshots/grading.png."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.exams import factories as f
from tests.fixtures.servers import csrf_token
from tests.fixtures.world import STUDENT1, TEACHER

TIMEOUT = 20_000
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
POINTS = {"single": 2.0, "multiple": 2.0, "truefalse": 2.0, "fill": 2.0, "essay": 4.0}


def _sat_and_submitted(lms_world):
    """An exam placed by deep linking, a paper of five types, Sam's answers through the API, submitted."""
    from bridge.extensions import transaction
    from bridge.models.exams import Exam
    from bridge.models.users import Course, User
    from bridge.services.exams import papers, exam_sessions

    teacher = lms_world.browser()
    activity, line_item = lms_world.place_exam(teacher, "Midterm", 30)
    student = lms_world.browser()
    lms_world.launch(student, STUDENT1, activity.id)
    with lms_world.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        exam = s.scalars(select(Exam)).one()
        sam = s.scalars(select(User).where(User.lti_sub == str(STUDENT1))).one()
        tess = s.scalars(select(User).where(User.lti_sub == str(TEACHER))).one()
        qs = f.questions(s, course)
        papers.set_fixed_items(s, exam, [(qs[k].id, p) for k, p in POINTS.items()], actor_id=tess.id)
        papers.update_settings(s, exam, actor_id=tess.id, shuffle_options=False)
        sitting = exam_sessions.create_session(s, exam, name="Now", starts_at=f.now() - dt.timedelta(minutes=1),
                                          remote=False, actor_id=tess.id)
        exam_sessions.assign(s, sitting, [sam.id], actor_id=tess.id)
        ids = {k: q.id for k, q in qs.items()}
        exam_id, course_id = exam.id, course.id
    page = student.get(f"{lms_world.bridge}/exam/{exam_id}/sit")
    attempt_id = int(re.search(r"/attempt/(\d+)/rules", page.text).group(1))
    student.post(f"{lms_world.bridge}/attempt/{attempt_id}/rules", data={"confirm": "1"})
    student.post(f"{lms_world.bridge}/attempt/{attempt_id}/start")
    responses = {"single": {"choice": "b"}, "multiple": {"choices": ["a", "b"]}, "truefalse": {"value": False},
                 "fill": {"blanks": ["Paris", "北京"]}, "essay": {"text": "Water boils at 100 degrees."}}
    events = [{"writer": "w", "seq": n, "question_id": ids[k], "response": r}
              for n, (k, r) in enumerate(responses.items(), 1)]
    headers = {"X-CSRF-Token": csrf_token(student.http, lms_world.bridge)}
    assert student.http.post(f"{lms_world.bridge}/api/attempts/{attempt_id}/answers", json={"events": events},
                             headers=headers).status_code == 200
    assert student.http.post(f"{lms_world.bridge}/api/attempts/{attempt_id}/submit", json={"key": "s"},
                             headers=headers).status_code == 200
    return activity, line_item, course_id, exam_id, attempt_id, ids


@pytest.mark.req("C10", "L5", "P16")
def test_a_teacher_sees_every_answer_overrides_one_and_release_sends_it(lms_world, chromium):
    from lms_plugin.services import outbox

    activity, line_item, course_id, exam_id, attempt_id, ids = _sat_and_submitted(lms_world)
    page = chromium().new_page()
    failures = []
    page.on("response", lambda r: failures.append((r.status, r.url))
            if r.request.resource_type == "document" and r.status >= 400 else None)
    page.goto(lms_world.lms.state.launch_url(TEACHER, activity.id))
    page.wait_for_load_state()
    grading = f"{lms_world.bridge}/course/{course_id}/exams/{exam_id}/grading"
    page.goto(grading)
    page.get_by_role("link", name=re.compile("Next ungraded: Sam Student")).click()
    page.wait_for_url(re.compile(rf"/grading/{attempt_id}$"))

    def section(kind):
        return page.locator(f"#q{ids[kind]}")

    # every answer, with its automatic score; the index links lead to each section
    assert section("single").locator("li.chosen").inner_text().count("4")
    assert "2 of 2" in section("single").locator(".score-line").inner_text()
    assert section("multiple").locator("li.chosen").count() == 2
    assert "2 of 2" in section("multiple").locator(".score-line").inner_text()
    tf = section("truefalse").inner_text()
    assert "Answer: False" in tf and "Right answer: True" in tf and "Automatic score: 0 of 2" in tf
    fill = section("fill").inner_text()
    assert "Paris" in fill and "北京" in fill and "Automatic score: 2 of 2" in fill
    assert "Water boils at 100 degrees." in section("essay").inner_text()
    page.locator('a[href="#q%d"]' % ids["truefalse"]).click()
    assert page.url.endswith(f"#q{ids['truefalse']}")

    # override the true/false item: a reason is required
    tf_form = section("truefalse").locator("form")
    tf_form.get_by_label(re.compile("Override the points")).fill("2")
    tf_form.get_by_role("button", name="Override").click()
    assert page.url.endswith(f"/grading/{attempt_id}#q{ids['truefalse']}")  # not sent: the reason is missing
    assert tf_form.get_by_label("Reason (required)").evaluate("e => e.validity.valueMissing")
    tf_form.get_by_label("Reason (required)").fill("The statement was ambiguous.")
    tf_form.get_by_role("button", name="Override").click()
    page.wait_for_url(re.compile(rf"/grading/{attempt_id}#q{ids['truefalse']}$"))
    assert "Overridden: 2 of 2" in section("truefalse").inner_text()
    # grade the essay
    essay_form = section("essay").locator("form")
    essay_form.get_by_label(re.compile(r"Points \(0 to 4\)")).fill("3")
    essay_form.get_by_role("button", name="Save points").click()
    page.wait_for_url(re.compile(rf"#q{ids['essay']}$"))
    assert "Total: 11 of 12" in page.locator("main, body").first.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(f"#q{ids['truefalse']}").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "grading.png"), full_page=True)

    # release: the gradebook gets the overridden total (11 of 12, scaled to 100)
    page.goto(f"{lms_world.bridge}/course/{course_id}/exams/{exam_id}/release")
    page.get_by_role("button", name=re.compile("Release 1 score")).click()
    page.wait_for_load_state()
    with lms_world.app.app_context():
        assert outbox.deliver_due().sent == 1
    scores = lms_world.lms.state.scores(line_item.id)
    assert [(s.user_id, round(s.score_given, 2), s.score_maximum) for s in scores] == [(str(STUDENT1), 91.67, 100.0)]
    assert failures == []
