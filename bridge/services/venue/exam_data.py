"""A session's sittings at a site and each room's exam data (V4; seed 001 §2.7, seed 002 §3.1).

``place`` puts an exam session in a site's room: a ``Sitting``. From then on the session's
items wait for its exam authorization (``bridge.services.venue.authorization``).

``build`` makes the room's data from the session's candidates (the LMS roster, and the
site's registered candidates whose fees are paid: ``bridge.services.registration.enrolment``)
and the seat plan: each candidate gets a sequence number (序号) within room and session, a seat (in seat
order, or shuffled) and an admission number::

    year(4) · site code · room code · session number(2) · sequence(3)   e.g. 2026 1450301 R1 01 007

(seed 001 §2.7.2: the number ends in the candidate's 序号, not the seat; the session number
is the session's place among the exam's sessions by start time). The data is a signed file
(``bridge.services.signing``) whose integrity hash the page shows. ``load`` takes it at the
site, online or from the exported file, only after its release time, and refuses a file
whose hash or signature does not hold. Loaded data is final: only site init undoes it.
"""
from __future__ import annotations

import datetime as dt
import random
import secrets
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.devices import Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, SessionCandidate
from bridge.models.sittings import SEAT_ORDERS, Sitting
from bridge.models.users import User
from bridge.models.venues import Seat, Site
from bridge.services import audit, signing
from bridge.services.people import access
from bridge.services.registration import enrolment
from bridge.services.venue.venues import room_of

KIND = "exam-data"


@dataclass(frozen=True)
class SittingInfo:
    id: int
    session_id: int
    session_name: str
    exam_title: str
    starts_at: dt.datetime
    duration_minutes: int
    room_id: int
    room_code: str
    candidates: int
    data_hash: Optional[str]
    data_built_at: Optional[dt.datetime]
    release_at: Optional[dt.datetime]
    data_loaded_at: Optional[dt.datetime]
    verified_data: bool
    authorized: bool
    authorized_at: Optional[dt.datetime]
    authorization_method: str
    verified_at: Optional[dt.datetime]
    ended_at: Optional[dt.datetime]
    uploaded_at: Optional[dt.datetime]

    @property
    def ends_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(minutes=self.duration_minutes)


def _site(session: Session, site_id: str) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(N_("That site does not exist."))
    return site


def sitting_of(session: Session, sitting_id: int, site_id: str | None = None) -> Sitting:
    row = session.get(Sitting, sitting_id) if isinstance(sitting_id, int) else None
    if row is None or (site_id is not None and row.site_id != site_id):
        raise NotFound(N_("That sitting does not exist at this site."))
    return row


class StartedSession(Conflict):
    """Placing a session that has started and has submitted attempts needs a confirmation."""

    code = "started_session"


def submitted_in(session: Session, sess: ExamSession) -> int:
    """How many attempts of the session are submitted."""
    from bridge.models.attempts import Attempt

    return session.scalar(select(func.count()).select_from(Attempt).where(
        Attempt.session_id == sess.id, Attempt.status == "submitted")) or 0


def place(session: Session, site_id: str, exam_session_id: int, room_id: int, *, actor: str = "",
          confirm_started: bool = False) -> Sitting:
    access.check_site(actor, site_id)
    site = _site(session, site_id)
    room = room_of(session, room_id, site.id)
    sess = session.get(ExamSession, exam_session_id) if isinstance(exam_session_id, int) else None
    if sess is None:
        raise NotFound(N_("That exam session does not exist."))
    if session.scalar(select(Sitting.id).where(Sitting.session_id == sess.id, Sitting.room_id == room.id)):
        raise Conflict(N_("This session is already placed in this room."))
    submitted = submitted_in(session, sess) if sess.starts_at <= clock.utcnow_naive() else 0
    if submitted and not confirm_started:
        raise StartedSession(N_("“%(name)s” has already started and %(count)s of its candidates have submitted. "
                                "Placed in a room now, its items close until the room's authorization and "
                                "its candidates come under this room's proctor. Confirm to place it anyway."),
                             params={"name": sess.name, "count": submitted})
    row = Sitting(site_id=site.id, session_id=sess.id, room_id=room.id)
    session.add(row)
    sess.authorized = False  # a site runs it now: its items wait for a sitting's authorization, for good
    session.flush()
    audit.record(session, "sitting.place", actor=actor, target=f"sitting:{row.id}",
                 detail={"session": sess.id, "room": room.id, "site": site.id,
                         **({"started_with_submitted": submitted} if submitted else {})})
    return row


def _info(session: Session, row: Sitting) -> SittingInfo:
    sess = session.get(ExamSession, row.session_id)
    exam = session.get(Exam, sess.exam_id)
    room = session.get(Room, row.room_id)
    placed = session.scalar(select(func.count()).select_from(SessionCandidate).where(
        SessionCandidate.session_id == sess.id, SessionCandidate.room_id == room.id)) or 0
    return SittingInfo(row.id, sess.id, sess.name, exam.title, sess.starts_at, exam.duration_minutes, room.id,
                       room.code, placed, row.data_hash, row.data_built_at, row.release_at, row.data_loaded_at,
                       row.data_loaded_at is not None and row.data_loaded_hash == row.data_hash,
                       row.authorized_at is not None, row.authorized_at, row.authorization_method, row.verified_at,
                       row.ended_at, row.uploaded_at)


