"""The proctor console's flow through a sitting (seed 001 §二): entering the session, allow
login, allow start, remote control of the exam PCs, the end of the exam, re-exam init and
single-machine collection. The board, incidents, resumes, records and mock acts are the
other modules of this package.

A sitting's state (DESIGN "States", ``bridge.services.exams.sitting_state``) is derived on
read: scheduled → login allowed → start allowed (the countdown) → in progress (from the
room's start) → ended → uploaded. ``room_start`` is the session's start time, or a later one
when the proctor allowed the start late with a delay authorization code: the candidates'
deadline runs from it.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Forbidden, Invalid, InvalidState
from bridge.i18n import N_
from bridge.models.attempts import Attempt, AttemptLog
from bridge.models.devices import Kiosk
from bridge.models.papers import SessionCandidate
from bridge.models.sittings import Sitting
from bridge.models.venues import Seat
from bridge.services import audit
from bridge.services.exams.sitting_state import login_open, room_start
from bridge.services.proctoring import authcodes
from bridge.services.proctoring.boards import SeatState, board
from bridge.services.proctoring.basics import DONE, START_GRACE, START_OPENS, _attempt_here, _clean, _session_exam, sitting_of


def enter(session: Session, sitting_id: int, *, admin_name: str, admin_phone: str, proctors: list[dict],
          actor: str = "") -> Sitting:
    """P1: who runs the room. The room's system admin and at least one proctor, each with a phone."""
    sitting = sitting_of(session, sitting_id, actor)
    admin = {"name": _clean(admin_name, 100), "phone": _clean(admin_phone, 30)}
    people = [{"name": _clean(p.get("name"), 100), "phone": _clean(p.get("phone"), 30)} for p in proctors
              if _clean(p.get("name"), 100)]
    if not admin["name"] or not admin["phone"]:
        raise Invalid(N_("Give the room's system admin's name and phone."))
    if not people or any(not p["phone"] for p in people):
        raise Invalid(N_("Give at least one proctor, each with a phone."))
    before = dict(sitting.staff or {})
    sitting.staff = {"admin": admin, "proctors": people}
    sitting.console_entered_at = sitting.console_entered_at or clock.utcnow_naive()
    session.flush()
    audit.record(session, "console.enter", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"before": before, "after": sitting.staff})
    return sitting


def allow_login(session: Session, sitting_id: int, *, actor: str = "") -> Sitting:
    sitting = sitting_of(session, sitting_id, actor)
    if sitting.ended_at:
        raise InvalidState(N_("This sitting has ended."))
    if sitting.authorized_at is None:
        raise InvalidState(N_("The session is not authorized at this site yet."))
    if sitting.login_allowed_at is None:
        sitting.login_allowed_at = clock.utcnow_naive()
        session.flush()
        audit.record(session, "console.allow_login", actor=actor, target=f"sitting:{sitting.id}")
    return sitting


def allow_start(session: Session, sitting_id: int, *, secret_key: str, request_id: int | None = None,
                code: str | None = None, actor: str = "") -> Sitting:
    """P2: the countdown to the start. From ``START_OPENS`` before the start; later than
    ``START_GRACE`` after it, only with a delay authorization code (the room then starts now)."""
    sitting = sitting_of(session, sitting_id, actor)
    sess, exam, _paper = _session_exam(session, sitting)
    now = clock.utcnow_naive()
    if sitting.start_allowed_at is not None:
        return sitting
    if sitting.ended_at:
        raise InvalidState(N_("This sitting has ended."))
    if sitting.authorized_at is None:
        raise InvalidState(N_("The session is not authorized at this site yet."))
    if not login_open(sitting, sess, now):
        raise InvalidState(N_("Allow the login first."))
    if now < sess.starts_at - START_OPENS:
        raise InvalidState(N_("The start can be allowed from %(at)s."),
                           params={"at": f"{sess.starts_at - START_OPENS:%H:%M}"})
    delayed = now > sess.starts_at + START_GRACE
    if delayed:
        if request_id is None:
            raise Forbidden(N_("The start time has passed: a delay authorization code is needed."))
        authcodes.use(session, request_id, code, action="delay_start", room_id=sitting.room_id, session_id=sess.id,
                      candidates=[], parameter=0, secret_key=secret_key, actor=actor)
    sitting.login_allowed_at = sitting.login_allowed_at or now
    sitting.start_allowed_at = now
    session.flush()
    audit.record(session, "console.allow_start", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"delayed": delayed, "room_start": room_start(sitting, sess).isoformat()})
    return sitting


def end_blockers(session: Session, sitting_id: int, *, actor: str = "") -> list[SeatState]:
    return [s for s in board(session, sitting_id, actor=actor).seats if s.status not in DONE]


def end_exam(session: Session, sitting_id: int, *, actor: str = "") -> Sitting:
    """P10 (the caller has re-authenticated the room's system admin): only when every
    candidate is submitted or registered absent."""
    sitting = sitting_of(session, sitting_id, actor)
    if sitting.ended_at is not None:
        return sitting
    blockers = end_blockers(session, sitting.id)
    if blockers:
        raise InvalidState(N_("%(count)s candidate(s) are neither submitted nor registered absent."),
                           params={"count": len(blockers)})
    sitting.ended_at, sitting.ended_by = clock.utcnow_naive(), actor[:255]
    session.flush()
    audit.record(session, "console.end", actor=actor, target=f"sitting:{sitting.id}")
    return sitting


