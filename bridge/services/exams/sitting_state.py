"""A sitting's state, derived on read from its times (DESIGN "States"): scheduled → login
allowed → start allowed (countdown) → in progress → ended → uploaded; and a candidate's
sitting. The console acts on it; the exam page and a candidate's standing read it."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.papers import ExamSession, SessionCandidate
from bridge.models.sittings import Sitting

#: the room's login opens this long before the session's start without the proctor's act
LOGIN_LEAD = dt.timedelta(minutes=30)


def candidate_sitting(session: Session, sess: ExamSession, user_id: int) -> Optional[Sitting]:
    """The sitting of the candidate's room, for a session run by a site (None otherwise)."""
    room_id = session.scalar(select(SessionCandidate.room_id).where(SessionCandidate.session_id == sess.id,
                                                                     SessionCandidate.user_id == user_id))
    if room_id is None:
        return None
    return session.scalar(select(Sitting).where(Sitting.session_id == sess.id, Sitting.room_id == room_id))


def room_start(sitting: Sitting, sess: ExamSession) -> dt.datetime:
    if sitting.start_allowed_at is not None and sitting.start_allowed_at > sess.starts_at:
        return sitting.start_allowed_at.replace(microsecond=0)
    return sess.starts_at


def login_open(sitting: Sitting, sess: ExamSession, now: dt.datetime | None = None) -> bool:
    """The room's login (a login reads no item: the start waits for the authorization)."""
    now = now or clock.utcnow_naive()
    return sitting.ended_at is None and (sitting.login_allowed_at is not None or now >= sess.starts_at - LOGIN_LEAD)


def state(sitting: Sitting, sess: ExamSession, now: dt.datetime | None = None) -> str:
    now = now or clock.utcnow_naive()
    if sitting.uploaded_at:
        return "uploaded"
    if sitting.ended_at:
        return "ended"
    if sitting.start_allowed_at and now >= room_start(sitting, sess):
        return "in_progress"
    if sitting.start_allowed_at:
        return "start_allowed"
    if login_open(sitting, sess, now):
        return "login_allowed"
    return "scheduled"


def items_open(session: Session, sess: ExamSession, user_id: int) -> bool:
    """Whether this candidate may read the session's items (the start still waits for the
    start time): the teacher's session, or the candidate's sitting is authorized."""
    if sess.authorized and session.scalar(select(Sitting.id).where(Sitting.session_id == sess.id).limit(1)) is None:
        return True
    room_id = session.scalar(select(SessionCandidate.room_id).where(
        SessionCandidate.session_id == sess.id, SessionCandidate.user_id == user_id))
    if room_id is None:
        return False  # no seat at any site yet
    return session.scalar(select(Sitting.authorized_at).where(
        Sitting.session_id == sess.id, Sitting.room_id == room_id)) is not None
