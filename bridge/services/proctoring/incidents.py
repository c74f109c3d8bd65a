"""What happens to candidates during the exam: violations and their catalogue (P3), extra time
(P5), absence (P9), and locking or unlocking a candidate's screen."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Forbidden, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt, AttemptLog
from bridge.models.papers import SessionCandidate
from bridge.models.sittings import Violation, ViolationCode
from bridge.models.users import User
from bridge.exports import csv_export
from bridge.services import audit
from bridge.services.people import access
from bridge.services.proctoring import authcodes
from bridge.services.proctoring.boards import board
from bridge.services.proctoring.basics import (DEFAULT_VIOLATIONS, FREE_EXTRA_SECONDS, _attempt_here, _clean, _kiosks_of,
                                             _session_exam, sitting_of)


# --- violations (P3) ----------------------------------------------------------------------
def catalogue(session: Session) -> list[ViolationCode]:
    rows = list(session.scalars(select(ViolationCode).order_by(ViolationCode.code)))
    if not rows:  # first use: the default list, editable afterwards
        rows = [ViolationCode(code=c, text=t, active=True) for c, t in DEFAULT_VIOLATIONS]
        session.add_all(rows)
        session.flush()
    return rows


def register_violation(session: Session, sitting_id: int, attempt_id: int, *, code: str, description: str,
                       actor: str = "") -> Violation:
    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    entry = next((c for c in catalogue(session) if c.code == (code or "").strip() and c.active), None)
    if entry is None:
        raise Invalid(N_("Choose a violation code from the catalogue."))
    text = _clean(description, 500)
    if not text:
        raise Invalid(N_("Describe what happened."))
    row = Violation(site_id=sitting.site_id, sitting_id=sitting.id, attempt_id=attempt.id, code=entry.code,
                    code_text=entry.text, description=text, registered_by=actor[:255],
                    registered_at=clock.utcnow_naive())
    session.add(row)
    session.flush()
    audit.record(session, "console.violation", actor=actor, target=f"attempt:{attempt.id}",
                 detail={"violation": row.id, "code": entry.code, "description": text})
    return row


def cancel_violation(session: Session, sitting_id: int, violation_id: int, *, reason: str, actor: str = "") -> None:
    sitting = sitting_of(session, sitting_id, actor)
    row = session.get(Violation, violation_id) if type(violation_id) is int else None
    if row is None or row.sitting_id != sitting.id:
        raise NotFound(N_("That violation is not registered in this room."))
    if row.cancelled_at is not None:
        raise InvalidState(N_("This violation was cancelled already."))
    reason = _clean(reason, 300)
    if not reason:
        raise Invalid(N_("Say why the violation is cancelled."))
    row.cancelled_at, row.cancelled_by, row.cancel_reason = clock.utcnow_naive(), actor[:255], reason
    session.flush()
    audit.record(session, "console.violation_cancel", actor=actor, target=f"attempt:{row.attempt_id}",
                 detail={"violation": row.id, "reason": reason})


def violations(session: Session, sitting_id: int, *, include_cancelled: bool = False, actor: str = "") -> list[dict[str, Any]]:
    query = (select(Violation, SessionCandidate.admission_number, User.name)
             .join(Attempt, Attempt.id == Violation.attempt_id).join(User, User.id == Attempt.user_id)
             .join(SessionCandidate, (SessionCandidate.session_id == Attempt.session_id)
                   & (SessionCandidate.user_id == Attempt.user_id))
             .where(Violation.sitting_id == sitting_id).order_by(Violation.registered_at, Violation.id))
    sitting_of(session, sitting_id, actor)
    if not include_cancelled:
        query = query.where(Violation.cancelled_at.is_(None))
    return [{"id": v.id, "admission_number": number or "", "name": name, "code": v.code, "code_text": v.code_text,
             "description": v.description, "at": v.registered_at, "by": v.registered_by,
             "cancelled_at": v.cancelled_at, "cancel_reason": v.cancel_reason}
            for v, number, name in session.execute(query)]


def violations_csv(session: Session, sitting_id: int, *, actor: str = "") -> str:
    header = ["admission_number", "name", "code", "code_text", "description", "registered_at", "registered_by"]
    return csv_export.text([header] + [[v["admission_number"], v["name"], v["code"], v["code_text"], v["description"],
                                        v["at"], v["by"]] for v in violations(session, sitting_id, actor=actor)])


# --- extra time (P5) ----------------------------------------------------------------------
def extra_time(session: Session, sitting_id: int, attempt_id: int, *, seconds: int, reason: str, secret_key: str,
               request_id: int | None = None, code: str | None = None, actor: str = "",
               free_seconds: int = FREE_EXTRA_SECONDS) -> int:
    """Add ``seconds`` to a candidate in the exam. Up to ``free_seconds`` cumulative (the
    ``FREE_EXTRA_SECONDS`` setting) without a code, beyond with an extra-time code; never
    more, in all, than the exam's duration. Returns the seconds actually added."""
    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id, lock=True)
    sess, exam, _paper = _session_exam(session, sitting)
    if type(seconds) is not int or seconds <= 0:
        raise Invalid(N_("Give the extra time as a whole number of seconds."))
    reason = _clean(reason, 200)
    if not reason:
        raise Invalid(N_("Give the reason for the extra time."))
    if attempt.status != "in_exam":
        raise InvalidState(N_("Extra time is for a candidate who is online and in the exam."))
    cap = exam.duration_minutes * 60
    if attempt.extra_seconds >= cap:
        raise InvalidState(N_("This candidate has had extra time up to the exam's duration already."))
    added = min(seconds, cap - attempt.extra_seconds)
    if attempt.extra_seconds + added > free_seconds:
        if request_id is None:
            raise Forbidden(N_("More than %(free)s s of extra time in all needs an extra-time authorization code."),
                            params={"free": free_seconds})
        number = session.scalar(select(SessionCandidate.admission_number).where(
            SessionCandidate.session_id == sess.id, SessionCandidate.user_id == attempt.user_id)) or ""
        authcodes.use(session, request_id, code, action="extra_time", room_id=sitting.room_id, session_id=sess.id,
                      candidates=[number], parameter=seconds, secret_key=secret_key, actor=actor)
    attempt.extra_seconds += added
    if attempt.deadline_at is not None:
        attempt.deadline_at += dt.timedelta(seconds=added)
    session.add(AttemptLog(attempt_id=attempt.id, action="extra_time", actor=actor[:100],
                           detail={"asked": seconds, "added": added, "total": attempt.extra_seconds, "reason": reason}))
    session.flush()
    audit.record(session, "console.extra_time", actor=actor, target=f"attempt:{attempt.id}",
                 detail={"asked": seconds, "added": added, "total": attempt.extra_seconds, "reason": reason})
    return added


