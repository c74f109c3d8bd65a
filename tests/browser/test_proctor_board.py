"""The board of a remote session in Debian's chromium (P1, P7, C6): a session by exam code,
placed in no room, with three assigned candidates — Sam never comes, Sue logs in and answers,
Sid left the exam window and is locked. The course's teacher, launched from the LMS, opens
the exam's proctor page and sees all three with their states; an answer saved and a
lock then show on the page without reloading it, and the page's unlock still works.
Screenshot: build/screenshots/proctor-board-remote.png."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.exams import factories as f
from tests.fixtures.world import STUDENT1, STUDENT2, STUDENT3, TEACHER, Browser

TIMEOUT = 20_000
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def _prepare(lms_world):
    """The exam (3 items, 45 min) with a remote session that started a minute ago; Sue in the
    exam with one answer, Sid in the exam and locked (blur), Sam never logged in."""
    from bridge.extensions import transaction
    from bridge.models.users import Course, User
    from bridge.services.delivery import answers, attempts
    from bridge.services.exams import papers, exam_sessions

    activity = lms_world.add_activity("Exam")
    for who in (TEACHER, STUDENT1, STUDENT2, STUDENT3):
        Browser().get(lms_world.lms.state.launch_url(who, activity.id))
    with lms_world.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        people = {int(u.lti_sub): u for u in s.scalars(select(User))}
        qs = f.questions(s, course)
        exam = f.exam(s, course, minutes=45)
        tess = people[TEACHER]
        papers.set_fixed_items(s, exam, [(qs[k].id, 2.0) for k in ("single", "truefalse", "essay")], actor_id=tess.id)
        papers.update_settings(s, exam, actor_id=tess.id, remote_allowed=True, shuffle_options=False)
        sess = exam_sessions.create_session(s, exam, name="Remote evening", starts_at=f.now() - dt.timedelta(minutes=1),
                                       remote=True, actor_id=tess.id)
        exam_sessions.assign(s, sess, [people[STUDENT1].id, people[STUDENT2].id, people[STUDENT3].id], actor_id=tess.id)
        sue, sid = (attempts.log_in(s, exam, people[n].id, mode="code") for n in (STUDENT2, STUDENT3))
        for a in (sue, sid):
            attempts.read_rules(s, a)
            attempts.start(s, a, seed=1)
        answers.append(s, sue.id, writer="phone", seq=1, question_id=qs["single"].id, response={"choice": "b"},
                       client_time=None, epoch=sue.epoch)
        attempts.lock(s, sid, why="blur")
        ids = dict(exam=exam.id, session=sess.id, sue=sue.id, sid=sid.id, truefalse=qs["truefalse"].id,
                   sam_user=people[STUDENT1].id, sue_user=people[STUDENT2].id, sid_user=people[STUDENT3].id)
    return activity, ids


def _row(page, ids, who):
    return page.locator(f"#board-{ids['session']} tr[data-user='{ids[who + '_user']}']")


@pytest.mark.req("P1", "P7", "C6")
def test_the_board_of_a_remote_session_is_live(lms_world, chromium):
    from bridge.extensions import transaction
    from bridge.models.attempts import Attempt
    from bridge.services.delivery import answers, attempts

    activity, ids = _prepare(lms_world)
    page = chromium().new_page()
    page.goto(lms_world.lms.state.launch_url(TEACHER, activity.id))          # the teacher, from the LMS
    page.get_by_text("Hello, Tess Teacher").wait_for(timeout=TIMEOUT)
    page.goto(f"{lms_world.bridge}/exam/{ids['exam']}/proctor")
    page.locator(f"#board-{ids['session']} .live-status.ok").wait_for(timeout=TIMEOUT)

    # all three assigned candidates, each in its state
    assert page.locator(f"#board-{ids['session']} tbody tr").count() == 3
    sam, sue, sid = (_row(page, ids, who) for who in ("sam", "sue", "sid"))
    assert sam.get_attribute("data-status") == "not_logged_in" and sam.locator(".st").inner_text() == "not logged in"
    assert sam.locator(".progress").inner_text() == "—" and sam.locator(".contact").inner_text() == "—"
    assert sue.get_attribute("data-status") == "in_exam" and sue.locator(".progress").inner_text() == "1 / 3"
    assert sue.locator(".left").inner_text().startswith("4")                  # 45 min from the start, 1 min ago
    assert sid.get_attribute("data-status") == "locked" and sid.locator(".why").inner_text() == "left the exam window"
    assert sid.locator(".row-actions").is_visible() and not sue.locator(".row-actions").is_visible()
    counts = page.locator(f"#s{ids['session']}-counts")
    assert counts.locator("[data-count=expected]").inner_text() == "3"
    assert counts.locator("[data-count=not_logged_in]").inner_text() == "1"
    legend = page.locator(".legend").first
    assert legend.is_visible() and not any(ch.isdigit() for ch in legend.inner_text())   # a legend, not counts

    # changes arrive without a reload: Sue saves a second answer, then switches tab and is locked
    page.evaluate("window.notReloaded = true")
    with lms_world.app.app_context(), transaction() as s:
        answers.append(s, ids["sue"], writer="phone", seq=2, question_id=ids["truefalse"], response={"value": True},
                       client_time=None, epoch=1)
    sue.locator(".progress:text('2 / 3')").wait_for(timeout=TIMEOUT)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "proctor-board-remote.png"), full_page=True)
    with lms_world.app.app_context(), transaction() as s:
        attempts.lock(s, s.get(Attempt, ids["sue"]), why="visibilitychange")
    page.locator(f"#board-{ids['session']} tr[data-user='{ids['sue_user']}'][data-status='locked']").wait_for(
        timeout=TIMEOUT)
    assert sue.locator(".why").inner_text() == "switched tab or app" and sue.locator(".locks").inner_text() == "1"
    assert counts.locator("[data-count=locked]").inner_text() == "2"
    assert page.evaluate("window.notReloaded") is True

    # the page's own action still works on a row the socket made actionable: unlock Sue
    sue.locator(".row-actions button[type=submit]").first.click()
    page.locator(".flash").get_by_text("Sue Student may continue.").wait_for(timeout=TIMEOUT)
    _row(page, ids, "sue").and_(page.locator("[data-status='in_exam']")).wait_for(timeout=TIMEOUT)
    with lms_world.app.app_context():
        from bridge.extensions import db
        assert db.session.get(Attempt, ids["sue"]).status == "in_exam"
        assert db.session.get(Attempt, ids["sid"]).status == "locked"
