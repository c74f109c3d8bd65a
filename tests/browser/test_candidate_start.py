"""The candidate's journey in Debian's chromium against the bridge launched from the sandbox
LMS: two candidates wait on the countdown and both reach the exam at the start time (no
error page, no start button during the countdown, the start recorded on time); a reload
mid-exam keeps the answers and is no lock, while leaving the window still locks; the course
page shows "submitted" and, after the teacher's release, the score.

Screenshots go to build/screenshots/ (waiting, exam, submitted, course page with score)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge import clock
from tests.exams import factories as f
from tests.fixtures.waiting import wait_until
from tests.fixtures.world import STUDENT1, STUDENT2, TEACHER, Browser

TIMEOUT = 20_000
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def _prepare(lms_world, students, *, start_in: dt.timedelta):
    """A course, an exam of four objective items (1 point each) and a session starting in
    ``start_in`` with ``students`` on it."""
    from bridge.extensions import transaction
    from bridge.models.users import Course, User
    from bridge.services.exams import papers, exam_sessions

    activity = lms_world.add_activity("Exam")
    Browser().get(lms_world.lms.state.launch_url(TEACHER, activity.id))
    for sub in students:
        Browser().get(lms_world.lms.state.launch_url(sub, activity.id))
    with lms_world.app.app_context(), transaction() as s:
        course = s.scalars(select(Course)).one()
        tess = s.scalars(select(User).where(User.lti_sub == str(TEACHER))).one()
        people = [s.scalars(select(User).where(User.lti_sub == str(sub))).one().id for sub in students]
        qs = f.questions(s, course)
        exam = f.exam(s, course, minutes=45)
        papers.set_fixed_items(s, exam, [(qs[k].id, 1.0) for k in ("single", "multiple", "truefalse", "fill")],
                               actor_id=tess.id)
        papers.update_settings(s, exam, actor_id=tess.id, shuffle_options=False)
        sitting = exam_sessions.create_session(s, exam, name="Morning session", starts_at=f.now() + start_in,
                                          remote=False, actor_id=tess.id)
        exam_sessions.assign(s, sitting, people, actor_id=tess.id)
        return activity, dict(exam=exam.id, course=course.id, teacher=tess.id, starts_at=sitting.starts_at)


def _start_in(starts_at: dt.datetime, seconds: float) -> None:
    """Offset the server's clock so that the session starts ``seconds`` from now."""
    clock.set_offset(0)
    clock.set_offset((starts_at - clock.utcnow_naive()).total_seconds() - seconds)


def _watch_documents(page, bad: list[str]) -> None:
    def seen(response):
        if response.request.resource_type == "document" and response.status >= 400:
            bad.append(f"{response.status} {response.url}")
    page.on("response", seen)


def _attempts(lms_world):
    from bridge.extensions import db
    from bridge.models.attempts import Attempt

    with lms_world.app.app_context():
        db.session.rollback()
        return {a.id: (a.status, a.started_at, a.lock_count) for a in db.session.scalars(select(Attempt))}


def _enter(lms_world, ctx, sub, activity, bad):
    page = ctx.new_page()
    _watch_documents(page, bad)
    page.goto(lms_world.lms.state.launch_url(sub, activity.id))
    page.locator("#my-exams").wait_for(timeout=TIMEOUT)
    return page


