"""The README's story, walked in Debian's chromium as its people would, on a live bridge and
sandbox LMS: the teacher builds and schedules an exam from the LMS course; three students
are put on the session, one never comes; two wait on the countdown and reach the exam at
the start time; one reloads mid-exam and keeps its answers without a lock; the proctor's
board shows all three; the teacher grades (overriding an objective answer) and releases;
the score reaches the LMS gradebook and the student's course page.

Every browser context is watched: an error document (4xx/5xx) anywhere, an error or a
traceback in the server's log, or (in Chinese) English interface text fails the walk.
Time: the session starts in two hours; the bridge's clock is then moved to a few seconds before
its start (``bridge.clock``), never slept through."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge import clock
from tests.browser.journey_checks import Watch
from tests.fixtures.waiting import wait_until
from tests.fixtures.world import NONEDITING, STUDENT1, STUDENT2, STUDENT3, TEACHER

TIMEOUT = 20_000
COUNTDOWN_MS = 20_000  # how long before the start the clock is set: the students wait through it
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
EXAM = "Algebra midterm"
BANK = """\
::Two plus two::What is 2 + 2? {~3 =4 ~5}

::Primes::Which of these are prime? {~%50%2 ~%50%3 ~%-100%9}

::Sun::The sun is a star. {T}

::Capital::The capital of France is {=Paris}.

