"""Read-only selects behind the exam's teacher pages (sessions, grading). Writes go through
``bridge.services``; these belong in ``sittings``/``scoring`` once their owners agree."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from bridge import clock
from bridge.errors import NotFound
from bridge.models.attempts import AnswerFile, Attempt, ItemGrade
from bridge.models.bank import OBJECTIVE, Question
from bridge.models.papers import ExamSession, Paper, SessionCandidate
from bridge.models.users import User
from bridge.services.delivery import answers


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
    automatic: float | None = None  # what the automatic scoring gives (objective items)
    attempt: Attempt | None = None

    @property
    def subjective(self) -> bool:
        return self.question.qtype not in OBJECTIVE

    @property
    def overridden(self) -> bool:
        return not self.subjective and self.grade is not None and not self.grade.automatic

    @property
    def given(self) -> float | None:
        """The points that count: the stored grade, else (not scored yet) the automatic score."""
        return self.grade.points if self.grade is not None else self.automatic


def _multiple_rule(session: Session, exam_id: int) -> str:
    paper = session.scalars(select(Paper).where(Paper.exam_id == exam_id)).first()
    return paper.multiple_rule if paper else "all_or_nothing"


def _upload(files: dict, qid: int, answer) -> AnswerFile | None:
    """The file an upload answer names (by sha256), else the newest file for that item."""
    if isinstance(answer, dict):
        named = files.get((qid, answer.get("sha256") or answer.get("file")))
        if named is not None:
            return named
    mine = [f for (q, _h), f in files.items() if q == qid]
    return max(mine, key=lambda f: f.id) if mine and isinstance(answer, dict) else None


def sheet(session: Session, attempt: Attempt) -> list[SheetRow]:
    """Each item of the attempt in paper order with its points, grade, automatic score,
    answer and upload."""
    from bridge.services.delivery.scoring import score_item

    ids = [i["question_id"] for i in attempt.items]
    questions = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids)))}
    grades = {g.question_id: g for g in session.scalars(select(ItemGrade).where(ItemGrade.attempt_id == attempt.id))}
    current = answers.current_answers(session, attempt.id)
    files = {(f.question_id, f.sha256): f for f in session.scalars(
        select(AnswerFile).where(AnswerFile.attempt_id == attempt.id).order_by(AnswerFile.id))}
    rule = _multiple_rule(session, attempt.exam_id)
    rows = []
    for n, item in enumerate(attempt.items, 1):
        qid = item["question_id"]
        answer = current.get(qid)
        q = questions.get(qid)
        if q is None:
            continue
        auto = score_item(q, item["points"], answer, multiple_rule=rule) if q.qtype in OBJECTIVE else None
        rows.append(SheetRow(n, q, item["points"], grades.get(qid), answer, _upload(files, qid, answer), auto, attempt))
    return rows


def get_file(session: Session, attempt: Attempt, file_id: int) -> AnswerFile:
    row = session.get(AnswerFile, file_id)
    if row is None or row.attempt_id != attempt.id:
        raise NotFound("That file is not one of this attempt's answers.")
    return row


def next_ungraded(attempts: list[Attempt], after: int | None = None) -> Attempt | None:
    """The next attempt (in submission order, after ``after``, wrapping round) that still has
    items to grade."""
    todo = [a for a in attempts if not a.score_complete]
    if after is not None:
        ids = [a.id for a in attempts]
        position = ids.index(after) if after in ids else -1
        later = [a for a in attempts[position + 1:] if not a.score_complete]
        todo = later + [a for a in todo if a not in later and a.id != after]
    return todo[0] if todo else None


@dataclass
class Absentee:
    user: User
    sitting: ExamSession
    status: str  # absent | not_started | in_exam


def absentees(session: Session, exam_id: int) -> list[Absentee]:
    """Candidates assigned to a session of the exam with no submitted attempt: absent
    (registered absent, never logged in, or a session that has started without them),
    still in the exam, or waiting for a session that has not started."""
    now = clock.utcnow_naive()
    latest: dict[int, Attempt] = {}
    for a in session.scalars(select(Attempt).where(Attempt.exam_id == exam_id, Attempt.status != "voided")
                             .order_by(Attempt.number)):
        latest[a.user_id] = a
    out = []
    rows = session.execute(select(SessionCandidate, ExamSession, User)
                           .join(ExamSession, ExamSession.id == SessionCandidate.session_id)
                           .join(User, User.id == SessionCandidate.user_id)
                           .where(SessionCandidate.exam_id == exam_id)
                           .order_by(ExamSession.starts_at, User.name, User.id)).all()
    for _sc, sitting, user in rows:
        attempt = latest.get(user.id)
        if attempt is not None and attempt.status == "submitted":
            continue
        if attempt is not None and attempt.status in ("logged_in", "rules_read", "in_exam", "locked"):
            status = "in_exam"
        elif (attempt is None or attempt.status == "not_logged_in") and sitting.starts_at > now:
            status = "not_started"
        else:
            status = "absent"
        out.append(Absentee(user, sitting, status))
    return out


@dataclass
class QuestionSummary:
    question: Question
    answers: int
    ungraded: int


def by_question(session: Session, attempts: list[Attempt]) -> list[QuestionSummary]:
    """Every item that appears on a submitted attempt, in paper order, with how many answers
    still wait for a teacher."""
    order: dict[int, int] = {}
    for a in attempts:
        for n, item in enumerate(a.items):
            order.setdefault(item["question_id"], n)
    if not order:
        return []
    questions = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(list(order))))}
    graded: dict[int, int] = {}
    for qid, count in session.execute(select(ItemGrade.question_id, func.count()).where(
            ItemGrade.attempt_id.in_([a.id for a in attempts])).group_by(ItemGrade.question_id)):
        graded[qid] = count
    seen: dict[int, int] = {}
    for a in attempts:
        for item in a.items:
            seen[item["question_id"]] = seen.get(item["question_id"], 0) + 1
    out = []
    for qid in sorted(order, key=lambda q: (order[q], q)):
        q = questions.get(qid)
        if q is None:
            continue
        ungraded = seen[qid] - graded.get(qid, 0) if q.qtype not in OBJECTIVE else 0
        out.append(QuestionSummary(q, seen[qid], max(0, ungraded)))
    return out


def question_rows(session: Session, attempts: list[Attempt], question_id: int) -> list[SheetRow]:
    """One item across every submitted attempt that holds it: each candidate's answer,
    automatic score and points."""
    rows = []
    for a in attempts:
        if any(i["question_id"] == question_id for i in a.items):
            rows += [r for r in sheet(session, a) if r.question.id == question_id]
    if not rows:
        raise NotFound("No submitted attempt has that item.")
    return rows


def release_counts(attempts: list[Attempt]) -> tuple[int, int]:
    """(fully graded, still needing grading) among submitted attempts."""
    done = sum(1 for a in attempts if a.score_complete)
    return done, len(attempts) - done
