"""After the exam: a candidate's log (P7), the room record (P11), the verification table, the
results export and backup, the upload in batches (P12), and the sitting's audit trail (P16)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import InvalidState
from bridge.i18n import N_
from bridge.models.attempts import Attempt, AttemptLog
from bridge.models.papers import SessionCandidate
from bridge.exports import csv_export
from bridge.services import audit
from bridge.services.proctoring.boards import board
from bridge.services.proctoring.incidents import violations
from bridge.services.proctoring.basics import DONE, LOGGED_IN, _attempt_here, _session_exam, json_text, sitting_of


def candidate_log(session: Session, sitting_id: int, attempt_id: int, *, actor: str = "") -> list[dict[str, Any]]:
    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    return [{"at": row.at, "address": row.address, "action": row.action, "actor": row.actor, "detail": row.detail}
            for row in session.scalars(select(AttemptLog).where(AttemptLog.attempt_id == attempt.id)
                                       .order_by(AttemptLog.at, AttemptLog.id))]


def candidate_log_csv(session: Session, sitting_id: int, attempt_id: int, *, actor: str = "") -> str:
    return csv_export.text([["time", "address", "action", "actor", "detail"]] + [
        [row["at"], row["address"], row["action"], row["actor"], json_text(row["detail"])]
        for row in candidate_log(session, sitting_id, attempt_id, actor=actor)])


# --- the room record (P11) and after the exam (P12) ---------------------------------------
def _extra_times(session: Session, attempt_ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    if attempt_ids:
        for row in session.scalars(select(AttemptLog).where(AttemptLog.attempt_id.in_(attempt_ids),
                                                            AttemptLog.action == "extra_time").order_by(AttemptLog.at)):
            out.setdefault(row.attempt_id, []).append({"at": row.at, **(row.detail or {})})
    return out


def record(session: Session, sitting_id: int, *, actor: str = "") -> dict[str, Any]:
    """The room record (考场情况记录单): the sitting, who ran it, the totals, and the lists of
    absences, violations and extra time."""
    from bridge.models.venues import Site

    sitting = sitting_of(session, sitting_id, actor)
    sess, exam, _paper = _session_exam(session, sitting)
    current = board(session, sitting.id)
    site = session.get(Site, sitting.site_id) if sitting.site_id else None
    extra = _extra_times(session, [s.attempt_id for s in current.seats if s.attempt_id])
    return {"board": current, "exam": exam, "site": site, "session": sess,
            "ends_at": current.room_start + dt.timedelta(minutes=exam.duration_minutes),
            "present": sum(s.status in LOGGED_IN for s in current.seats),
            "absent": [s for s in current.seats if s.status == "absent"],
            "violations": violations(session, sitting.id),
            "extra": [(s, extra.get(s.attempt_id, [])) for s in current.seats if s.extra_seconds]}


@dataclass(frozen=True)
class CheckRow:
    seat: int
    admission_number: str
    name: str
    status: str
    progress: Optional[int]  # % of the items answered
    pack: str                # valid | none
    collected: bool
    violation: bool
    score: Optional[float]


def verification(session: Session, sitting_id: int, *, actor: str = "") -> dict[str, Any]:
    """P12's verification table (校验结果列表) and its totals."""
    from bridge.models.attempts import AnswerEvent
    from bridge.models.packs import PackImport

    current = board(session, sitting_id, actor=actor)
    ids = [s.attempt_id for s in current.seats if s.attempt_id]
    answered = dict(session.execute(select(AnswerEvent.attempt_id, func.count(func.distinct(AnswerEvent.question_id)))
                                    .where(AnswerEvent.attempt_id.in_(ids), AnswerEvent.status == "applied")
                                    .group_by(AnswerEvent.attempt_id)).all()) if ids else {}
    packed = set(session.scalars(select(PackImport.attempt_id).where(PackImport.attempt_id.in_(ids)))) if ids else set()
    attempts_ = {a.id: a for a in session.scalars(select(Attempt).where(Attempt.id.in_(ids)))} if ids else {}
    rows = []
    for s in current.seats:
        a = attempts_.get(s.attempt_id)
        items = len(a.items or []) if a else 0
        progress = None if not a or s.status == "absent" or not items else round(100 * answered.get(a.id, 0) / items)
        rows.append(CheckRow(s.seat, s.admission_number, s.name, s.status, progress,
                             "valid" if s.attempt_id in packed else "none", s.status in DONE, "violation" in s.flags,
                             a.score if a else None))
    totals = {"total": len(rows), "sat": sum(r.status == "submitted" for r in rows),
              "absent": sum(r.status == "absent" for r in rows), "collected": sum(r.collected for r in rows),
              "not_collected": sum(not r.collected for r in rows), "extra_time": current.counts["extra_time"],
              "violation": sum(r.violation for r in rows)}
    return {"board": current, "rows": rows, "totals": totals}


def results_table(session: Session, sitting_id: int, *, actor: str = "") -> list[list[Any]]:
    table = verification(session, sitting_id, actor=actor)
    head = ["seat", "admission_number", "name", "status", "progress_percent", "pack", "collected", "violation", "score"]
    return [head] + [[r.seat, r.admission_number, r.name, r.status, r.progress, r.pack, r.collected, r.violation,
                      r.score] for r in table["rows"]]


