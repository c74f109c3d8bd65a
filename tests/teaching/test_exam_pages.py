"""An exam's teacher pages over HTTP: the paper fixed or drawn with its settings (C8, C3),
sessions with the remote exam code and candidates assigned from the roster (C3, C1),
grading an essay and releasing scores to the LMS gradebook (C10); candidates are refused
every teacher page and bad input never makes a 500."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.models.papers import ExamSession, Paper, PaperItem, SessionCandidate


def _paper(teach, exam_id):
    """The exam's paper as plain values (None when none is stored)."""
    from types import SimpleNamespace

    def read(s):
        p = s.scalars(select(Paper).where(Paper.exam_id == exam_id)).first()
        return p and SimpleNamespace(**{c.key: getattr(p, c.key) for c in Paper.__table__.columns})

    return teach.db(read)


@pytest.mark.req("C8")
def test_fixed_paper_with_points_and_order(teach):
    ids = teach.questions()
    exam = teach.exam()
    path = teach.exam_path(exam) + "/paper"
    page = teach.get(path)
    assert page.status_code == 200 and "No items yet" in page.text and "All or nothing" in page.text
    assert not re.search(r'name="use_\d+" value="1" checked', page.text)                 # nothing ticked yet
    form = {"section": "items",
            f"use_{ids['essay']}": "1", f"points_{ids['essay']}": "10", f"order_{ids['essay']}": "1",
            f"use_{ids['single']}": "1", f"points_{ids['single']}": "2", f"order_{ids['single']}": "2",
            f"use_{ids['fill']}": "1", f"points_{ids['fill']}": "4"}
    bad = teach.post(path + "/items", data={**form, f"points_{ids['fill']}": "lots"})
    assert bad.status_code == 422 and f'id="err-points_{ids["fill"]}"' in bad.text
    assert teach.post(path + "/items", data={"section": "items"}).status_code == 422          # nothing ticked
    assert teach.post(path + "/items", data=form).status_code == 302

    def items(s):
        rows = s.scalars(select(PaperItem).order_by(PaperItem.position))
        return [(i.question_id, i.points, i.position) for i in rows]

    assert teach.db(items) == [(ids["essay"], 10.0, 1), (ids["single"], 2.0, 2), (ids["fill"], 4.0, 3)]
    page = teach.get(path).text
    assert re.search(r"a fixed list of 3 items,\s+16 points in all", page)
    assert sorted(map(int, re.findall(r'name="use_(\d+)" value="1" checked', page))) == sorted(
        [ids["essay"], ids["single"], ids["fill"]])
    assert f'name="order_{ids["fill"]}" aria-label="Position of' in page and 'value="3"' in page


@pytest.mark.req("C8")
def test_drawn_paper_and_its_errors_at_the_field(teach):
    teach.questions("Pool A")
    exam = teach.exam()
    path = teach.exam_path(exam) + "/paper"
    cat = re.search(r'<option value="(\d+)"\s*>Pool A</option>', teach.get(path).text).group(1)
    too_many = teach.post(path + "/draws", data={"section": "draws", "draw_category_0": cat, "draw_count_0": "50",
                                                 "draw_points_0": "2"})
    assert too_many.status_code == 422 and "holds 6 items; the draw asks for 50" in too_many.text
    bad = teach.post(path + "/draws", data={"section": "draws", "draw_category_0": "x", "draw_count_0": "two",
                                            "draw_points_0": "-1"})
    assert bad.status_code == 422
    assert all(f'id="err-draw_{k}_0"' in bad.text for k in ("category", "count", "points"))
    assert teach.post(path + "/draws", data={"draw_category_0": "99999", "draw_count_0": "1",
                                             "draw_points_0": "1"}).status_code == 422   # not this course's
    assert teach.post(path + "/draws", data={"section": "draws"}).status_code == 422
    ok = teach.post(path + "/draws", data={"section": "draws", "draw_category_0": cat, "draw_count_0": "3",
                                           "draw_points_0": "5"})
    assert ok.status_code == 302
    paper = _paper(teach, exam)
    assert (paper.mode, paper.draws) == ("draw", [{"category_id": int(cat), "count": 3, "points": 5.0}])
    assert "drawn from 1 pool." in teach.get(path).text


