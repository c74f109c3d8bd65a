"""Rows for exam tests: a course with candidates, a bank, an exam with a paper and a session."""
from __future__ import annotations

import datetime as dt
import itertools

from bridge import clock
from bridge.models.bank import Question, QuestionCategory
from bridge.models.exams import Exam
from bridge.models.users import Course, CourseMember, User
from lms_plugin.models import Deployment, Platform

_n = itertools.count(1)


def course(s) -> Course:
    n = next(_n)
    p = Platform(issuer=f"https://lms{n}.example", client_id="c", auth_login_url="https://x/a",
                 auth_token_url="https://x/t", jwks_url="https://x/k")
    s.add(p)
    s.flush()
    d = Deployment(platform_id=p.id, deployment_id="1")
    s.add(d)
    s.flush()
    c = Course(deployment_id=d.id, context_id=str(n), title="Course")
    s.add(c)
    s.flush()
    return c


def member(s, c: Course, role: str = "candidate", name: str = "Sam") -> User:
    u = User(platform_id=c.deployment.platform_id, lti_sub=f"u{next(_n)}", name=name)
    s.add(u)
    s.flush()
    s.add(CourseMember(course_id=c.id, user_id=u.id, role=role))
    s.flush()
    return u


def questions(s, c: Course, category: QuestionCategory | None = None) -> dict[str, Question]:
    qs = {
        "single": Question(qtype="single", stem_html="2+2?", choices=[
            {"id": "a", "html": "3", "fraction": 0}, {"id": "b", "html": "4", "fraction": 1},
            {"id": "c", "html": "5", "fraction": 0}]),
        "multiple": Question(qtype="multiple", stem_html="Primes?", choices=[
            {"id": "a", "html": "2", "fraction": 0.5}, {"id": "b", "html": "3", "fraction": 0.5},
            {"id": "c", "html": "4", "fraction": -1}, {"id": "d", "html": "9", "fraction": -1}]),
        "truefalse": Question(qtype="truefalse", stem_html="Water is wet.", correct=True),
        "fill": Question(qtype="fill", stem_html="Capital of France: [[1]]; of China: [[2]]", blanks=[
            {"accepted": ["Paris"], "case_sensitive": False, "ignore_spaces": True},
            {"accepted": ["北京", "Beijing"], "case_sensitive": False, "ignore_spaces": True}]),
        "essay": Question(qtype="essay", stem_html="Discuss."),
        "upload": Question(qtype="upload", stem_html="Upload your sheet.", upload_extensions=["xlsx"],
                           upload_max_bytes=1_000_000),
    }
    for q in qs.values():
        q.course_id = c.id
        q.category_id = category.id if category else None
        s.add(q)
    s.flush()
    return qs


def exam(s, c: Course, minutes: int = 60) -> Exam:
    e = Exam(course_id=c.id, title="Final", duration_minutes=minutes)
    s.add(e)
    s.flush()
    return e


def now() -> dt.datetime:
    return clock.utcnow_naive().replace(microsecond=0)
