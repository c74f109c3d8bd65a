"""Rows for a sitting, written straight through the models: a course, an exam with one item
of each type, a session, candidates with attempts in progress, and signed session cookies
("log in by seeding the session"). Used by the benchmark and by the delivery tests."""
from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.attempts import Attempt
from bridge.models.bank import Question
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession
from bridge.models.users import Course, User
from lms_plugin.models import Deployment, Platform

SESSION_COOKIE = "exambridge_session"

#: One item of each type, with the shapes ``bridge.services.delivery.answers`` accepts.
QUESTIONS = [
    {"qtype": "single", "choices": [{"id": c, "html": c.upper(), "fraction": 1.0 if c == "a" else 0.0}
                                    for c in "abcd"]},
    {"qtype": "multiple", "choices": [{"id": c, "html": c.upper(), "fraction": 0.5 if c in "ab" else -0.5}
                                      for c in "abcd"]},
    {"qtype": "truefalse", "correct": True},
    {"qtype": "fill", "blanks": [{"accepted": ["Paris"]}, {"accepted": ["Rome"]}]},
    {"qtype": "essay"},
    {"qtype": "upload", "upload_extensions": [".pdf"], "upload_max_bytes": 1 << 20},
]


def sample_response(qtype: str, n: int) -> dict:
    """A valid response for an item of ``qtype``; ``n`` varies it."""
    if qtype == "single":
        return {"choice": "abcd"[n % 4]}
    if qtype == "multiple":
        return {"choices": ["abcd"[n % 4], "abcd"[(n + 1) % 4]]}
    if qtype == "truefalse":
        return {"value": n % 2 == 0}
    if qtype == "fill":
        return {"blanks": [f"answer {n}", None]}
    if qtype == "essay":
        return {"text": f"<p>Draft number {n}.</p>", "format": "html"}
    return {"sha256": f"{n:064x}", "name": f"work-{n}.pdf"}


@dataclass
class Sitting:
    course_id: int
    exam_id: int
    session_id: int
    questions: list[tuple[int, str]]  # (question id, qtype)


def make_course(session: Session) -> Course:
    tag = uuid.uuid4().hex[:10]
    platform = Platform(issuer=f"https://lms-{tag}.invalid", client_id=tag, name="Seeded LMS",
                        auth_login_url="https://lms.invalid/auth", auth_token_url="https://lms.invalid/token",
                        jwks_url="https://lms.invalid/jwks")
    platform.deployments.append(Deployment(deployment_id="1"))
    session.add(platform)
    session.flush()
    course = Course(deployment_id=platform.deployments[0].id, context_id=tag, label="BENCH", title="Seeded course")
    session.add(course)
    session.flush()
    return course


def make_sitting(session: Session, *, duration_minutes: int = 120, questions=QUESTIONS) -> Sitting:
    course = make_course(session)
    exam = Exam(course_id=course.id, title="Seeded exam", duration_minutes=duration_minutes)
    session.add(exam)
    session.flush()
    sitting = ExamSession(exam_id=exam.id, name="Session 1", starts_at=clock.utcnow_naive())
    items = [Question(course_id=course.id, stem_html=f"<p>Item {i + 1}</p>", **spec)
             for i, spec in enumerate(questions)]
    session.add_all([sitting, *items])
    session.flush()
    return Sitting(course.id, exam.id, sitting.id, [(q.id, q.qtype) for q in items])


def make_attempt(session: Session, sitting: Sitting, *, user: User | None = None, status: str = "in_exam",
                 minutes_left: float = 120.0, epoch: int = 1) -> Attempt:
    """A candidate (made unless given) with an attempt on ``sitting`` in ``status``."""
    if user is None:
        user = User(name=f"Candidate {uuid.uuid4().hex[:8]}")
        session.add(user)
        session.flush()
    now = clock.utcnow_naive()
    attempt = Attempt(exam_id=sitting.exam_id, session_id=sitting.session_id, user_id=user.id, status=status,
                      epoch=epoch, started_at=now, deadline_at=now + dt.timedelta(minutes=minutes_left),
                      items=[{"question_id": qid, "points": 1.0, "order": i}
                             for i, (qid, _qtype) in enumerate(sitting.questions)])
    session.add(attempt)
    session.flush()
    return attempt


def make_attempts(session: Session, sitting: Sitting, count: int, **kw) -> list[tuple[int, int]]:
    """``count`` candidates with attempts in progress: [(attempt id, user id)]."""
    users = [User(name=f"Candidate {i + 1}") for i in range(count)]
    session.add_all(users)
    session.flush()
    return [(make_attempt(session, sitting, user=u, **kw).id, u.id) for u in users]


def session_cookie(app, user_id: int) -> tuple[str, str]:
    """A signed Flask session for ``user_id``, as a sign-in would make it: (cookie value,
    CSRF token for ``X-CSRF-Token``)."""
    csrf = secrets.token_urlsafe(32)
    value = app.session_interface.get_signing_serializer(app).dumps(
        {"user_id": user_id, "signed_in_at": clock.timestamp(), "_csrf": csrf})
    return value, csrf