# --- remote control (P13) and the sitting's audit trail (P16) ------------------------------
REMOTE_ACTIONS = ("start_client", "close_client", "restart", "shutdown")


def remote(session: Session, sitting_id: int, seat_numbers: Iterable[int] | None, action: str, *,
           actor: str = "") -> list[int]:
    """Start or close the candidate client (the agent opens the bridge it is enrolled with),
    restart or shut down the room's exam PCs: the chosen seats, or every seated PC
    (``seat_numbers`` None). Returns the command ids for the hub."""
    from bridge.services.kiosks import kiosk_commands

    sitting = sitting_of(session, sitting_id, actor)
    if action not in REMOTE_ACTIONS:
        raise Invalid(N_("Unknown remote action."))
    query = select(Seat.kiosk_id).join(Kiosk, Kiosk.id == Seat.kiosk_id).where(
        Seat.room_id == sitting.room_id, Kiosk.status == "seated")
    if seat_numbers is not None:
        numbers = [n for n in seat_numbers if type(n) is int]
        if not numbers:
            raise Invalid(N_("Choose the seats first."))
        query = query.where(Seat.number.in_(numbers))
    kiosks = list(session.scalars(query))
    if not kiosks:
        raise InvalidState(N_("No exam PC is seated at the chosen seats."))
    ids = kiosk_commands.issue(session, kiosks, action, issued_by=actor)
    audit.record(session, "console.remote", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"action": action, "kiosks": kiosks})
    return ids


# --- re-exam init (P8) ----------------------------------------------------------------------
def re_exam(session: Session, sitting_id: int, attempt_id: int, *, understood: bool, confirmed: bool,
            request_id: int | None, code: str | None, secret_key: str, actor: str = "") -> Attempt:
    """Re-exam (重考初始化): destructive. The proctor ticks "I understand", gives a re-exam
    authorization code (valid an hour) and confirms again. The candidate's attempt is voided
    (its answers stay in the answer log and the audit trail, never in the new attempt) and a
    fresh attempt opens: the candidate logs in again and starts from an empty paper."""
    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    sess, exam, _paper = _session_exam(session, sitting)
    if not understood:
        raise Invalid(N_("Tick \"I understand\": a re-exam clears this candidate's answers in this subject."))
    if not confirmed:
        raise Invalid(N_("Confirm the re-exam a second time."))
    if attempt.status in ("not_logged_in", "absent", "voided"):
        raise InvalidState(N_("This candidate has nothing to re-examine."))
    if sitting.ended_at is not None:
        raise InvalidState(N_("This sitting has ended."))
    number = session.scalar(select(SessionCandidate.admission_number).where(
        SessionCandidate.session_id == sess.id, SessionCandidate.user_id == attempt.user_id)) or ""
    if request_id is None:
        raise Forbidden(N_("A re-exam needs a re-exam authorization code."))
    authcodes.use(session, request_id, code, action="re_exam", room_id=sitting.room_id, session_id=sess.id,
                  candidates=[number], parameter=0, secret_key=secret_key, actor=actor)
    from bridge.models.attempts import AnswerEvent

    answered = session.scalar(select(func.count()).select_from(AnswerEvent).where(AnswerEvent.attempt_id == attempt.id))
    before = {"attempt": attempt.id, "number": attempt.number, "status": attempt.status, "score": attempt.score,
              "answer_events": answered or 0}
    attempt.status = "voided"
    session.add(AttemptLog(attempt_id=attempt.id, action="re_exam", actor=actor[:100], detail=before))
    fresh = Attempt(exam_id=exam.id, session_id=sess.id, user_id=attempt.user_id, number=attempt.number + 1,
                    status="not_logged_in")
    session.add(fresh)
    session.flush()
    audit.record(session, "console.re_exam", actor=actor, target=f"attempt:{attempt.id}",
                 detail={**before, "new_attempt": fresh.id, "admission_number": number})
    return fresh


# --- single-machine collection (P6) -------------------------------------------------------
def collect(session: Session, sitting_id: int, attempt_id: int, *, actor: str = "") -> Attempt:
    """单机收卷: submit a candidate's attempt from the answer pack imported for it (the PC could
    not hand it in). At a formal site only once early submission is allowed (the paper's
    ``early_submit_minutes`` after the room's start)."""
    from bridge.models.packs import PackImport
    from bridge.models.venues import Site
    from bridge.services.delivery import attempts as attempts_

    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    sess, _exam, paper = _session_exam(session, sitting)
    if attempt.status not in ("in_exam", "locked"):
        raise InvalidState(N_("Only a candidate in the exam can be collected."))
    if session.scalar(select(PackImport.id).where(PackImport.attempt_id == attempt.id).limit(1)) is None:
        raise InvalidState(N_("Import the candidate's answer pack first."))
    site = session.get(Site, sitting.site_id) if sitting.site_id else None
    opens = room_start(sitting, sess) + dt.timedelta(minutes=paper.early_submit_minutes if paper else 0)
    if site is not None and site.mode == "formal" and clock.utcnow_naive() < opens:
        raise InvalidState(N_("At a formal exam a candidate can be collected from %(at)s, when early submission "
                              "is allowed."), params={"at": f"{opens:%H:%M}"})
    attempts_.submit(session, attempt, reason="proctor", actor=actor)
    session.add(AttemptLog(attempt_id=attempt.id, action="collected_from_pack", actor=actor[:100]))
    session.flush()
    audit.record(session, "console.collect", actor=actor, target=f"attempt:{attempt.id}")
    return attempt