# --- absence (P9) and the end (P10) -------------------------------------------------------
def register_absent(session: Session, sitting_id: int, user_ids: Iterable[int], *, actor: str = "") -> int:
    """Candidates who never logged in, once the late cutoff has passed."""
    sitting = sitting_of(session, sitting_id, actor)
    current = board(session, sitting.id)
    if clock.utcnow_naive() < current.late_cutoff:
        raise InvalidState(N_("Absence can be registered from %(at)s, when the late login closes."),
                           params={"at": f"{current.late_cutoff:%H:%M}"})
    by_user = {s.user_id: s for s in current.seats}
    chosen = [by_user.get(u) for u in user_ids]
    if not chosen or any(s is None for s in chosen):
        raise NotFound(N_("That candidate is not in this room."))
    if any(s.status != "not_logged_in" for s in chosen):
        raise InvalidState(N_("Only candidates who never logged in can be registered absent."))
    sess, exam, _paper = _session_exam(session, sitting)
    for s in chosen:
        attempt = session.get(Attempt, s.attempt_id) if s.attempt_id else None
        if attempt is None:  # never logged in: an attempt that says so
            number = (session.scalar(select(func.max(Attempt.number)).where(
                Attempt.exam_id == exam.id, Attempt.user_id == s.user_id)) or 0) + 1
            attempt = Attempt(exam_id=exam.id, session_id=sess.id, user_id=s.user_id, number=number, status="absent")
            session.add(attempt)
            session.flush()
        else:  # opened by a resume or a re-exam, and not used
            attempt.status = "absent"
        session.add(AttemptLog(attempt_id=attempt.id, action="absent", actor=actor[:100]))
    session.flush()
    audit.record(session, "console.absent", actor=actor, target=f"sitting:{sitting.id}",
                 detail={"users": [s.user_id for s in chosen], "admission_numbers": [s.admission_number for s in chosen]})
    return len(chosen)