def results_backup(session: Session, sitting_id: int, *, secret_key: str, actor: str = "") -> bytes:
    """The room's results as a signed file, to keep on external storage before the upload
    (seed 001 §三: backup first, then report): every candidate's status, score, extra time
    and the heads of their answer chains (what the bridge holds)."""
    from bridge.models.attempts import AnswerHead
    from bridge.services import signing

    sitting = sitting_of(session, sitting_id, actor)
    if sitting.ended_at is None:
        raise InvalidState(N_("End the exam first."))
    table = verification(session, sitting.id)
    ids = [s.attempt_id for s in table["board"].seats if s.attempt_id]
    heads: dict[int, dict[str, list]] = {}
    for h in session.scalars(select(AnswerHead).where(AnswerHead.attempt_id.in_(ids))) if ids else []:
        heads.setdefault(h.attempt_id, {})[h.writer] = [h.max_seq, h.head]
    by_number = {s.admission_number: s for s in table["board"].seats}
    payload = {"sitting_id": sitting.id, "room": table["board"].room_code, "session_id": sitting.session_id,
               "made_at": clock.utcnow_naive().replace(microsecond=0).isoformat(), "totals": table["totals"],
               "candidates": [{"seat": r.seat, "admission_number": r.admission_number, "status": r.status,
                               "score": r.score, "progress": r.progress, "violation": r.violation,
                               "extra_seconds": by_number[r.admission_number].extra_seconds,
                               "heads": heads.get(by_number[r.admission_number].attempt_id, {})}
                              for r in table["rows"]]}
    sitting.backed_up_at = clock.utcnow_naive()
    session.flush()
    audit.record(session, "console.backup", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"candidates": len(payload["candidates"])})
    return signing.dumps(signing.sign(secret_key, sitting.site_id or "", "room-results", payload))


UPLOAD_BATCH = 20


def upload_step(session: Session, sitting_id: int, *, batch: int = UPLOAD_BATCH, actor: str = "") -> dict[str, int]:
    """One step of the upload (上报): the next ``batch`` submitted attempts of the room are
    scored and counted in; when none is left the sitting is uploaded. Every step is its own
    unit of work, so an upload cut off resumes where it stopped. Only after the backup."""
    from bridge.services.delivery import scoring

    sitting = sitting_of(session, sitting_id, actor)
    if sitting.ended_at is None:
        raise InvalidState(N_("End the exam first."))
    if sitting.backed_up_at is None:
        raise InvalidState(N_("Back the results up to external storage first, then upload."))
    current = board(session, sitting.id)
    ids = [s.attempt_id for s in current.seats if s.status == "submitted"]
    pending = list(session.scalars(select(Attempt).where(Attempt.id.in_(ids), Attempt.score.is_(None))
                                   .order_by(Attempt.id).limit(batch))) if ids else []
    for attempt in pending:
        scoring.score_attempt(session, attempt)
    left = session.scalar(select(func.count()).select_from(Attempt).where(Attempt.id.in_(ids),
                                                                         Attempt.score.is_(None))) if ids else 0
    total = len(current.seats)
    if not left and sitting.uploaded_at is None:
        sitting.uploaded_at = clock.utcnow_naive()
        audit.record(session, "console.upload", actor=actor, target=f"sitting:{sitting.id}",
                     detail={"candidates": total, "submitted": len(ids)})
    session.flush()
    return {"total": total, "done": total - (left or 0), "left": left or 0, "uploaded": sitting.uploaded_at is not None}


def audit_trail(session: Session, sitting_id: int, *, actor: str = "") -> list[Any]:
    """Every audit entry about this sitting or its candidates' attempts, oldest first."""
    from bridge.models.audit import AuditEntry

    from bridge.models.authcodes import AuthRequest

    sitting = sitting_of(session, sitting_id, actor)
    users = select(SessionCandidate.user_id).where(SessionCandidate.session_id == sitting.session_id,
                                                   SessionCandidate.room_id == sitting.room_id)
    ids = list(session.scalars(select(Attempt.id).where(Attempt.session_id == sitting.session_id,
                                                        Attempt.user_id.in_(users))))  # voided ones too
    requests_ = list(session.scalars(select(AuthRequest.id).where(AuthRequest.room_id == sitting.room_id,
                                                                  AuthRequest.session_id == sitting.session_id)))
    targets = ([f"sitting:{sitting.id}"] + [f"attempt:{i}" for i in ids] + [f"request:{i}" for i in requests_])
    return list(session.scalars(select(AuditEntry).where(AuditEntry.target.in_(targets)).order_by(AuditEntry.id)))


def audit_csv(session: Session, sitting_id: int, *, actor: str = "") -> str:
    return csv_export.text([["id", "at", "actor", "address", "action", "target", "outcome", "detail", "hash"]] + [
        [e.id, e.at, e.actor, e.remote_addr, e.action, e.target, e.outcome, json_text(e.detail), e.hash]
        for e in audit_trail(session, sitting_id, actor=actor)])