@pytest.mark.req("C8", "C3")
def test_paper_settings_save_and_refuse_at_the_field(teach):
    exam = teach.exam()
    path = teach.exam_path(exam) + "/paper"
    page = teach.get(path)
    assert 'id="lock_limit" name="lock_limit" type="number" min="1" step="1" value="5"' in page.text   # default 5
    settings = {"section": "settings", "rules_html": "<p>No phones.</p>", "early_submit_minutes": "20",
                "late_login_minutes": "15", "lock_limit": "3", "remote_allowed": "1", "shuffle_options": "1",
                "multiple_rule": "proportional"}
    bad = teach.post(path + "/settings", data={**settings, "lock_limit": "abc", "multiple_rule": "generous"})
    assert bad.status_code == 422
    assert "Enter a whole number from 1 to 100." in bad.text and 'id="err-multiple_rule"' in bad.text
    assert _paper(teach, exam) is None                                                  # nothing stored
    assert teach.post(path + "/settings", data=settings).status_code == 302
    p = _paper(teach, exam)
    assert (p.lock_limit, p.early_submit_minutes, p.late_login_minutes, p.remote_allowed, p.shuffle_options,
            p.shuffle_items, p.multiple_rule, p.rules_html) == (3, 20, 15, True, True, False, "proportional",
                                                               "<p>No phones.</p>")


@pytest.mark.req("C3", "C1")
def test_sessions_remote_code_and_assignment_from_the_roster(teach):
    exam = teach.exam()
    sam_browser, sam = teach.candidate("5", "Sam Student")
    _sue_browser, sue = teach.candidate("6", "Sue Student")
    path = teach.exam_path(exam) + "/sessions"
    page = teach.get(path)
    assert "No sessions yet" in page.text and "UTC" in page.text and "Sam Student" not in page.text
    bad = teach.post(path, data={"name": "", "date": "2030-02-30", "time": "9am"})
    assert bad.status_code == 422 and 'id="err-name"' in bad.text and 'id="err-starts_at"' in bad.text
    made = teach.post(path, data={"name": "Morning", "date": "2030-06-01", "time": "09:00", "remote": "1"})
    assert made.status_code == 302
    page = teach.get(path)
    code = teach.db(lambda s: s.scalars(select(ExamSession.exam_code)).one())
    assert re.fullmatch(r"\d{6}", code) and f"Remote exam code: {code}" in page.text
    assert f'<span class="code">{code}</span>' in page.text and "2030-06-01 09:00" in page.text
    teach.post(path, data={"name": "Afternoon", "date": "2030-06-01", "time": "14:00"})
    morning, afternoon = teach.db(lambda s: list(s.scalars(select(ExamSession.id).order_by(ExamSession.starts_at))))
    assert "Sam Student" in teach.get(path).text
    resp = teach.post_pairs(path + "/assign", [("session_id", morning), ("user_id", sam), ("user_id", sue)])
    assert resp.status_code == 302
    resp = teach.post_pairs(path + "/assign", [("session_id", afternoon), ("user_id", sue)])   # moves Sue
    assert resp.status_code == 302
    placed = teach.db(lambda s: dict(s.execute(select(SessionCandidate.user_id, SessionCandidate.session_id)).all()))
    assert placed == {sam: morning, sue: afternoon}
    rows = teach.get(path).text
    assert re.search(r"Sam Student</label></td>\s*<td>Morning</td>", rows)
    assert re.search(r"Sue Student</label></td>\s*<td>Afternoon</td>", rows)
    # refusals, never a 500
    assert teach.post_pairs(path + "/assign", [("session_id", morning)]).status_code == 422
    assert teach.post_pairs(path + "/assign", [("session_id", morning), ("user_id", "x")]).status_code == 422
    assert teach.post_pairs(path + "/assign", [("session_id", morning), ("user_id", 99999)]).status_code == 404
    assert teach.post_pairs(path + "/assign", [("session_id", "99999"), ("user_id", sam)]).status_code == 404
    assert teach.post_pairs(path + "/assign", [("user_id", sam)]).status_code == 404