@pytest.mark.req("C3")
def test_two_candidates_on_the_countdown_both_reach_the_exam_at_the_start_time(lms_world, chromium):
    activity, ids = _prepare(lms_world, (STUDENT1, STUDENT2), start_in=dt.timedelta(minutes=10))
    bad: list[str] = []
    pages = [_enter(lms_world, chromium(), sub, activity, bad) for sub in (STUDENT1, STUDENT2)]
    _start_in(ids["starts_at"], 12)                                  # the start is a few seconds away
    for page in pages:
        page.goto(f"{lms_world.bridge}/exam/{ids['exam']}/sit")
        page.get_by_role("checkbox").check()
        page.locator("#confirm-rules").click()
        page.locator("#countdown").wait_for(state="visible", timeout=TIMEOUT)
        assert page.locator("#waiting").get_by_text("Morning session").is_visible()
        assert not page.locator("#start").is_visible()                # no start button during the countdown
    SHOTS.mkdir(parents=True, exist_ok=True)
    pages[0].screenshot(path=str(SHOTS / "candidate-waiting.png"), full_page=True)

    for page in pages:                                                # the page opens the exam by itself
        page.locator("#exam").wait_for(timeout=30_000)
        assert "Request refused" not in page.content()
    pages[0].screenshot(path=str(SHOTS / "candidate-exam.png"))
    assert bad == []
    rows = _attempts(lms_world)
    assert len(rows) == 2
    for status, started_at, locks in rows.values():
        assert status == "in_exam" and locks == 0
        assert ids["starts_at"] <= started_at <= ids["starts_at"] + dt.timedelta(seconds=2), started_at


@pytest.mark.req("C5", "C6", "C7")
def test_a_reload_keeps_the_answers_and_is_no_lock_leaving_still_locks_and_the_score_arrives(lms_world, chromium):
    from bridge.extensions import transaction
    from bridge.services.delivery import scoring
    from bridge.services.exams import exams

    activity, ids = _prepare(lms_world, (STUDENT1,), start_in=dt.timedelta(minutes=-1))
    bad: list[str] = []
    ctx = chromium()
    page = _enter(lms_world, ctx, STUDENT1, activity, bad)
    assert page.locator(f"#exam-{ids['exam']}").get_attribute("data-state") == "open"   # started a minute ago: open now
    page.goto(f"{lms_world.bridge}/exam/{ids['exam']}/sit")
    page.get_by_role("checkbox").check()
    page.locator("#confirm-rules").click()
    page.locator("#exam").wait_for(timeout=TIMEOUT)                   # the session has started: straight in
    items = page.locator(".item")
    items.nth(0).get_by_label("B. 4").check()                         # single: right
    items.nth(1).get_by_label("A. 2").check()                         # multiple: right
    items.nth(1).get_by_label("B. 3").check()
    items.nth(2).get_by_label("False").check()                        # true/false: wrong
    page.locator("#save-summary").get_by_text("All answers saved").wait_for(timeout=TIMEOUT)
    items.nth(3).locator(".blank").nth(0).fill("Paris")               # fill: typed, then reloaded at once
    items.nth(3).locator(".blank").nth(1).fill("北京")

    # Whether the page even tries to lock while it unloads (the request itself may die with the page).
    page.evaluate("""() => { const send = window.fetch; window.fetch = function (url) {
        if (String(url).endsWith('/lock')) sessionStorage.setItem('tried-to-lock', '1');
        return send.apply(this, arguments); }; }""")
    page.reload()
    page.locator("#exam").wait_for(timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('.item')[3].querySelectorAll('.blank')[1].value === '北京'",
                           timeout=TIMEOUT)
    assert items.nth(0).get_by_label("B. 4").is_checked() and items.nth(2).get_by_label("False").is_checked()
    assert items.nth(3).locator(".blank").nth(0).input_value() == "Paris"
    page.locator("#save-summary").get_by_text("All answers saved").wait_for(timeout=TIMEOUT)
    assert not page.locator("#lock-overlay").is_visible() and page.evaluate("sessionStorage.getItem('tried-to-lock')") is None
    ((attempt_id, (status, _started, locks)),) = _attempts(lms_world).items()
    assert (status, locks) == ("in_exam", 0)
    with lms_world.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import AttemptLog

        def unload_logged():
            db.session.rollback()
            return "page_unload" in db.session.scalars(select(AttemptLog.action).where(
                AttemptLog.attempt_id == attempt_id)).all()
        wait_until(unload_logged, timeout=10)
    page.screenshot(path=str(SHOTS / "candidate-exam-after-reload.png"))

    # Leaving the window (another window in front: a real blur) still locks (C6).
    cdp = ctx.new_cdp_session(page)
    cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    page.bring_to_front()
    other = ctx.new_page()
    other.goto(f"{lms_world.bridge}/")
    other.bring_to_front()
    page.locator("#lock-overlay").wait_for(state="visible", timeout=TIMEOUT)
    assert _attempts(lms_world)[attempt_id][2] == 1
    other.close()
    page.bring_to_front()
    proctor = Browser()
    proctor.get(lms_world.lms.state.launch_url(TEACHER, activity.id))
    assert proctor.post(f"{lms_world.bridge}/exam/{ids['exam']}/proctor/{attempt_id}/unlock").status_code == 200
    page.locator("#lock-overlay").wait_for(state="hidden", timeout=TIMEOUT)

    page.locator("#submit-open").click()
    page.locator("#submit-confirm").click()
    page.locator("#submitted").wait_for(timeout=TIMEOUT)
    assert page.get_by_text("What happens next").is_visible()
    page.screenshot(path=str(SHOTS / "candidate-submitted.png"), full_page=True)
    page.goto(f"{lms_world.bridge}/course/{ids['course']}")
    row = page.locator(f"#exam-{ids['exam']}")
    assert row.get_attribute("data-state") == "submitted" and "Enter the exam" not in row.inner_text()
    assert "submitted" in row.inner_text()

    with lms_world.app.app_context():
        from bridge.extensions import db
        from bridge.models.attempts import Attempt

        def scored():  # the scorer scores right after the submit is stored (bridge.runtime.scorer)
            db.session.rollback()
            return db.session.get(Attempt, attempt_id).score is not None
        wait_until(scored, timeout=30)
    with lms_world.app.app_context(), transaction() as s:
        scoring.release(s, exams.get_exam(s, ids["exam"]), actor_id=ids["teacher"])
    page.reload()
    row.get_by_text("Score: 75 / 100").wait_for(timeout=TIMEOUT)      # 3 of 4 points on the exam's scale
    page.screenshot(path=str(SHOTS / "candidate-course-score.png"), full_page=True)
    assert bad == []


