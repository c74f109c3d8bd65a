"""Breakpoint resume (P4): a candidate moves to another exam PC, the attempt's epoch goes up so
the old seat is fenced, the lost time is recorded; and the room's resume log."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Forbidden, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt, AttemptLog
from bridge.models.devices import Kiosk
from bridge.exports import csv_export
from bridge.services import audit
from bridge.services.exams.sitting_state import login_open
from bridge.services.proctoring import authcodes
from bridge.services.proctoring.boards import board
from bridge.services.proctoring.basics import _clean, _kiosks_of, _session_exam, sitting_of


# --- breakpoint resume (P4), screen lock and the candidate log (P7) -------------------------
RESUME_REASONS = ("pc_failure", "power_cut", "network", "client_crash", "late_arrival", "other")
RESUMABLE = ("not_logged_in", "logged_in", "rules_read", "in_exam", "locked")


@dataclass(frozen=True)
class Resumed:
    attempt_ids: list[int]
    lost_seconds: dict[int, int]
    close_on: list[int]  # kiosks whose candidate client is forced out (commands, once committed)


def resume(session: Session, sitting_id: int, user_ids: Iterable[int], *, reason: str, description: str,
           secret_key: str, request_id: int | None = None, code: str | None = None, actor: str = "") -> Resumed:
    """Breakpoint resume (断点续考), one candidate or many: the candidate continues on any
    seat with every answer the bridge holds. The attempt's epoch goes up, so the old seat's
    client is fenced (its writes are refused) and told to close; the time lost is recorded
    (the deadline stays: extra time is a separate act). A candidate arriving after the late
    login cutoff of a formal site needs a late-resume authorization code."""
    from bridge.models.venues import Site
    from bridge.services.kiosks import kiosk_commands

    sitting = sitting_of(session, sitting_id, actor)
    sess, exam, _paper = _session_exam(session, sitting)
    if reason not in RESUME_REASONS:
        raise Invalid(N_("Choose the reason of the resume from the list."))
    text = _clean(description, 200)
    if len(str(description or "").strip()) > 200:
        raise Invalid(N_("Describe the resume in at most 200 characters."))
    now = clock.utcnow_naive()
    current = board(session, sitting.id)
    if sitting.ended_at or not login_open(sitting, sess, now):
        raise InvalidState(N_("Resume is possible once the login is allowed and until the exam ends."))
    by_user = {s.user_id: s for s in current.seats}
    chosen = [by_user.get(u) for u in user_ids]
    if not chosen or any(s is None for s in chosen):
        raise NotFound(N_("That candidate is not in this room."))
    if any(s.status not in RESUMABLE for s in chosen):
        raise InvalidState(N_("Only candidates who have not submitted can resume."))
    late = [s for s in chosen if s.status == "not_logged_in" and now > current.late_cutoff]
    site = session.get(Site, sitting.site_id) if sitting.site_id else None
    if late and site is not None and site.mode == "formal":
        if request_id is None:
            raise Forbidden(N_("A candidate arriving after the late login cutoff needs a late-resume authorization "
                               "code (formal exam)."))
        authcodes.use(session, request_id, code, action="late_resume", room_id=sitting.room_id, session_id=sess.id,
                      candidates=[s.admission_number for s in late], parameter=0, secret_key=secret_key, actor=actor)
    early = [s for s in chosen if s.status == "not_logged_in" and s.attempt_id is None and now <= current.late_cutoff]
    if early:
        raise InvalidState(N_("A candidate who has not logged in yet can still log in as usual until %(at)s."),
                           params={"at": f"{current.late_cutoff:%H:%M}"})
    from bridge.models.attempts import AnswerEvent

    lost: dict[int, int] = {}
    ids: list[int] = []
    for s in chosen:
        attempt = session.get(Attempt, s.attempt_id) if s.attempt_id else None
        if attempt is None:  # arrived after the cutoff: the login is opened for this candidate
            number = (session.scalar(select(func.max(Attempt.number)).where(
                Attempt.exam_id == exam.id, Attempt.user_id == s.user_id)) or 0) + 1
            attempt = Attempt(exam_id=exam.id, session_id=sess.id, user_id=s.user_id, number=number,
                              status="not_logged_in")
            session.add(attempt)
            session.flush()
            lost[attempt.id] = max(0, int((now - current.room_start).total_seconds()))
        else:
            # the time lost runs from the last sign of the candidate at work: an answer or the PC's heartbeat
            signs = [session.scalar(select(func.max(AnswerEvent.server_time)).where(AnswerEvent.attempt_id == attempt.id)),
                     session.scalar(select(func.max(Kiosk.last_seen_at)).where(Kiosk.attempt_id == attempt.id)),
                     attempt.started_at]
            last = max((t for t in signs if t is not None), default=now)
            lost[attempt.id] = max(0, int((now - last).total_seconds())) if attempt.status in ("in_exam", "locked") else 0
            attempt.epoch += 1
        session.add(AttemptLog(attempt_id=attempt.id, action="breakpoint_resume", actor=actor[:100],
                               detail={"reason": reason, "description": text, "lost_seconds": lost[attempt.id],
                                       "epoch": attempt.epoch}))
        ids.append(attempt.id)
    session.flush()
    kiosks = _kiosks_of(session, ids)
    commands = kiosk_commands.issue(session, list(kiosks.values()), "close_client", issued_by=actor) if kiosks else []
    audit.record(session, "console.resume", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"attempts": ids, "reason": reason, "description": text, "lost_seconds": lost,
                         "late": [s.admission_number for s in late]})
    return Resumed(ids, lost, commands)


def resume_log(session: Session, sitting_id: int, *, actor: str = "") -> list[dict[str, Any]]:
    current = board(session, sitting_id, actor=actor)
    by_attempt = {s.attempt_id: s for s in current.seats if s.attempt_id}
    rows = session.scalars(select(AttemptLog).where(AttemptLog.attempt_id.in_(list(by_attempt)),
                                                    AttemptLog.action == "breakpoint_resume")
                           .order_by(AttemptLog.at, AttemptLog.id)) if by_attempt else []
    return [{"at": r.at, "admission_number": by_attempt[r.attempt_id].admission_number,
             "name": by_attempt[r.attempt_id].name, "reason": (r.detail or {}).get("reason", ""),
             "description": (r.detail or {}).get("description", ""),
             "lost_seconds": (r.detail or {}).get("lost_seconds", 0), "by": r.actor} for r in rows]


def resume_log_csv(session: Session, sitting_id: int, *, actor: str = "") -> str:
    return csv_export.text([["time", "admission_number", "name", "reason", "description", "lost_seconds", "by"]] + [
        [r["at"], r["admission_number"], r["name"], r["reason"], r["description"], r["lost_seconds"], r["by"]]
        for r in resume_log(session, sitting_id, actor=actor)])
