"""The teacher's exam home in chromium: a readiness checklist whose next step moves on as the
exam gets a paper and a session, with times in the institution's configured zone (named)
and the browser's own time beside them. Screenshot: build/screenshots/teacher-readiness.png."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.exams import factories as f
from tests.fixtures.world import STUDENT1, STUDENT2, TEACHER

TIMEOUT = 20_000
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.mark.req("C8", "V4", "L5")
def test_the_readiness_checklist_leads_the_teacher_in_the_institutions_zone(lms_world, chromium, monkeypatch):
    from bridge.extensions import transaction
    from bridge.models.exams import Exam
    from bridge.models.users import Course

    monkeypatch.setitem(lms_world.app.config, "EXAMBRIDGE_TIMEZONE", "Asia/Shanghai")
    activity, _line_item = lms_world.place_exam(lms_world.browser(), "Final exam", 90)
    for student in (STUDENT1, STUDENT2):                     # two candidates of the course
        lms_world.launch(lms_world.browser(), student, activity.id)
    with lms_world.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        exam_id = s.scalars(select(Exam.id)).one()
        essay = f.questions(s, course)["essay"].id

    page = chromium().new_page()                             # the browser's own zone: the machine's (UTC)
    failures = []
    page.on("response", lambda r: failures.append((r.status, r.url))
            if r.request.resource_type == "document" and r.status >= 400 else None)
    page.goto(lms_world.lms.state.launch_url(TEACHER, activity.id))
    page.wait_for_load_state()
    home = f"{lms_world.bridge}/exam/{exam_id}"
    page.goto(home)
    step = page.locator("#next-step")
    assert step.get_attribute("data-step") == "paper"
    assert page.locator("#readiness tbody tr").count() == 7
    assert "No questions on the paper yet." in page.locator("#check-paper").inner_text()
    assert page.locator("details.manual-score").get_attribute("open") is None   # no manual score form up front

    page.locator("#next-action").click()                     # "Build the paper"
    page.wait_for_url(re.compile(r"/paper$"), timeout=TIMEOUT)
    page.check(f"#use_{essay}")
    page.fill(f'input[name="points_{essay}"]', "12.5")
    page.get_by_role("button", name="Use these items").click()
    page.wait_for_load_state()
    page.goto(home)
    assert step.get_attribute("data-step") == "sessions"
    assert "1 item · 12.5 points" in page.locator("#check-paper").inner_text()

    page.locator("#next-action").click()                     # "Schedule a session"
    page.wait_for_url(re.compile(r"/sessions$"), timeout=TIMEOUT)
    assert "Start time (Asia/Shanghai)" in page.locator("body").inner_text()
    page.fill("#name", "Morning")
    page.fill("#date", "2030-06-01")
    page.fill("#time", "09:00")
    page.get_by_role("button", name="Create session").click()
    page.wait_for_load_state()
    row = page.locator("table tbody tr").first.inner_text()
    assert "2030-06-01 09:00 (Asia/Shanghai)" in row and "2030-06-01 10:30 (Asia/Shanghai)" in row   # start, end
    assert "2030-06-01 01:00 (UTC)" in row                                          # the browser's own, beside

    page.goto(home)
    assert step.get_attribute("data-step") == "candidates"
    sessions = page.locator("#check-sessions").inner_text()
    assert "1 session" in sessions and "next starts 2030-06-01 09:00 (Asia/Shanghai)" in sessions
    assert "2030-06-01 01:00 (UTC)" in sessions
    assert "0 assigned · 2 not yet assigned" in page.locator("#check-candidates").inner_text()
    assert page.locator("#next-action").inner_text() == "Assign candidates"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "teacher-readiness.png"), full_page=True)

    # a score on its way to the gradebook: the list follows its delivery with no reload
    from sqlalchemy import update

    from bridge.models.users import User
    from lms_plugin.models import ScoreOutbox
    from lms_plugin.services import outbox

    with lms_world.app.app_context(), transaction() as s:
        sam = s.scalars(select(User).where(User.lti_sub == str(STUDENT1))).one()
        outbox.publish_score(s, s.get(Exam, exam_id), sam.id, score_given=80, actor="test")
    page.goto(home)
    assert page.locator("#deliveries .delivery-pending").count() == 1
    page.evaluate("window.reloaded = false")                 # a reload would drop this mark
    with lms_world.app.app_context(), transaction() as s:
        s.execute(update(ScoreOutbox).values(status="sent"))
    page.locator("#deliveries .delivery-sent").wait_for(timeout=TIMEOUT)
    assert page.evaluate("window.reloaded") is False
    assert not failures, failures
