"""Exam authorization of a session and its verification (V6, V8; seed 002 §3.3, §4.2).

The gate is ``exam_sessions.authorized`` (DESIGN "Paper confidentiality"): while it is
false no item of the session leaves the bridge (``attempts.start`` refuses, and nothing
else serves items before a start). A session placed at a site waits for its
authorization, given inside the session's window:

    opens  = start − ``LEAD`` (one day)      closes = start + the exam's duration

online by the site admin, or by importing the signed authorization file the authority
exported for that site (``export_file``) when the site is offline. Shortly before the
start (``VERIFY_LEAD``, an hour, as the seeds do after their time check) the site verifies
the authorization, which marks the session verified (V8). The bridge's clock is the
trusted time here (``bridge.clock``, kept by NTP on the server).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession
from bridge.models.sittings import Sitting
from bridge.services import audit, signing

KIND = "authorization"
LEAD = dt.timedelta(days=1)
VERIFY_LEAD = dt.timedelta(hours=1)
_FORMAT = "%Y-%m-%d %H:%M"


def _session(session: Session, exam_session_id: int) -> ExamSession:
    row = session.get(ExamSession, exam_session_id) if isinstance(exam_session_id, int) else None
    if row is None:
        raise NotFound(N_("That exam session does not exist."))
    return row


def window(session: Session, sess: ExamSession) -> tuple[dt.datetime, dt.datetime]:
    exam = session.get(Exam, sess.exam_id)
    return sess.starts_at - LEAD, sess.starts_at + dt.timedelta(minutes=exam.duration_minutes)


def _inside(session: Session, sess: ExamSession, now: dt.datetime) -> None:
    opens, closes = window(session, sess)
    if now < opens:
        raise InvalidState(N_("This session can be authorized from %(opens)s (a day before it starts), not yet."),
                           params={"opens": f"{opens:{_FORMAT}}"})
    if now > closes:
        raise InvalidState(N_("This session ended at %(closes)s; it can no longer be authorized."),
                           params={"closes": f"{closes:{_FORMAT}}"})


def _site_sessions(session: Session, site_id: str, sess: ExamSession) -> None:
    if session.scalar(select(Sitting.id).where(Sitting.site_id == site_id, Sitting.session_id == sess.id).limit(1)) is None:
        raise InvalidState(N_("This session is not placed in any room of this site."))


def authorize(session: Session, exam_session_id: int, *, site_id: str, actor: str = "",
              method: str = "online") -> ExamSession:
    sess = _session(session, exam_session_id)
    _site_sessions(session, site_id, sess)
    now = clock.utcnow_naive()
    _inside(session, sess, now)
    if sess.authorized and sess.authorization_method:
        return sess
    sess.authorized, sess.authorized_at, sess.authorized_by = True, now, actor[:255]
    sess.authorization_method = method
    session.flush()
    audit.record(session, "session.authorize", actor=actor, target=f"session:{sess.id}",
                 detail={"method": method, "site": site_id})
    return sess


def export_file(session: Session, exam_session_id: int, *, site_id: str, secret_key: str, actor: str = "") -> bytes:
    """The authority's signed authorization of a session for one site (the offline path)."""
    sess = _session(session, exam_session_id)
    _site_sessions(session, site_id, sess)
    opens, closes = window(session, sess)
    payload = {"session_id": sess.id, "session_name": sess.name, "starts_at": sess.starts_at.isoformat(),
               "opens": opens.isoformat(), "closes": closes.isoformat(),
               "issued_at": clock.utcnow_naive().replace(microsecond=0).isoformat()}
    audit.record(session, "session.authorization_export", actor=actor, target=f"session:{sess.id}",
                 detail={"site": site_id})
    return signing.dumps(signing.sign(secret_key, site_id, KIND, payload))


def import_file(session: Session, raw: bytes, *, site_id: str, secret_key: str, actor: str = "") -> ExamSession:
    payload = signing.read(secret_key, raw, KIND, site_id=site_id)["payload"]
    session_id = payload.get("session_id")
    sess = _session(session, session_id if isinstance(session_id, int) else -1)
    if payload.get("starts_at") != sess.starts_at.isoformat():
        raise Invalid(N_("This authorization was made for the session's earlier time; ask for a new one."))
    return authorize(session, sess.id, site_id=site_id, actor=actor, method="file")


def verify(session: Session, exam_session_id: int, *, site_id: str, actor: str = "") -> ExamSession:
    """Authorization verification (授权验证): within an hour of the start, with the
    authorization present, marks the session verified."""
    sess = _session(session, exam_session_id)
    _site_sessions(session, site_id, sess)
    if not (sess.authorized and sess.authorization_method):
        raise InvalidState(N_("Authorize the session first; verification checks the authorization."))
    now = clock.utcnow_naive()
    _opens, closes = window(session, sess)
    if now < sess.starts_at - VERIFY_LEAD:
        raise InvalidState(N_("Verification opens an hour before the session starts, at %(at)s."),
                           params={"at": f"{sess.starts_at - VERIFY_LEAD:{_FORMAT}}"})
    if now > closes:
        raise InvalidState(N_("This session ended at %(closes)s; it can no longer be authorized."),
                           params={"closes": f"{closes:{_FORMAT}}"})
    if sess.verified_at is None:
        sess.verified_at = now
        session.flush()
        audit.record(session, "session.verify", actor=actor, target=f"session:{sess.id}", detail={"site": site_id})
    return sess
