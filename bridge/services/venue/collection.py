"""The site's results collection (数据回收, V10; seed 002 §5.1): per room, session and
subject, the candidates, present, absent, collected and not collected. A room's results
are collected online when its console uploads them (P12), or from the room's exported
results file (the console's backup, signed by this bridge for this site) when the upload
cannot be made: the file is checked and kept with the sitting. Reporting the collected
results upward belongs to the site node (docs/site-node.md, when it is built)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Invalid, NotFound
from bridge.i18n import N_
from bridge.models.attempts import Attempt
from bridge.models.devices import Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, SessionCandidate
from bridge.models.sittings import Sitting
from bridge.services import audit, signing
from bridge.services.people import access

KIND = "room-results"  # what the console's backup writes (bridge.services.proctoring.room_records)


@dataclass(frozen=True)
class CollectionRow:
    sitting_id: int
    room_code: str
    session_name: str
    session_number: Optional[int]
    starts_at: dt.datetime
    subject: str
    candidates: int
    present: int
    absent: int
    collected: int
    not_collected: int
    how: str  # online | file | "" (not yet)
    collected_at: Optional[dt.datetime]


def _counts(session: Session, row: Sitting) -> tuple[int, int, int]:
    """(candidates, present, absent) of the room in its session, as the bridge holds them."""
    users = select(SessionCandidate.user_id).where(SessionCandidate.session_id == row.session_id,
                                                   SessionCandidate.room_id == row.room_id)
    candidates = session.scalar(select(func.count()).select_from(users.subquery())) or 0
    by_status = dict(session.execute(select(Attempt.status, func.count()).where(
        Attempt.session_id == row.session_id, Attempt.user_id.in_(users)).group_by(Attempt.status)).all())
    return candidates, by_status.get("submitted", 0), by_status.get("absent", 0)


def table(session: Session, site_id: str, *, actor: str = "") -> list[CollectionRow]:
    """Every room and session placed at the site, first session first."""
    access.check_site(actor, site_id)
    rows = session.execute(select(Sitting, Room.code, ExamSession, Exam.title)
                           .join(Room, Room.id == Sitting.room_id)
                           .join(ExamSession, ExamSession.id == Sitting.session_id)
                           .join(Exam, Exam.id == ExamSession.exam_id)
                           .where(Sitting.site_id == site_id).order_by(ExamSession.starts_at, Room.code))
    out = []
    for sitting, room_code, sess, title in rows:
        candidates, present, absent = _counts(session, sitting)
        if sitting.uploaded_at is not None:
            how, at, collected = "online", sitting.uploaded_at, present
        elif sitting.collected_data is not None:
            totals = sitting.collected_data.get("totals") or {}
            how, at, collected = "file", sitting.collected_at, int(totals.get("sat", 0))
            candidates, present, absent = int(totals.get("total", candidates)), collected, int(totals.get("absent", 0))
        else:
            how, at, collected = "", None, 0
        out.append(CollectionRow(sitting.id, room_code, sess.name, sess.number, sess.starts_at, title, candidates,
                                 present, absent, collected, max(present - collected, 0), how, at))
    return out


def import_file(session: Session, site_id: str, raw: bytes, *, secret_key: str, actor: str = "") -> CollectionRow:
    """Collect a room's results from its exported file. The file must be this bridge's
    signed results of a room of this site; a room already uploaded online keeps that."""
    access.check_site(actor, site_id)
    if not raw:
        raise Invalid(N_("Choose the room's results file (exported on the console after the exam)."))
    document = signing.read(secret_key, raw, KIND, site_id=site_id)
    payload = document["payload"]
    sitting = session.get(Sitting, payload.get("sitting_id")) if isinstance(payload.get("sitting_id"), int) else None
    if sitting is None or sitting.site_id != site_id:
        raise NotFound(N_("This results file is for a room and session this site does not hold."))
    held = sitting.collected_data or {}
    if held and str(payload.get("made_at", "")) < str(held.get("made_at", "")):
        raise Invalid(N_("This results file is older than the one already collected for the room; the newer "
                         "one stays."))
    if sitting.collected_hash != document["sha256"]:
        sitting.collected_at, sitting.collected_hash = clock.utcnow_naive(), document["sha256"]
        sitting.collected_data = payload
        session.flush()
        audit.record(session, "site.collect", actor=str(actor), target=f"sitting:{sitting.id}",
                     detail={"hash": document["sha256"], "candidates": len(payload.get("candidates") or [])})
    return next(r for r in table(session, site_id, actor=actor) if r.sitting_id == sitting.id)