def site_sittings(session: Session, site_id: str, *, room_id: int | None = None, actor: str = "") -> list[SittingInfo]:
    access.check_site(actor, site_id)
    query = (select(Sitting).join(ExamSession, ExamSession.id == Sitting.session_id).join(Room, Room.id == Sitting.room_id)
             .where(Sitting.site_id == site_id).order_by(ExamSession.starts_at, Room.code))
    if room_id is not None:
        query = query.where(Sitting.room_id == room_id)
    return [_info(session, row) for row in session.scalars(query)]


def info(session: Session, sitting_id: int, site_id: str | None = None) -> SittingInfo:
    return _info(session, sitting_of(session, sitting_id, site_id))


def placeable_sessions(session: Session) -> list[dict[str, Any]]:
    """Sessions of every exam, newest first, for the "place a session" form."""
    rows = session.execute(select(ExamSession, Exam.title).join(Exam, Exam.id == ExamSession.exam_id)
                           .order_by(ExamSession.starts_at.desc()).limit(200))
    return [{"id": s.id, "label": f"{title} · {s.name} · {s.starts_at:%Y-%m-%d %H:%M}"} for s, title in rows]


def session_number(session: Session, sess: ExamSession) -> int:
    """The session's number (场次号): fixed at its first build, so admission numbers already
    handed out never change; first its place among the exam's sessions by start time, or,
    when another session holds that number, the next free one."""
    if sess.number:
        return sess.number
    earlier = session.scalar(select(func.count()).select_from(ExamSession).where(
        ExamSession.exam_id == sess.exam_id,
        (ExamSession.starts_at < sess.starts_at) | ((ExamSession.starts_at == sess.starts_at) & (ExamSession.id < sess.id))))
    taken = set(session.scalars(select(ExamSession.number).where(ExamSession.exam_id == sess.exam_id,
                                                                  ExamSession.number.is_not(None))))
    number = (earlier or 0) + 1
    if number in taken:
        number = max(taken) + 1
    sess.number = number
    return number


def admission_number(year: int, site_code: str, room_code: str, session_no: int, sequence: int) -> str:
    return f"{year:04d}{site_code}{room_code}{session_no:02d}{sequence:03d}"


def build(session: Session, sitting_id: int, *, secret_key: str, seat_order: str = "in_order",
          release_at: dt.datetime | None = None, seed: int | None = None, actor: str = "") -> SittingInfo:
    """Place the session's candidates not yet in another room of the session into this
    room's seats (in roster order), number them, and sign the room's data."""
    row = sitting_of(session, sitting_id)
    access.check_site(actor, row.site_id)
    if row.data_loaded_at is not None:
        raise InvalidState(N_("This room's data is loaded already; only site init can undo that."))
    if seat_order not in SEAT_ORDERS:
        raise Invalid(N_("Seats are given in order or shuffled."))
    sess = session.get(ExamSession, row.session_id)
    exam = session.get(Exam, sess.exam_id)
    room = session.get(Room, row.room_id)
    site = session.get(Site, row.site_id)
    now = clock.utcnow_naive()
    release = (release_at or now).replace(tzinfo=None, microsecond=0)
    if release > sess.starts_at:
        raise Invalid(N_("The release time must be before the session starts."))
    enrolment.enrol(session, sess, site.id, actor=actor)
    seat_numbers = list(session.scalars(select(Seat.number).where(Seat.room_id == room.id).order_by(Seat.number)))
    if room.capacity:
        seat_numbers = seat_numbers[:room.capacity]
    candidates = list(session.scalars(select(SessionCandidate).where(
        SessionCandidate.session_id == sess.id,
        (SessionCandidate.room_id.is_(None)) | (SessionCandidate.room_id == room.id)).order_by(SessionCandidate.id)))
    if not candidates:
        raise InvalidState(N_("The session has no candidates left to place: assign candidates to it in the course, "
                               "or wait for registrations at this site to be paid."))
    if not seat_numbers:
        raise InvalidState(N_("This room has no seats yet: scan or import the seat plan first."))
    chosen = candidates[:len(seat_numbers)]
    for extra in candidates[len(seat_numbers):]:
        if extra.room_id == room.id:  # an earlier build placed more than fit now
            extra.room_id = extra.seat_number = extra.sequence = extra.admission_number = None
    seats_for = list(seat_numbers[:len(chosen)])
    if seat_order == "shuffled":
        random.Random(seed if seed is not None else secrets.randbits(64)).shuffle(seats_for)
    for candidate in chosen:  # clear first: admission numbers are unique across the table
        candidate.admission_number = None
    session.flush()
    number = session_number(session, sess)
    numbers = [admission_number(sess.starts_at.year, site.code, room.code, number, n) for n in range(1, len(chosen) + 1)]
    held = session.scalar(select(SessionCandidate.admission_number).where(
        SessionCandidate.exam_id == sess.exam_id, SessionCandidate.admission_number.in_(numbers),
        SessionCandidate.id.not_in([c.id for c in chosen])).limit(1))
    if held is not None:  # only with site and room codes that run into each other
        raise Conflict(N_("Admission number %(number)s is held by another candidate of this exam (another site's "
                          "or room's codes read the same); change a room code."), params={"number": held})
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_([c.user_id for c in chosen])))}
    people = []
    for sequence, (candidate, seat) in enumerate(zip(chosen, seats_for), start=1):
        candidate.room_id, candidate.seat_number, candidate.sequence = room.id, seat, sequence
        candidate.admission_number = numbers[sequence - 1]
        user = users.get(candidate.user_id)
        people.append({"sequence": sequence, "admission_number": candidate.admission_number, "seat": seat,
                       "user_id": candidate.user_id, "name": user.name if user else ""})
    payload = {"site": {"id": site.id, "code": site.code, "name": site.name, "mode": site.mode},
               "room": {"id": room.id, "code": room.code, "name": room.name},
               "session": {"id": sess.id, "name": sess.name, "number": number, "exam_id": exam.id,
                           "exam_title": exam.title, "starts_at": sess.starts_at.isoformat(),
                           "duration_minutes": exam.duration_minutes},
               "sitting_id": row.id, "seat_order": seat_order, "built_at": now.replace(microsecond=0).isoformat(),
               "release_at": release.isoformat(), "candidates": sorted(people, key=lambda p: p["seat"])}
    document = signing.sign(secret_key, site.id, KIND, payload)
    row.data, row.data_hash, row.data_built_at, row.release_at = document, document["sha256"], now, release
    row.seat_order = seat_order
    session.flush()
    audit.record(session, "sitting.build", actor=actor, target=f"sitting:{row.id}",
                 detail={"candidates": len(people), "left_over": len(candidates) - len(chosen),
                         "hash": row.data_hash, "release_at": release.isoformat(), "order": seat_order})
    return _info(session, row)


