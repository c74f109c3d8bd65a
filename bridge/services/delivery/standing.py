"""Where a candidate stands in an exam, for the course page, the exam's page and the
candidate's own pages: not yet in a session, scheduled, open (started, not yet come),
waiting, in the exam, submitted or absent; and, once the teacher has released the scores, the score (the one sent to the
gradebook: ``bridge.services.delivery.scoring.release``)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.attempts import Attempt
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, Paper
from bridge.services.delivery import attempts
from bridge.services.exams import exam_sessions
from bridge.services.exams import sitting_state

STATES = ("unscheduled", "scheduled", "open", "waiting", "in_exam", "submitted", "absent")


@dataclass(frozen=True)
class Standing:
    state: str                          # one of STATES
    sitting: Optional[ExamSession]
    starts_at: Optional[dt.datetime]
    ends_at: Optional[dt.datetime]      # the session's start + the exam's duration
    attempt: Optional[Attempt]
    released: bool                      # the teacher released the scores of this exam
    score: Optional[float]              # on the exam's scale, once released and fully graded
    score_maximum: float

    @property
    def graded(self) -> bool:
        return self.score is not None


def released_score(attempt: Attempt, exam: Exam) -> Optional[float]:
    """The attempt's total on the exam's scale, as release sends it to the gradebook; None
    while any item waits for a grade."""
    if attempt.score is None or not attempt.score_complete:
        return None
    maximum = sum(i["points"] for i in attempt.items or []) or 1
    return attempt.score * exam.score_maximum / maximum


def _login_closes(session: Session, sitting: ExamSession, paper: Optional[Paper], user_id: int,
                  ends_at: dt.datetime) -> dt.datetime:
    """When a candidate who never logged in can no longer come (``attempts.log_in``'s cutoff)."""
    room = sitting_state.candidate_sitting(session, sitting, user_id)
    start = sitting_state.room_start(room, sitting) if room is not None else sitting.starts_at
    if paper is None:
        return ends_at
    return min(ends_at, start + dt.timedelta(minutes=paper.late_login_minutes))


def of(session: Session, exam: Exam, user_id: int) -> Standing:
    sitting = exam_sessions.session_of(session, exam.id, user_id)
    attempt = attempts.current(session, exam.id, user_id)
    paper = session.scalars(select(Paper).where(Paper.exam_id == exam.id)).first()
    released = bool(paper and paper.scores_released)
    if sitting is None and attempt is not None:
        sitting = session.get(ExamSession, attempt.session_id)
    starts_at = sitting.starts_at if sitting else None
    ends_at = starts_at + dt.timedelta(minutes=exam.duration_minutes) if starts_at else None
    status = attempt.status if attempt is not None else "not_logged_in"
    if status == "submitted":
        state = "submitted"
    elif status == "absent":
        state = "absent"
    elif status in ("in_exam", "locked"):
        state = "in_exam"
    elif status in ("logged_in", "rules_read"):
        state = "waiting"
    elif sitting is None:
        state = "unscheduled"
    elif clock.utcnow_naive() >= _login_closes(session, sitting, paper, user_id, ends_at):
        state = "absent"                # the login closed (or the session is over) and they never came
    elif clock.utcnow_naive() >= starts_at:
        state = "open"                  # started without them: they may still come, until the cutoff
    else:
        state = "scheduled"
    score = released_score(attempt, exam) if released and state == "submitted" else None
    return Standing(state=state, sitting=sitting, starts_at=starts_at, ends_at=ends_at, attempt=attempt,
                    released=released, score=score, score_maximum=exam.score_maximum)


def for_course(session: Session, exams: list[Exam], user_id: int) -> dict[int, Standing]:
    return {exam.id: of(session, exam, user_id) for exam in exams}


__all__ = ["STATES", "Standing", "for_course", "of", "released_score"]
