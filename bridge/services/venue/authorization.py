"""Exam authorization of a session at a site, its verification, and the item gate (V6, V8;
seed 002 §3.3, §4.2; DESIGN "Paper confidentiality").

A session made in the course opens at its start time (``exam_sessions.authorized``, the
teacher's own session). Once a session is placed at a site that flag is cleared for good
(``exam_data.place``; a site init or restore does not reopen it) and each candidate's items
wait for the authorization of the candidate's sitting (``items_open``): the site authorizes the
session for all its rooms at once, inside the session's window

    opens  = start − ``LEAD`` (one day)      closes = start + the exam's duration

online, or by importing the signed authorization file the authority exported for that site
(``export_file``: signed with the site's own key, so it opens no other site). A sitting
placed after the authorization waits for its own. Shortly before the start
(``VERIFY_LEAD``, an hour, as the seeds do after their time check) the site verifies the
authorization, which marks it verified (V8). The bridge's clock is the trusted time here
(``bridge.clock``, kept by NTP on the server).
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
from bridge.services.people import access

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


def _site_sittings(session: Session, site_id: str, sess: ExamSession) -> list[Sitting]:
    rows = list(session.scalars(select(Sitting).where(Sitting.site_id == site_id, Sitting.session_id == sess.id)
                                .order_by(Sitting.id)))
    if not rows:
        raise InvalidState(N_("This session is not placed in any room of this site."))
    return rows


def authorize(session: Session, exam_session_id: int, *, site_id: str, actor: str = "",
              method: str = "online") -> list[Sitting]:
    """Authorize every sitting of the session at the site not authorized yet."""
    access.check_exam_session_at_site(session, actor, site_id, exam_session_id)
    sess = _session(session, exam_session_id)
    rows = _site_sittings(session, site_id, sess)
    now = clock.utcnow_naive()
    _inside(session, sess, now)
    fresh = [row for row in rows if row.authorized_at is None]
    for row in fresh:
        row.authorized_at, row.authorized_by, row.authorization_method = now, actor[:255], method
    if fresh:
        session.flush()
        audit.record(session, "session.authorize", actor=actor, target=f"session:{sess.id}",
                     detail={"method": method, "site": site_id, "sittings": [r.id for r in fresh]})
    return rows


def export_file(session: Session, exam_session_id: int, *, site_id: str, secret_key: str, actor: str = "") -> bytes:
    """The authority's signed authorization of a session for one site (the offline path)."""
    access.check_exam_session_at_site(session, actor, site_id, exam_session_id)
    sess = _session(session, exam_session_id)
    _site_sittings(session, site_id, sess)
    opens, closes = window(session, sess)
    payload = {"session_id": sess.id, "session_name": sess.name, "exam_id": sess.exam_id,
               "starts_at": sess.starts_at.isoformat(), "opens": opens.isoformat(), "closes": closes.isoformat(),
               "issued_at": clock.utcnow_naive().replace(microsecond=0).isoformat()}
    audit.record(session, "session.authorization_export", actor=actor, target=f"session:{sess.id}",
                 detail={"site": site_id})
    return signing.dumps(signing.sign(secret_key, site_id, KIND, payload))


def import_file(session: Session, raw: bytes, *, site_id: str, secret_key: str, actor: str = "") -> list[Sitting]:
    access.check_site(actor, site_id)
    payload = signing.read(secret_key, raw, KIND, site_id=site_id)["payload"]
    session_id = payload.get("session_id")
    sess = _session(session, session_id if type(session_id) is int else -1)
    if payload.get("starts_at") != sess.starts_at.isoformat() or payload.get("exam_id") != sess.exam_id:
        raise Invalid(N_("This authorization was made for the session's earlier time; ask for a new one."))
    return authorize(session, sess.id, site_id=site_id, actor=actor, method="file")


def verify(session: Session, exam_session_id: int, *, site_id: str, actor: str = "") -> list[Sitting]:
    """Authorization verification (授权验证): within an hour of the start, with every
    sitting of the session at the site authorized, marks them verified."""
    access.check_exam_session_at_site(session, actor, site_id, exam_session_id)
    sess = _session(session, exam_session_id)
    rows = _site_sittings(session, site_id, sess)
    if any(row.authorized_at is None for row in rows):
        raise InvalidState(N_("Authorize the session first; verification checks the authorization."))
    now = clock.utcnow_naive()
    _opens, closes = window(session, sess)
    if now < sess.starts_at - VERIFY_LEAD:
        raise InvalidState(N_("Verification opens an hour before the session starts, at %(at)s."),
                           params={"at": f"{sess.starts_at - VERIFY_LEAD:{_FORMAT}}"})
    if now > closes:
        raise InvalidState(N_("This session ended at %(closes)s; it can no longer be authorized."),
                           params={"closes": f"{closes:{_FORMAT}}"})
    fresh = [row for row in rows if row.verified_at is None]
    for row in fresh:
        row.verified_at = now
    if fresh:
        session.flush()
        audit.record(session, "session.verify", actor=actor, target=f"session:{sess.id}", detail={"site": site_id})
    return rows