def export(session: Session, sitting_id: int, site_id: str | None = None, *, actor: str = "") -> bytes:
    row = sitting_of(session, sitting_id, site_id)
    access.check_site(actor, row.site_id)
    if row.data is None:
        raise InvalidState(N_("Build the room's exam data first."))
    return signing.dumps(row.data)


def load(session: Session, sitting_id: int, *, secret_key: str, raw: bytes | None = None,
         actor: str = "") -> SittingInfo:
    """Load the room's data: the stored package (online) or ``raw``, the exported file. The
    release time must have passed; the file's hash and signature must hold and it must be the
    package last built for this sitting."""
    row = sitting_of(session, sitting_id)
    access.check_site(actor, row.site_id)
    if row.data is None:
        raise InvalidState(N_("Build the room's exam data first."))
    document = signing.read(secret_key, raw if raw is not None else row.data, KIND, site_id=row.site_id)
    payload = document["payload"]
    room = session.get(Room, row.room_id)
    if (payload.get("session") or {}).get("id") != row.session_id or (payload.get("room") or {}).get("code") != room.code:
        raise Invalid(N_("This data file is for another room or session."))
    if document["sha256"] != row.data_hash:
        raise Invalid(N_("This data file is not the room's current data (it was built again since): "
                         "export it again."))
    now = clock.utcnow_naive()
    if row.release_at and now < row.release_at:
        raise InvalidState(N_("This data is released at %(at)s; it cannot be loaded before."),
                           params={"at": f"{row.release_at:%Y-%m-%d %H:%M}"})
    if row.data_loaded_at is not None and row.data_loaded_hash == row.data_hash:
        return _info(session, row)
    row.data_loaded_at, row.data_loaded_hash = now, document["sha256"]
    session.flush()
    audit.record(session, "sitting.load", actor=actor, target=f"sitting:{row.id}",
                 detail={"hash": row.data_hash, "from_file": raw is not None})
    from bridge.services.venue import stations

    if stations.current(session, row.room_id, secret_key=secret_key) is None:  # seed 002 §3.1: loading makes the code
        stations.issue_code(session, row.room_id, secret_key=secret_key, actor=actor)
    return _info(session, row)


def seating_chart(session: Session, sitting_id: int, site_id: str | None = None, *, actor: str = "") -> dict[str, Any]:
    """What the door seating chart (门贴座次表) prints: the room, the session and, per seat,
    the admission number and name, from the built data."""
    row = sitting_of(session, sitting_id, site_id)
    access.check_site(actor, row.site_id)
    if row.data is None:
        raise InvalidState(N_("Build the room's exam data first."))
    return {**row.data["payload"], "hash": row.data_hash}
