"""Landing pages after a launch (issue 2 §7): greeting, the teacher's exams and proctor
designation, the candidate's exams, the launch's locale, and clean refusals."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select


def _follow(env, resp, http=None):
    assert resp.status_code == 303, resp.text
    return env.get(resp.headers["Location"], http=http)


def _course_path(resp) -> str:
    return resp.headers["Location"]


@pytest.mark.req("L1", "L4")
def test_teacher_lands_creates_an_exam_and_sees_it(lti_env):
    resp = lti_env.launch(role="Instructor", sub="3", name="Tess Teacher")
    page = _follow(lti_env, resp)
    assert "Hello, Tess Teacher" in page.text
    assert "No exams yet" in page.text                                   # empty state
    course = _course_path(resp)
    bad = lti_env.post(course + "/exams", data={"title": "", "duration_minutes": "0"})
    assert bad.status_code == 422
    assert "Give the exam a name." in bad.text and "whole number of minutes" in bad.text
    ok = lti_env.post(course + "/exams", data={"title": "Midterm", "duration_minutes": "45"}, allow_redirects=False)
    assert ok.status_code == 302
    page = lti_env.get(course)
    assert "Midterm" in page.text and "45 min" in page.text and "No exams yet" not in page.text


@pytest.mark.req("L4")
def test_candidate_sees_their_exams_and_cannot_create(lti_env):
    teacher = lti_env.launch(role="Instructor", sub="3")
    course = _course_path(teacher)
    student = lti_env.browser()
    resp = lti_env.launch(role="Learner", sub="5", name="Sam Student", http=student)
    page = _follow(lti_env, resp, http=student)
    assert "Hello, Sam Student" in page.text and "You have no exams in this course yet." in page.text
    assert lti_env.post(course + "/exams", http=student, data={"title": "x", "duration_minutes": "5"}).status_code == 403
    lti_env.post(course + "/exams", data={"title": "Final", "duration_minutes": "90"})
    assert "Final" in lti_env.get(course, http=student).text


@pytest.mark.req("L4")
def test_teacher_designates_a_proctor(lti_env):
    from bridge.models.users import CourseMember, User

    teacher = lti_env.launch(role="Instructor", sub="3")
    course = _course_path(teacher)
    nora = lti_env.browser()
    lti_env.launch(role="Learner", sub="4", name="Nora NonEditing", http=nora)
    with lti_env.app.app_context():
        from bridge.extensions import db
        uid = db.session.scalars(select(User.id).where(User.lti_sub == "4")).one()
    page = lti_env.get(course)
    assert "Nora NonEditing" in page.text and "Make proctor" in page.text
    assert lti_env.post(course + "/proctors", data={"user_id": str(uid), "on": "1"}).status_code == 200
    assert "Exams you may proctor" in lti_env.get(course, http=nora).text
    # Nora cannot designate anyone herself
    assert lti_env.post(course + "/proctors", http=nora, data={"user_id": str(uid), "on": "0"}).status_code == 403
    with lti_env.app.app_context():
        from bridge.extensions import db
        m = db.session.scalars(select(CourseMember).where(CourseMember.user_id == uid)).one()
        assert m.designated_proctor and m.role == "candidate"
    # bad input: a clear message, not a 500
    bad = lti_env.post(course + "/proctors", data={"user_id": "abc"})
    assert bad.status_code == 422
    missing = lti_env.post(course + "/proctors", data={"user_id": "99999", "on": "1"})
    assert missing.status_code == 404


@pytest.mark.req("L1")
def test_pages_without_a_session_are_a_clear_401(lti_env, http):
    assert http.get(lti_env.bridge + "/course/1").status_code == 401
    home = http.get(lti_env.bridge + "/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert home.status_code == 200 and "Open ExamBridge from your course" in home.text
    home = http.get(lti_env.bridge + "/")                       # no preference: the default, Chinese
    assert '<html lang="zh-CN">' in home.text and "请从 LMS 的课程中打开 ExamBridge" in home.text
    assert http.get(lti_env.bridge + "/no/such/page").status_code == 404


@pytest.mark.req("L1")
def test_launch_locale_picks_the_language(lti_env):
    resp = lti_env.launch(role="Instructor", sub="3", name="王老师", locale="zh-CN")
    page = _follow(lti_env, resp)
    assert re.search(r'<html lang="zh-CN">', page.text)
    assert "你好，王老师" in page.text and "创建考试" in page.text
    # and the switch back to English
    lti_env.post("/locale/en", headers={"Referer": lti_env.bridge + resp.headers["Location"]})
    assert "Hello, 王老师" in lti_env.get(resp.headers["Location"]).text
