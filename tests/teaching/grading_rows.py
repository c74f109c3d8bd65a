"""A submitted attempt answering every item type, as the exam page and the scorer leave it."""
from __future__ import annotations

import datetime as dt

from bridge import clock

ANSWERS = {
    "single": {"choice": "b"},                       # right: 2 of 2
    "multiple": {"choices": ["a", "c"]},             # one right, one wrong: 0 (all or nothing)
    "truefalse": {"value": False},                   # wrong: 0
    "fill": {"blanks": ["paris", "Rome"]},           # one blank of two: half
    "essay": {"text": "Because of causes."},
}
POINTS = {"single": 2, "multiple": 3, "truefalse": 1, "fill": 2, "essay": 10, "upload": 5}


def paper_form(ids: dict[str, int], kinds=tuple(POINTS)) -> dict[str, str]:
    form = {}
    for n, kind in enumerate(kinds, 1):
        form.update({f"use_{ids[kind]}": "1", f"points_{ids[kind]}": str(POINTS[kind]), f"order_{ids[kind]}": str(n)})
    return form


def submitted_attempt(teach, exam_id: int, user_id: int, ids: dict[str, int], *, sitting=None, answers=None,
                      upload: bytes | None = b"PK\x03\x04 sheet", gradebook=True) -> int:
    """Log in, start, answer (one event per item) and submit, then score as the scorer does."""
    from sqlalchemy import select

    from bridge.models.attempts import AnswerEvent
    from bridge.models.exams import Exam
    from bridge.models.papers import ExamSession
    from bridge.models.users import Course
    from bridge.services.delivery import answers as answer_service, attempts, scoring
    from bridge.services.exams import exam_sessions
    from lms_plugin.services import service_token

    chosen = dict(ANSWERS if answers is None else answers)

    def run(s):
        course = s.get(Course, teach.course_id)
        if gradebook:
            course.ags_lineitems_url = "https://lms.example/lineitems"
            course.ags_scopes = [service_token.SCOPE_SCORE]
        exam = s.get(Exam, exam_id)
        sitting_row = s.scalars(select(ExamSession).where(ExamSession.exam_id == exam_id,
                                                          ExamSession.name == (sitting or "Now"))).first()
        if sitting_row is None:
            sitting_row = exam_sessions.create_session(s, exam, name=sitting or "Now", remote=False, actor_id=user_id,
                                                  starts_at=clock.utcnow_naive() - dt.timedelta(minutes=1))
        exam_sessions.assign(s, sitting_row, [user_id], actor_id=user_id)
        a = attempts.log_in(s, exam, user_id)
        attempts.read_rules(s, a)
        attempts.start(s, a, seed=1)
        if upload is not None and ids.get("upload") in {i["question_id"] for i in a.items}:
            row = attempts.store_upload(s, a, ids["upload"], name="sheet.xlsx", mime="application/vnd.ms-excel",
                                        data=upload)
            chosen["upload"] = {"sha256": row.sha256, "name": row.name, "size": row.size}
        for seq, (kind, response) in enumerate(chosen.items(), 1):
            qid = ids[kind]
            digest = answer_service.payload_hash(qid, response)
            s.add(AnswerEvent(attempt_id=a.id, writer="w", seq=seq, question_id=qid, response=response,
                              payload_hash=digest, epoch=a.epoch,
                              hash=answer_service.event_hash(None, a.id, "w", seq, a.epoch, digest)))
        s.flush()
        a.status, a.submitted_at, a.submit_reason = "submitted", clock.utcnow_naive(), "candidate"
        scoring.score_attempt(s, a)
        return a.id

    return teach.db(run)