def _submitted_essay(teach, exam_id, user_id, text="Because of causes."):
    """A session that started a minute ago, the candidate's attempt with an essay answer, submitted."""
    from bridge.models.attempts import AnswerEvent
    from bridge.models.exams import Exam
    from bridge.models.users import Course
    from bridge.services.delivery import answers, attempts, scoring
    from bridge.services.exams import exam_sessions
    from lms_plugin.services import service_token

    def run(s):
        course = s.get(Course, teach.course_id)
        course.ags_lineitems_url = "https://lms.example/lineitems"
        course.ags_scopes = [service_token.SCOPE_SCORE]
        exam = s.get(Exam, exam_id)
        sitting = exam_sessions.create_session(s, exam, name="Now", starts_at=clock.utcnow_naive() - dt.timedelta(minutes=1),
                                          remote=False, actor_id=user_id)
        exam_sessions.assign(s, sitting, [user_id], actor_id=user_id)
        a = attempts.log_in(s, exam, user_id)
        attempts.read_rules(s, a)
        attempts.start(s, a, seed=1)
        essay = next(i["question_id"] for i in a.items if i["points"] == 10)
        digest = answers.payload_hash(essay, {"text": text})   # the stored event, as autosave leaves it
        s.add(AnswerEvent(attempt_id=a.id, writer="w", seq=1, question_id=essay, response={"text": text},
                          payload_hash=digest, epoch=a.epoch,
                          hash=answers.event_hash(None, a.id, "w", 1, a.epoch, digest)))
        s.flush()
        # submitted and scored, as attempts.submit leaves it (set directly: the grading page is under test)
        a.status, a.submitted_at, a.submit_reason = "submitted", clock.utcnow_naive(), "candidate"
        scoring.score_attempt(s, a)
        return a.id, essay

    return teach.db(run)


@pytest.mark.req("C10")
def test_grade_an_essay_and_release_to_the_gradebook(teach):
    from lms_plugin.models import ScoreOutbox

    ids = teach.questions()
    exam = teach.exam()
    _b, sam = teach.candidate("5", "Sam Student")
    teach.post(teach.exam_path(exam) + "/paper/items", data={
        f"use_{ids['essay']}": "1", f"points_{ids['essay']}": "10", f"use_{ids['truefalse']}": "1",
        f"points_{ids['truefalse']}": "2"})
    grading = teach.exam_path(exam) + "/grading"
    assert "No attempt has been submitted yet." in teach.get(grading).text
    attempt, essay = _submitted_essay(teach, exam, sam, text="<script>alert(1)</script> Because.")
    page = teach.get(grading)
    assert "Sam Student" in page.text and "needs grading" in page.text and "0 need grading" not in page.text
    sheet = teach.get(f"{grading}/{attempt}")
    assert sheet.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt; Because." in sheet.text
    item = f"{grading}/{attempt}/items/{essay}"
    for bad, status in (("abc", 422), ("11", 422), ("-1", 422), ("", 422)):
        resp = teach.post(item, data={"points": bad})
        assert resp.status_code == status and f'id="err-points_{essay}"' in resp.text, bad
    assert teach.post(f"{grading}/{attempt}/items/99999", data={"points": "1"}).status_code == 422
    assert teach.post(item, data={"points": "7.5", "comment": "Good."}).status_code == 302
    assert re.search(r"1 attempt complete,\s+0 need grading\.", teach.get(grading).text)
    confirm = teach.get(teach.exam_path(exam) + "/release")
    assert confirm.status_code == 200 and "1 completely graded attempt will be sent" in confirm.text
    assert teach.count(ScoreOutbox, exam_id=exam) == 0                          # asking changes nothing
    done = teach.post(teach.exam_path(exam) + "/release")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/exam/{exam}#scores")
    exam_page = teach.get(f"/exam/{exam}")
    assert "1 score queued for the LMS gradebook." in exam_page.text
    user_id, given = teach.db(lambda s: s.execute(select(ScoreOutbox.user_id, ScoreOutbox.score_given)
                                                  .where(ScoreOutbox.exam_id == exam)).one())
    assert user_id == sam and given == pytest.approx(7.5 / 12 * 100, abs=0.01)       # scaled to the exam's 100


