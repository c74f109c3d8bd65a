"""Read-only selects behind the exam's teacher pages (sessions, grading). Writes go through
``bridge.services``; these belong in ``sittings``/``scoring`` once their owners agree."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from bridge.errors import NotFound
from bridge.models.attempts import AnswerFile, Attempt, ItemGrade
from bridge.models.bank import OBJECTIVE, Question
from bridge.models.papers import ExamSession, SessionCandidate
from bridge.services import answers


def sittings(session: Session, exam_id: int) -> list[tuple[ExamSession, int]]:
    """The exam's sessions by start, each with how many candidates it holds."""
    counts = dict(session.execute(select(SessionCandidate.session_id, func.count()).where(
        SessionCandidate.exam_id == exam_id).group_by(SessionCandidate.session_id)).all())
    rows = session.scalars(select(ExamSession).where(ExamSession.exam_id == exam_id)
                           .order_by(ExamSession.starts_at, ExamSession.id))
    return [(s, counts.get(s.id, 0)) for s in rows]


def get_sitting(session: Session, exam_id: int, sitting_id: int | None) -> ExamSession:
    sitting = session.get(ExamSession, sitting_id) if sitting_id is not None else None
    if sitting is None or sitting.exam_id != exam_id:
        raise NotFound("That session is not one of this exam's.")
    return sitting


def placements(session: Session, exam_id: int) -> dict[int, int]:
    """{candidate's user id: their session id} for the exam."""
    return dict(session.execute(select(SessionCandidate.user_id, SessionCandidate.session_id)
                                .where(SessionCandidate.exam_id == exam_id)).all())


def submitted(session: Session, exam_id: int) -> list[Attempt]:
    return list(session.scalars(select(Attempt).options(joinedload(Attempt.user)).where(
        Attempt.exam_id == exam_id, Attempt.status == "submitted").order_by(Attempt.submitted_at, Attempt.id)))


def get_attempt(session: Session, exam_id: int, attempt_id: int) -> Attempt:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.exam_id != exam_id or attempt.status != "submitted":
        raise NotFound("That attempt is not a submitted attempt of this exam.")
    return attempt


@dataclass
class SheetRow:
    position: int
    question: Question
    points: float
    grade: ItemGrade | None
    answer: dict | None
    file: AnswerFile | None

    @property
    def subjective(self) -> bool:
        return self.question.qtype not in OBJECTIVE


def sheet(session: Session, attempt: Attempt) -> list[SheetRow]:
    """Each item of the attempt in paper order with its points, grade, answer and upload."""
    ids = [i["question_id"] for i in attempt.items]
    questions = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids)))}
    grades = {g.question_id: g for g in session.scalars(select(ItemGrade).where(ItemGrade.attempt_id == attempt.id))}
    current = answers.current_answers(session, attempt.id)
    files = {(f.question_id, f.sha256): f for f in session.scalars(
        select(AnswerFile).where(AnswerFile.attempt_id == attempt.id))}
    rows = []
    for n, item in enumerate(attempt.items, 1):
        qid = item["question_id"]
        answer = current.get(qid)
        upload = files.get((qid, answer.get("file"))) if isinstance(answer, dict) else None
        if qid in questions:
            rows.append(SheetRow(n, questions[qid], item["points"], grades.get(qid), answer, upload))
    return rows


def release_counts(attempts: list[Attempt]) -> tuple[int, int]:
    """(fully graded, still needing grading) among submitted attempts."""
    done = sum(1 for a in attempts if a.score_complete)
    return done, len(attempts) - done
