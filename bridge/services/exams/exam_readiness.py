"""An exam's readiness as its teacher sees it: paper, sessions, candidates, proctor,
placement, grading and release, each with its state, and the one next step.

Read only. The gradebook deliveries belong to the LMS plugin, which core never imports: the
caller passes their counts in (``deliveries``: {status: n}).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.models.attempts import Attempt
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, Paper, PaperItem, SessionCandidate
from bridge.models.sittings import Sitting
from bridge.models.users import CourseMember

# the checklist's rows, in the order an exam is prepared and run
STEPS = ("paper", "sessions", "candidates", "proctor", "placement", "grading", "release")
OK, TODO, WAIT, WARN = "ok", "todo", "wait", "warn"  # a row's state


@dataclass
class Row:
    key: str
    state: str
    facts: dict = field(default_factory=dict)


@dataclass
class Readiness:
    rows: list[Row]
    next_step: str  # a key of STEPS, or "wait" (before the sessions), "delivering" or "done"
    facts: dict = field(default_factory=dict)

    def row(self, key: str) -> Row:
        return next(r for r in self.rows if r.key == key)


def session_end(sitting: ExamSession, exam: Exam) -> dt.datetime:
    """When the session's time is up (its start plus the exam's duration)."""
    return sitting.starts_at + dt.timedelta(minutes=exam.duration_minutes)


def _paper(session: Session, exam: Exam) -> Row:
    paper = session.scalars(select(Paper).where(Paper.exam_id == exam.id)).first()
    items, points = 0, 0.0
    if paper is not None and paper.mode == "draw":
        for d in paper.draws or []:
            items += int(d.get("count") or 0)
            points += int(d.get("count") or 0) * float(d.get("points") or 0)
    elif paper is not None:
        n, total = session.execute(select(func.count(), func.coalesce(func.sum(PaperItem.points), 0.0))
                                   .where(PaperItem.paper_id == paper.id)).one()
        items, points = int(n), float(total)
    remote = bool(paper and paper.remote_allowed)
    return Row("paper", OK if items else TODO, {"items": items, "points": points,
                                                "mode": paper.mode if paper else "fixed", "remote_allowed": remote,
                                                "released": bool(paper and paper.scores_released)})


def build(session: Session, exam: Exam, *, now: dt.datetime, deliveries: Mapping[str, int] | None = None) -> Readiness:
    """The checklist of ``exam`` at ``now`` (naive UTC)."""
    deliveries = dict(deliveries or {})
    paper = _paper(session, exam)
    sittings = list(session.scalars(select(ExamSession).where(ExamSession.exam_id == exam.id)
                                    .order_by(ExamSession.starts_at, ExamSession.id)))
    upcoming = [s for s in sittings if s.starts_at > now]
    running = [s for s in sittings if s.starts_at <= now < session_end(s, exam)]
    sessions_row = Row("sessions", OK if sittings else TODO, {
        "count": len(sittings), "next": upcoming[0] if upcoming else None, "running": running,
        "last_end": max((session_end(s, exam) for s in sittings), default=None)})

    members = [m for m in session.scalars(select(CourseMember).where(
        CourseMember.course_id == exam.course_id, CourseMember.active.is_(True)))]
    candidates = {m.user_id for m in members if m.role == "candidate" and not m.is_proctor}
    assigned = set(session.scalars(select(SessionCandidate.user_id).where(SessionCandidate.exam_id == exam.id)))
    unassigned = candidates - assigned
    cand_state = TODO if not assigned else (WARN if unassigned else OK)
    cand_row = Row("candidates", cand_state, {"assigned": len(assigned), "unassigned": len(unassigned),
                                              "course": len(candidates)})
    proctors = [m for m in members if m.is_proctor]
    proctor_row = Row("proctor", OK if proctors else TODO,
                      {"count": len(proctors), "names": [m.user.display_name for m in proctors[:3]]})

    placed_ids = set(session.scalars(select(Sitting.session_id).join(ExamSession, ExamSession.id == Sitting.session_id)
                                     .where(ExamSession.exam_id == exam.id)))
    placed = [s for s in sittings if s.id in placed_ids]
    remote = [s for s in sittings if s.id not in placed_ids and s.exam_code]
    unplaced = [s for s in sittings if s.id not in placed_ids and not s.exam_code]
    remote_blocked = bool(remote) and not paper.facts["remote_allowed"]
    placement_state = TODO if not sittings or unplaced else (WARN if remote_blocked else OK)
    placement_row = Row("placement", placement_state, {"placed": len(placed), "remote": len(remote),
                                                       "unplaced": len(unplaced), "remote_blocked": remote_blocked})

    counts = dict(session.execute(select(Attempt.score_complete, func.count()).where(
        Attempt.exam_id == exam.id, Attempt.status == "submitted").group_by(Attempt.score_complete)).all())
    submitted, ungraded = sum(counts.values()), counts.get(False, 0)
    grading_row = Row("grading", WAIT if not submitted else (TODO if ungraded else OK),
                      {"submitted": submitted, "ungraded": ungraded})

    delivered, waiting, failed = (deliveries.get("sent", 0), deliveries.get("pending", 0),
                                  deliveries.get("failed", 0))
    released = paper.facts["released"]
    graded = submitted - ungraded
    if not submitted:
        release_state = WAIT
    elif failed:
        release_state = WARN
    elif not released or delivered + waiting < graded:
        release_state = TODO
    else:
        release_state = OK if not waiting else WAIT
    release_row = Row("release", release_state, {"released": released, "delivered": delivered,
                                                 "waiting": waiting, "failed": failed, "graded": graded})

    rows = [paper, sessions_row, cand_row, proctor_row, placement_row, grading_row, release_row]
    return Readiness(rows, _next_step(rows, submitted), {"now": now})


def _next_step(rows: list[Row], submitted: int) -> str:
    by = {r.key: r for r in rows}
    for key in ("paper", "sessions"):
        if by[key].state != OK:
            return key
    if by["candidates"].state == TODO:
        return "candidates"
    if not submitted:  # before the exam: the rest of the preparation
        for key in ("candidates", "proctor", "placement"):
            if by[key].state != OK:
                return key
        return "wait"
    if by["grading"].state == TODO:
        return "grading"
    if by["release"].state in (TODO, WARN):
        return "release"
    if by["release"].facts["waiting"]:  # released, not all in the gradebook yet
        return "delivering"
    return "done"