@pytest.mark.req("C3", "P2")
def test_a_candidate_waiting_for_the_proctors_allow_start_moves_on_by_itself(app, db_session, chromium):
    from bridge.bench.seed import SESSION_COOKIE, session_cookie
    from bridge.services.proctoring import console
    from tests.fixtures.servers import serve_wsgi
    from tests.venue.readiness_world import at, ready_room, session_row

    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=20), candidates=1)
    starts_at = session_row(w).starts_at
    at(w, starts_at - dt.timedelta(minutes=10))                       # the room's login is open by itself
    cookie, _csrf = session_cookie(app, w.candidates[0].id)
    bad: list[str] = []
    with serve_wsgi(app) as srv:
        ctx = chromium()
        ctx.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": srv.url}])
        page = ctx.new_page()
        _watch_documents(page, bad)
        page.goto(f"{srv.url}/exam/{w.exam.id}/sit")
        page.get_by_role("checkbox").check()
        page.locator("#confirm-rules").click()
        page.locator("#wait-proctor").wait_for(state="visible", timeout=TIMEOUT)
        assert not page.locator("#start").is_visible() and not page.locator("#countdown").is_visible()

        at(w, starts_at - dt.timedelta(seconds=6))
        console.allow_start(db_session, w.sitting_id, secret_key=w.secret, actor="user:1")
        db_session.commit()
        page.locator("#countdown").wait_for(state="visible", timeout=TIMEOUT)   # the page noticed by itself
        page.locator("#exam").wait_for(timeout=TIMEOUT)                           # and opened at the start
        assert bad == []
    rows = _attempts_of(db_session)
    ((status, started_at),) = rows
    assert status == "in_exam" and starts_at <= started_at <= starts_at + dt.timedelta(seconds=2), started_at


def _attempts_of(db_session):
    from bridge.models.attempts import Attempt

    db_session.expire_all()
    return [(a.status, a.started_at) for a in db_session.scalars(select(Attempt))]
