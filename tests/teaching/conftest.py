"""A teacher signed into a course over real HTTP (``lti_env``), with helpers for rows and forms."""
from __future__ import annotations

import pytest

from tests.fixtures.servers import csrf_token


class Teach:
    def __init__(self, env):
        self.env = env
        resp = env.launch(role="Instructor", sub="3", name="Tess Teacher")
        assert resp.status_code == 303, resp.text
        self.course_path = resp.headers["Location"]
        self.course_id = int(self.course_path.rsplit("/", 1)[1])

    # HTTP
    def get(self, path, **kw):
        return self.env.get(path, **kw)

    def post(self, path, data=None, **kw):
        kw.setdefault("allow_redirects", False)
        return self.env.post(path, data=data, **kw)

    def post_pairs(self, path, pairs, http=None):
        """POST repeated fields (checkbox lists) with the session's CSRF token."""
        http = http or self.env.http
        token = csrf_token(http, self.env.bridge)
        return http.post(self.env.bridge + path, data=list(pairs) + [("csrf_token", token)], allow_redirects=False)

    def candidate(self, sub: str, name: str):
        browser = self.env.browser()
        assert self.env.launch(role="Learner", sub=sub, name=name, http=browser).status_code == 303
        return browser, self.db(lambda s: self._user_id(s, sub))

    # rows
    def db(self, fn):
        from bridge.extensions import transaction

        with self.env.app.app_context(), transaction() as s:
            return fn(s)

    @staticmethod
    def _user_id(s, sub):
        from sqlalchemy import select

        from bridge.models.users import User

        return s.scalars(select(User.id).where(User.lti_sub == sub)).one()

    def exam(self, title="Final") -> int:
        made = self.post(self.course_path + "/exams", data={"title": title, "duration_minutes": "60"})
        assert made.status_code == 302

        def find(s):
            from sqlalchemy import select

            from bridge.models.exams import Exam

            return s.scalars(select(Exam.id).where(Exam.course_id == self.course_id, Exam.title == title)).one()

        return self.db(find)

    def questions(self, category: str | None = "Unit 1") -> dict[str, int]:
        from bridge.models.bank import QuestionCategory
        from bridge.models.users import Course
        from tests.exams import factories as f

        def make(s):
            course = s.get(Course, self.course_id)
            cat = None
            if category:
                cat = QuestionCategory(course_id=course.id, name=category)
                s.add(cat)
                s.flush()
            return {k: q.id for k, q in f.questions(s, course, cat).items()}

        return self.db(make)

    def count(self, model, **where) -> int:
        from sqlalchemy import func, select

        def n(s):
            stmt = select(func.count()).select_from(model)
            for k, v in where.items():
                stmt = stmt.where(getattr(model, k) == v)
            return s.scalar(stmt)

        return self.db(n)

    @property
    def bank(self) -> str:
        return f"/course/{self.course_id}/bank"

    def exam_path(self, exam_id: int) -> str:
        return f"/course/{self.course_id}/exams/{exam_id}"


@pytest.fixture
def teach(lti_env):
    return Teach(lti_env)
