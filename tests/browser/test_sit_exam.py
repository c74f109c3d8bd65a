"""Issue 3, Done when: a browser sits a whole exam — rules, an answer of each type, a reload
mid-exam that resumes, leaving the page locks it, the proctor unlocks, submit — in Debian's
chromium against the bridge launched from the sandbox LMS."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.exams import factories as f
from tests.fixtures.world import STUDENT1, TEACHER, Browser
from tests.fixtures.waiting import wait_until

TIMEOUT = 20_000


def _prepare(lms_world):
    """A course (made by the teacher's first launch), an exam of every type, a session that
    started a minute ago with Sam on it."""
    from bridge.extensions import transaction
    from bridge.models.users import Course, User
    from bridge.services.exams import papers, exam_sessions

    activity = lms_world.add_activity("Exam")
    Browser().get(lms_world.lms.state.launch_url(TEACHER, activity.id))
    Browser().get(lms_world.lms.state.launch_url(STUDENT1, activity.id))
    with lms_world.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        sam = s.scalars(select(User).where(User.lti_sub == str(STUDENT1))).one()
        tess = s.scalars(select(User).where(User.lti_sub == str(TEACHER))).one()
        qs = f.questions(s, course)
        exam = f.exam(s, course, minutes=45)
        order = ("single", "multiple", "truefalse", "fill", "essay")
        papers.set_fixed_items(s, exam, [(qs[k].id, 2.0) for k in order], actor_id=tess.id)
        papers.update_settings(s, exam, actor_id=tess.id, shuffle_options=False)
        sitting = exam_sessions.create_session(s, exam, name="Now", starts_at=f.now() - dt.timedelta(minutes=1),
                                          remote=False, actor_id=tess.id)
        exam_sessions.assign(s, sitting, [sam.id], actor_id=tess.id)
        return activity, exam.id


@pytest.mark.req("C3", "C4", "C5", "C6", "C7")
def test_a_candidate_sits_a_whole_exam_in_chromium(lms_world, chromium):
    activity, exam_id = _prepare(lms_world)
    ctx = chromium()
    page = ctx.new_page()
    page.goto(lms_world.lms.state.launch_url(STUDENT1, activity.id))
    page.get_by_text("Hello, Sam Student").wait_for(timeout=TIMEOUT)
    page.goto(f"{lms_world.bridge}/exam/{exam_id}/sit")
    page.get_by_role("checkbox").check()
    page.locator("#confirm-rules").click()
    page.locator("#exam").wait_for(timeout=TIMEOUT)                        # started already: the page goes in
    assert page.locator(".item").count() == 5

    items = page.locator(".item")
    items.nth(0).get_by_label("B. 4").check()                               # single: 2+2
    items.nth(1).get_by_label("A. 2").check()                               # multiple: primes
    items.nth(1).get_by_label("B. 3").check()
    items.nth(2).get_by_label("True").check()                               # true/false
    items.nth(3).locator(".blank").nth(0).fill("Paris")                     # fill
    items.nth(3).locator(".blank").nth(1).fill("北京")
    items.nth(4).locator(".essay").fill("An essay answer.")                 # essay
    page.locator("#save-summary").get_by_text("All answers saved").wait_for(timeout=TIMEOUT)
    for i in range(5):
        page.locator(f".item >> nth={i} >> .save-state[data-state='saved']").wait_for(timeout=TIMEOUT)

    page.reload()                                                            # resumes where it was
    page.locator("#exam").wait_for(timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('.item')[3].querySelectorAll('.blank')[1].value === '北京'",
                           timeout=TIMEOUT)
    assert items.nth(0).get_by_label("B. 4").is_checked() and items.nth(2).get_by_label("True").is_checked()
    assert items.nth(4).locator(".essay").input_value() == "An essay answer."
    assert page.locator("#nav-" + items.nth(0).get_attribute("data-question")).get_attribute("class").count("answered")

    # Leaving the page (a tab switch) locks it.
    page.evaluate("""() => { Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                             document.dispatchEvent(new Event('visibilitychange')); }""")
    page.locator("#lock-overlay").wait_for(state="visible", timeout=TIMEOUT)
    page.evaluate("() => { Object.defineProperty(document, 'hidden', {value: false, configurable: true}); }")

    # The proctor unlocks from the session page; the candidate's page notices by itself.
    proctor = Browser()
    proctor.get(lms_world.lms.state.launch_url(TEACHER, activity.id))
    unlocked = proctor.post(f"{lms_world.bridge}/exam/{exam_id}/proctor/"
                            f"{page.locator('#exam').get_attribute('data-attempt')}/unlock")
    assert unlocked.status_code == 200
    page.locator("#lock-overlay").wait_for(state="hidden", timeout=TIMEOUT)

    page.locator("#submit-open").click()
    page.locator("#unanswered-none").wait_for(state="visible", timeout=TIMEOUT)
    page.locator("#submit-confirm").click()
    page.locator("#submitted").wait_for(timeout=TIMEOUT)

    with lms_world.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import Attempt
        def scored():  # the scorer scores right after the submit is stored (bridge.runtime.scorer)
            db.session.rollback()
            return db.session.scalars(select(Attempt).where(Attempt.score.is_not(None))).first()

        attempt = wait_until(scored, timeout=30)
        assert attempt.status == "submitted" and attempt.lock_count == 1
        assert attempt.score == 8.0                                        # 4 objective items × 2; the essay waits
    page.goto(f"{lms_world.bridge}/exam/{exam_id}/sit")                     # re-entering shows "submitted"
    page.locator("#submitted").wait_for(timeout=TIMEOUT)
