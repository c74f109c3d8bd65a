"""Moodle's default container embeds the tool in an iframe. The course and exam pages work
there (L6), but the attempt must run top level: a click on the LMS page around the frame
would blur a framed exam and lock it. The sandbox LMS (http://localhost) embeds the bridge
(http://127.0.0.1), so the frame's cookies are partitioned under the LMS's site and the new
window starts with none: the single-use ticket carries the candidate there."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.exams import factories as f
from tests.fixtures.world import STUDENT1, TEACHER, Browser

TIMEOUT = 45_000  # a busy machine (the full suite on two workers) is slow to the first framed page


def _prepare(lms_world):
    """An activity placed with an exam whose session started a minute ago, Sam on it."""
    from bridge.extensions import transaction
    from bridge.models.users import Course, User
    from bridge.services.exams import papers, exam_sessions

    activity = lms_world.add_activity("Framed exam")
    Browser().get(lms_world.lms.state.launch_url(TEACHER, activity.id))
    Browser().get(lms_world.lms.state.launch_url(STUDENT1, activity.id))
    with lms_world.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        sam = s.scalars(select(User).where(User.lti_sub == str(STUDENT1))).one()
        tess = s.scalars(select(User).where(User.lti_sub == str(TEACHER))).one()
        qs = f.questions(s, course)
        exam = f.exam(s, course, minutes=45)
        papers.set_fixed_items(s, exam, [(qs["single"].id, 2.0), (qs["essay"].id, 2.0)], actor_id=tess.id)
        sitting = exam_sessions.create_session(s, exam, name="Now", starts_at=f.now() - dt.timedelta(minutes=1),
                                          remote=False, actor_id=tess.id)
        exam_sessions.assign(s, sitting, [sam.id], actor_id=tess.id)
        return activity, exam.id


def _lock_counts(lms_world) -> list[int]:
    from bridge.extensions import transaction
    from bridge.models.attempts import Attempt

    with lms_world.app.app_context(), transaction() as s:
        return [a.lock_count for a in s.scalars(select(Attempt))]


@pytest.mark.req("L6", "C6")
def test_a_framed_launch_sits_the_exam_top_level(lms_world, chromium):
    activity, exam_id = _prepare(lms_world)
    ctx = chromium()
    lms_page = ctx.new_page()
    lms_page.goto(lms_world.lms.state.launch_url(STUDENT1, activity.id, container="iframe"))
    frame = lms_page.frame_locator("#contentframe")
    frame.get_by_text("Hello, Sam Student").wait_for(timeout=TIMEOUT)   # the course page works framed
    frame.get_by_role("link", name="Enter the exam").click()

    # The framed page does not start the attempt: it opens the exam in a window of its own.
    frame.get_by_role("heading", name="This exam runs in a window of its own").wait_for(timeout=TIMEOUT)
    assert frame.locator("#exam, #confirm-rules").count() == 0
    with ctx.expect_page() as popup_info:
        frame.locator("#open-exam").click()
    exam_page = popup_info.value
    frame.get_by_role("heading", name="The exam is open in its own window").wait_for(timeout=TIMEOUT)

    exam_page.get_by_role("checkbox").check()                              # the ticket signed Sam in there
    exam_page.locator("#confirm-rules").click()
    exam_page.locator("#exam").wait_for(timeout=TIMEOUT)                   # the session has started already
    assert exam_page.evaluate("window.top === window.self")                # a page of its own, not a frame
    assert exam_page.url.startswith(f"{lms_world.bridge}/attempt/")
    exam_page.locator(".item").first.locator("input").first.check()
    exam_page.locator("#save-summary").get_by_text("All answers saved").wait_for(timeout=TIMEOUT)

    # Clicks on the LMS page (its heading, its navigation area) never lock the attempt.
    for _ in range(6):
        lms_page.locator("main").first.click(position={"x": 5, "y": 5})
        lms_page.locator("header").first.click()
    exam_page.wait_for_timeout(600)  # the exam page's blur check looks 200 ms after a blur
    assert exam_page.locator("#lock-overlay").is_hidden()
    assert _lock_counts(lms_world) == [0]
    assert frame.locator("#exam").count() == 0

    # The ticket is single use: the same link opened again is refused.
    href = frame.locator("#open-exam").get_attribute("href")
    again = ctx.new_page()
    again.goto(lms_world.bridge + href)
    assert "launch_ticket_invalid" in again.content()