::Why blue::Explain why the sky is blue. {}
"""
REASON = "4 was written in the margin, the proctor saw it"
USER_TEXT = {EXAM, REASON, "Exam 101 (sandbox course)", "Tess Teacher", "Nora NonEditing", "Sam Student", "Sue Student", "Sid Student", "Admin User",
             "Morning session", "Two plus two", "Primes", "Sun", "Capital", "Why blue", "What is 2 + 2?",
             "Which of these are prime?", "The sun is a star.", "The capital of France is", "Paris",
             "Explain why the sky is blue.", "Rayleigh scattering of sunlight.", "Sandbox LMS",
             "Sandbox University", "ExamBridge", "TEACHER1", "STUDENT1", "STUDENT2", "STUDENT3"}


class Walk:
    def __init__(self, world, chromium, locale: str, tmp_path: Path):
        self.w, self.chromium, self.locale, self.tmp = world, chromium, locale, tmp_path
        self.watch = Watch(user_text=set(USER_TEXT))
        # As Moodle does for a graded activity ("accept grades"), the activity has its column.
        self.activity = world.add_activity("ExamBridge", line_item={"scoreMaximum": 100.0, "label": "ExamBridge"})

    def person(self):
        ctx = self.watch.watch(self.chromium(locale="zh-CN" if self.locale == "zh_CN" else "en-US"))
        return ctx.new_page()

    def launch(self, page, user_id: int) -> None:
        """Open the activity from the LMS; in the Chinese walk, the person then picks 中文 in
        the header (the LMS's users here are English speakers)."""
        page.goto(self.w.lms.state.launch_url(user_id, self.activity.id))
        page.locator("main").wait_for(timeout=TIMEOUT)
        if self.locale == "zh_CN":
            page.locator("header button:text('中文')").click()
            page.locator("html[lang=zh-CN]").wait_for(timeout=TIMEOUT)

    def look(self, page, name: str) -> None:
        """A screenshot for people to look at, and (in Chinese) the English check."""
        if self.locale == "zh_CN":
            self.watch.look_for_english(page, name)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"journey-{self.locale}-{name}.png"), full_page=True)

    def look_lms(self, page, name: str) -> None:
        """The LMS's own pages are English in any language; only a screenshot."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"journey-{self.locale}-{name}.png"), full_page=True)

    def db(self):
        from bridge.extensions import db

        db.session.rollback()
        return db.session


def _t(locale: str, en: str, zh: str) -> str:
    return zh if locale == "zh_CN" else en


@pytest.mark.req("C3", "C5", "C6", "C7", "C10", "L3", "L4", "L5", "L6", "P1")
@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_the_readme_story_walked_in_chromium(lms_world, chromium, tmp_path, locale):
    from bridge.runtime import runner

    walk = Walk(lms_world, chromium, locale, tmp_path)
    background = runner.start_background(lms_world.app)   # the outbox sender and the sweeper, as `make run`
    try:
        _teacher_builds_and_schedules(walk)
        exam_id, starts_at = _exam_and_start(walk)
        # Everyone opens the course from the LMS now; the session starts in two hours, so the
        # bridge's clock then moves to shortly before its start (the LMS's launches, signed
        # in real time, come before the move).
        sam, sue, nora = walk.person(), walk.person(), walk.person()
        for page, who in ((sam, STUDENT1), (sue, STUDENT2), (nora, NONEDITING)):
            walk.launch(page, who)
        clock.set_offset((starts_at - clock.utcnow_naive()).total_seconds() - COUNTDOWN_MS / 1000)
        _two_students_wait_and_start(walk, exam_id, (sam, sue))
        _sue_reloads_mid_exam(walk, sue)
        _proctor_sees_all_three(walk, exam_id, nora)
        for page in (sam, sue):
            _submit(page)
        # The LMS checks the times in the tool's service tokens against its own (real) clock:
        # the bridge's clock comes back before the scores go out.
        clock.set_offset(0)
        _teacher_grades_and_releases(walk, exam_id)
        _student_sees_the_score(walk, sam)
        walk.watch.assert_clean()
    finally:
        runner.stop_background(background)
        walk.watch.stop()


# --- the teacher ------------------------------------------------------------------------
def _teacher_builds_and_schedules(walk: Walk) -> None:
    t = walk.teacher = walk.person()
    walk.launch(t, TEACHER)
    t.fill("#title", EXAM)
    t.fill("#duration_minutes", "45")
    t.locator("form:has(#title) button[type=submit]").click()
    t.locator(f"a:text('{EXAM}')").first.wait_for(timeout=TIMEOUT)
    t.locator("#people button[type=submit]").first.click()                    # sync the roster
    t.locator("#people tr:has-text('Sid Student')").wait_for(timeout=TIMEOUT)
    t.locator("#people tr:has-text('Nora NonEditing') button").click()        # Nora proctors
    t.locator("#people tr:has-text('Nora NonEditing') button").wait_for(timeout=TIMEOUT)
    walk.look(t, "course")

    gift = walk.tmp / "midterm.gift"
    gift.write_text(BANK, encoding="utf-8")
    t.locator("a[href$='/bank']").first.click()
    t.set_input_files("#file", str(gift))
    t.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
    t.locator("main").wait_for(timeout=TIMEOUT)
    walk.look(t, "import-report")

    t.locator(f"a:text('{EXAM}')").first.click() if t.locator(f"a:text('{EXAM}')").count() else None
    _open_exam_home(walk)
    walk.look(t, "readiness-empty")
    t.locator("a[href$='/paper']").first.click()
    for box in t.locator("input[type=checkbox][name^=use_]").all():
        box.check()
    t.locator("form:has(input[name=section][value=items]) button[type=submit]").click()
    t.locator("main").wait_for(timeout=TIMEOUT)

    _open_exam_home(walk)
    t.locator("a[href$='/sessions']").first.click()
    t.fill("#name", "Morning session")
    _fill_start(t, (clock.utcnow_naive() + dt.timedelta(hours=2)).replace(second=0, microsecond=0))
    t.locator("form:has(#name) button[type=submit]").click()
    t.locator("#select-all").wait_for(timeout=TIMEOUT)
    t.locator("#select-all").check()
    t.locator("form:has(#select-all) button[type=submit]").click()
    t.locator("main").wait_for(timeout=TIMEOUT)
    walk.look(t, "sessions")
    _open_exam_home(walk)
    walk.look(t, "readiness")


def _fill_start(page, at: dt.datetime) -> None:
    """The session form's start, typed in the institution's zone (UTC in tests)."""
    page.fill("#date", at.date().isoformat())
    page.fill("#time", at.strftime("%H:%M"))


def _open_exam_home(walk: Walk) -> None:
    t = walk.teacher
    t.goto(f"{walk.w.bridge}/")
    t.locator(f"#exams a:text('{EXAM}')").first.click()
    t.locator("main h1").wait_for(timeout=TIMEOUT)


def _exam_and_start(walk: Walk):
    from bridge.models.exams import Exam
    from bridge.models.papers import ExamSession

    with walk.w.app.app_context():
        s = walk.db()
        exam = s.scalars(select(Exam).where(Exam.title == EXAM)).one()
        session = s.scalars(select(ExamSession).where(ExamSession.exam_id == exam.id)).one()
        return exam.id, session.starts_at


# --- the candidates -----------------------------------------------------------------------
def _two_students_wait_and_start(walk: Walk, exam_id: int, pages) -> None:
    for p in pages:   # the LMS activity opens the exam's page: "Enter the exam"
        p.locator(f"#enter a[href$='/exam/{exam_id}/sit']").click()
        p.locator("#confirm-rules").wait_for(timeout=TIMEOUT)
        p.get_by_role("checkbox").first.check()
        p.locator("#confirm-rules").click()
        p.locator("#waiting").wait_for(timeout=TIMEOUT)
        assert not p.locator("#start").is_visible(), "the start button shows during the countdown"
    walk.look(pages[0], "waiting")
    for p in pages:                                    # the page opens the exam by itself
        p.locator("#exam").wait_for(timeout=COUNTDOWN_MS + TIMEOUT)  # the countdown, then a page load
        assert "/attempt/" in p.url
    from bridge.models.attempts import Attempt
    from bridge.models.papers import ExamSession

    with walk.w.app.app_context():
        s = walk.db()
        for a in s.scalars(select(Attempt).where(Attempt.exam_id == exam_id)):
            start = s.get(ExamSession, a.session_id).starts_at
            assert a.started_at is not None and start <= a.started_at <= start + dt.timedelta(seconds=3), \
                (a.started_at, start)


def _answer_all(page) -> None:
    items = page.locator(".item")
    items.nth(0).locator("input[type=radio]").nth(1).check()
    items.nth(1).locator("input[type=checkbox]").nth(0).check()
    items.nth(1).locator("input[type=checkbox]").nth(1).check()
    items.nth(2).locator("input[type=radio]").nth(0).check()
    items.nth(3).locator(".blank").first.fill("Paris")
    items.nth(4).locator(".essay").fill("Rayleigh scattering of sunlight.")
    page.locator("#save-summary[data-pending='0'], #save-summary").first.wait_for(timeout=TIMEOUT)
    for i in range(5):
        page.locator(f".item >> nth={i} >> .save-state[data-state='saved']").wait_for(timeout=TIMEOUT)


def _sue_reloads_mid_exam(walk: Walk, sue) -> None:
    _answer_all(sue)
    sue.reload()
    sue.locator("#exam").wait_for(timeout=TIMEOUT)
    sue.wait_for_function("() => document.querySelectorAll('.item')[3].querySelector('.blank').value === 'Paris'",
                          timeout=TIMEOUT)
    assert sue.locator("#lock-overlay").is_hidden()
    from bridge.models.attempts import Attempt

    with walk.w.app.app_context():
        s = walk.db()
        (a,) = [a for a in s.scalars(select(Attempt)) if a.user.lti_sub == str(STUDENT2)]
        assert a.lock_count == 0 and a.status == "in_exam", (a.status, a.lock_count)
    walk.look(sue, "exam-after-reload")


def _submit(page) -> None:
    if page.locator(".item .save-state[data-state='saved']").count() < 5:
        _answer_all(page)
    page.locator("#submit-open").click()
    page.locator("#submit-confirm").click()
    page.locator("#submitted").wait_for(timeout=TIMEOUT)


# --- the proctor ---------------------------------------------------------------------------
def _proctor_sees_all_three(walk: Walk, exam_id: int, p) -> None:
    p.locator(f"a[href$='/exam/{exam_id}/proctor']").first.click()   # the activity opens the exam's page
    for name in ("Sam Student", "Sue Student", "Sid Student"):
        p.locator(f"tr:has-text('{name}'), .seat:has-text('{name}')").first.wait_for(timeout=TIMEOUT)
    walk.look(p, "proctor-board")


# --- grading and release ---------------------------------------------------------------------
def _grade(page, item: str, points: str, reason: str | None = None) -> None:
    """Points for one item on a candidate's grading page; an objective item's override
    needs a reason."""
    section = page.locator(f"section:has(h2:has-text('{item}'))")
    section.locator("input[name=points]").fill(points)
    if reason is not None:
        section.locator("input[name=reason]").fill(reason)
    section.locator("form.grade-form button[type=submit]").click()
    page.locator(".flash, .notice, [role=status]").first.wait_for(timeout=TIMEOUT)


def _teacher_grades_and_releases(walk: Walk, exam_id: int) -> None:
    t = walk.teacher
    _open_exam_home(walk)
    t.locator("a[href$='/grading']").first.click()
    t.locator("main").wait_for(timeout=TIMEOUT)
    assert t.locator("main").get_by_text("Sid Student").count(), "the absent candidate is not listed"
    walk.look(t, "grading")
    t.locator("tr:has-text('Sam Student') a[href*='/grading/']").first.click()
    t.locator("section:has(h2:has-text('Two plus two'))").wait_for(timeout=TIMEOUT)
    _grade(t, "Two plus two", "1", REASON)   # an objective override
    _grade(t, "Why blue", "1")
    walk.look(t, "grade-attempt")
    t.locator("a[href*='/grading/']:has-text('Sue Student')").first.click()     # next ungraded
    t.locator("section:has(h2:has-text('Why blue'))").wait_for(timeout=TIMEOUT)
    _grade(t, "Why blue", "0.5")
    t.goto(t.url.split("/grading/")[0] + "/release")
    t.locator("form[action$='/release'] button[type=submit]").click()
    t.locator("main").wait_for(timeout=TIMEOUT)
    walk.look(t, "released")

    lms = walk.w.lms.state
    (column,) = lms.activity_line_items(walk.activity.id)                      # one column, the activity's
    try:
        wait_until(lambda: len(lms.scores(column.id)) == 2, timeout=30, what="both scores in the LMS gradebook")
    except AssertionError:
        raise AssertionError(f"not delivered: {_outbox(walk)}; the LMS has {lms.line_items} {lms.score_log()}")
    assert len(lms.line_items) == 1, [li.label for li in lms.line_items]
    given = {sc.user_id: sc.score_given / sc.score_maximum for sc in lms.scores(column.id)}
    assert given == pytest.approx(_released_fractions(walk, exam_id)), given
    book = walk.person()
    book.goto(f"{walk.w.lms.url}/grade/report")
    walk.look_lms(book, "lms-gradebook")
    book.close()


def _outbox(walk: Walk) -> list:
    from lms_plugin.models import ScoreOutbox

    with walk.w.app.app_context():
        return [(r.status, r.attempts, r.last_error, r.next_attempt_at) for r in walk.db().scalars(select(ScoreOutbox))]


def _released_fractions(walk: Walk, exam_id: int) -> dict[str, float]:
    """Each candidate's total as the bridge holds it (the override included), as a fraction
    of the paper's points; Sam's includes the overridden item."""
    from bridge.models.attempts import Attempt
    from bridge.models.attempts import ItemGrade

    with walk.w.app.app_context():
        s = walk.db()
        out = {}
        for a in s.scalars(select(Attempt).where(Attempt.exam_id == exam_id, Attempt.status == "submitted")):
            grades = s.scalars(select(ItemGrade).where(ItemGrade.attempt_id == a.id)).all()
            out[a.user.lti_sub] = sum(g.points for g in grades) / sum(i["points"] for i in a.items)
        return out


def _student_sees_the_score(walk: Walk, page) -> None:
    page.locator("main a[href*='/course/']").first.click()                    # "Back to the course"
    page.locator("#my-exams").wait_for(timeout=TIMEOUT)
    row = page.locator("#my-exams tr[data-state]").first
    percent = _released_fractions(walk, int(row.get_attribute("id").split("-")[1]))[str(STUDENT1)] * 100
    assert f"{percent:g}" in row.inner_text(), (percent, row.inner_text())    # on a 100-point exam
    walk.look(page, "course-with-score")