@pytest.mark.req("C10")
def test_release_without_a_paper_or_gradebook_is_a_message_not_a_500(teach):
    exam = teach.exam()
    resp = teach.post(teach.exam_path(exam) + "/release")
    assert resp.status_code == 302
    assert "Nothing was released" in teach.get(resp.headers["Location"]).text
    assert teach.get(teach.exam_path(exam) + "/grading/99999").status_code == 404


def _teacher_pages(course_id, exam, qid):
    c, e = f"/course/{course_id}", f"/course/{course_id}/exams/{exam}"
    gets = [c + "/bank", c + "/bank/export", c + "/bank/new", f"{c}/bank/{qid}/edit", f"{c}/bank/{qid}/preview",
            f"{c}/bank/{qid}/archive", e + "/paper", e + "/sessions", e + "/grading", e + "/grading/1", e + "/release"]
    posts = [c + "/bank/import", c + "/bank/new", f"{c}/bank/{qid}/edit", f"{c}/bank/{qid}/archive", e + "/paper/items",
             e + "/paper/draws", e + "/paper/settings", e + "/sessions", e + "/sessions/assign",
             e + "/grading/1/items/1", e + "/release"]
    return gets, posts


@pytest.mark.req("C9", "C8", "C3", "C10")
def test_a_candidate_is_refused_every_teacher_page(teach, lti_env):
    ids = teach.questions()
    exam = teach.exam()
    student, _sam = teach.candidate("5", "Sam Student")
    gets, posts = _teacher_pages(teach.course_id, exam, ids["essay"])
    for path in gets:
        assert lti_env.get(path, http=student).status_code == 403, path
    for path in posts:
        assert lti_env.post(path, http=student, data={"points": "1"}).status_code == 403, path
    assert teach.count(Paper) == 0


def test_unknown_courses_exams_and_ids_are_404(teach):
    exam = teach.exam()
    e = teach.exam_path(exam + 1000)
    for path in ("/paper", "/sessions", "/grading", "/release"):
        assert teach.get(e + path).status_code == 404, path
    assert teach.get(f"/course/{teach.course_id + 1000}/bank").status_code == 404
    assert teach.get(teach.bank + "/abc/edit").status_code == 404


def test_out_of_range_numbers_are_refused_not_overflowed(teach):
    exam = teach.exam()
    huge = str(10 ** 20)
    assert teach.get(teach.exam_path(10 ** 20) + "/paper").status_code == 404
    assert teach.get(f"{teach.bank}/{huge}/preview").status_code == 404
    assert teach.get(f"{teach.bank}?category={huge}").status_code == 200
    assert teach.post(teach.bank + "/new", data={"qtype": "essay", "stem_html": "x", "points": "1",
                                                 "category_id": huge}).status_code == 422
    paper = teach.exam_path(exam) + "/paper"
    assert teach.post(paper + "/draws", data={"draw_category_0": huge, "draw_count_0": huge,
                                              "draw_points_0": "1e400"}).status_code == 422
    assert teach.post(paper + "/settings", data={"lock_limit": huge, "early_submit_minutes": "0",
                                                 "late_login_minutes": "0", "multiple_rule": "proportional"}
                      ).status_code == 422
    sessions = teach.exam_path(exam) + "/sessions"
    assert teach.post_pairs(sessions + "/assign", [("session_id", huge), ("user_id", huge)]).status_code in (404, 422)