def lock_screen(session: Session, sitting_id: int, attempt_id: int, *, message: str, actor: str = "") -> list[int]:
    """Lock a candidate's screen with a message (the kiosk shows it until the proctor unlocks);
    returns the command ids for the hub."""
    from bridge.services.kiosks import kiosk_commands

    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    text = _clean(message, 200)
    if not text:
        raise Invalid(N_("Write the message the candidate will see."))
    kiosks = _kiosks_of(session, [attempt.id])
    if not kiosks:
        raise InvalidState(N_("This candidate is on no exam PC right now."))
    ids = kiosk_commands.issue(session, list(kiosks.values()), "lock", {"message": text}, issued_by=actor)
    session.add(AttemptLog(attempt_id=attempt.id, action="screen_lock", actor=actor[:100], detail={"message": text}))
    session.flush()
    audit.record(session, "console.lock_screen", actor=actor, target=f"attempt:{attempt.id}", detail={"message": text})
    return ids


def unlock_screen(session: Session, sitting_id: int, attempt_id: int, *, actor: str = "") -> list[int]:
    from bridge.services.kiosks import kiosk_commands

    sitting = sitting_of(session, sitting_id, actor)
    attempt = _attempt_here(session, sitting, attempt_id)
    kiosks = _kiosks_of(session, [attempt.id])
    if not kiosks:
        raise InvalidState(N_("This candidate is on no exam PC right now."))
    ids = kiosk_commands.issue(session, list(kiosks.values()), "unlock", issued_by=actor)
    session.add(AttemptLog(attempt_id=attempt.id, action="screen_unlock", actor=actor[:100]))
    session.flush()
    audit.record(session, "console.unlock_screen", actor=actor, target=f"attempt:{attempt.id}")
    return ids


# --- the violation catalogue (P3) and the resume log (P4) --------------------------------
def save_violation_code(session: Session, code: str, text: str, *, active: bool, actor: str = "") -> ViolationCode:
    """Add a code to the catalogue or change one (a code is never deleted: registered
    violations name it; an unused one is made inactive)."""
    access.check_admin(actor)
    import re

    code = (code or "").strip().upper()
    if not re.match(r"^[A-Z0-9]{2,16}$", code):
        raise Invalid(N_("A violation code is 2 to 16 letters or digits, e.g. A101."))
    text = _clean(text, 300)
    if not text:
        raise Invalid(N_("Describe the violation the code stands for."))
    catalogue(session)
    row = session.get(ViolationCode, code)
    before = None if row is None else {"text": row.text, "active": row.active}
    if row is None:
        row = ViolationCode(code=code, text=text, active=bool(active))
        session.add(row)
    else:
        row.text, row.active = text, bool(active)
    session.flush()
    audit.record(session, "console.violation_code", actor=actor, target=f"violation_code:{code}",
                 detail={"before": before, "after": {"text": text, "active": bool(active)}})
    return row
