"""Authorization codes (P15; DESIGN "Authorization codes"): challenge–response for the
guarded acts of the proctor console, working by phone when the network is down.

The console asks (``request``): a random request code is shown, bound with the act's
action, room, session, subject (the exam), the candidates (hash of their sorted admission
numbers), the parameter granted (e.g. extra seconds) and a validity window. The authority
(the admin page, or ``exambridge authcode REQUEST``) computes the short numeric code::

    code = HMAC-SHA256(K_site, canonical([action, room, session, subject, candidates_hash,
                                          parameter, request_code, valid_from, valid_until]))
           → 8 decimal digits (dynamic truncation, as HOTP)

with ``K_site`` derived from the authority secret and the site id
(``bridge.services.signing.site_key``), so one site's codes never open another's. A code is
single use; five wrong tries lock the request; at most three requests per room and action
are open at once; every request and every try is stored and audited. An online admin may
approve a request on the admin page instead of reading a code (``approve``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Iterable, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Forbidden, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.authcodes import ACTIONS, AuthRequest
from bridge.models.papers import ExamSession
from bridge.models.devices import Room
from bridge.services import audit, signing
from bridge.services.people import access

DIGITS = 8
MAX_TRIES = 5
MAX_OPEN = 3
MAX_PARAMETER = 86400  # a day, in seconds: more than any value an act grants
#: how long a request may be answered (a re-exam's code is valid for an hour: P8)
VALIDITY = {"delay_start": dt.timedelta(minutes=30), "late_resume": dt.timedelta(minutes=30),
            "extra_time": dt.timedelta(minutes=30), "re_exam": dt.timedelta(hours=1)}


class CodeRefused(Forbidden):
    """A wrong, expired, used or locked code (a wrong try is counted on its own)."""

    code = "code_refused"


@dataclass(frozen=True)
class RequestInfo:
    id: int
    action: str
    room_code: str
    session_id: int
    subject: int
    candidates: list[str]
    parameter: int
    request_code: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    status: str
    tries: int
    approved: bool
    requested_by: str = ""
    session_name: str = ""


def candidates_hash(admission_numbers: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(admission_numbers)).encode()).hexdigest()


def compute(secret_key: str, site_id: str, *, action: str, room_code: str, session_id: int, subject: int,
            candidates_hash_: str, parameter: int, request_code: str, valid_from: dt.datetime,
            valid_until: dt.datetime) -> str:
    """The code for these bindings (pure: the authority's side)."""
    key = signing.derive(signing.site_key(secret_key, site_id), "authorization code")
    message = signing.canonical([action, room_code, session_id, subject, candidates_hash_, parameter, request_code,
                                 valid_from.isoformat(), valid_until.isoformat()])
    mac = hmac.new(key, message, hashlib.sha256).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return f"{number % 10 ** DIGITS:0{DIGITS}d}"


def info(session: Session, row: AuthRequest) -> RequestInfo:
    room = session.get(Room, row.room_id)
    sess = session.get(ExamSession, row.session_id)
    return RequestInfo(row.id, row.action, room.code, row.session_id, row.subject, list(row.candidates),
                       row.parameter, row.request_code, row.valid_from, row.valid_until, row.status, row.tries,
                       bool(row.approved_by), row.requested_by, sess.name if sess else "")


def code_for(session: Session, row: AuthRequest, *, secret_key: str) -> str:
    room = session.get(Room, row.room_id)
    return compute(secret_key, row.site_id or "", action=row.action, room_code=room.code, session_id=row.session_id,
                   subject=row.subject, candidates_hash_=row.candidates_hash, parameter=row.parameter,
                   request_code=row.request_code, valid_from=row.valid_from, valid_until=row.valid_until)


def _new_request_code(session: Session) -> str:
    for _ in range(50):
        code = f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"
        if session.scalar(select(AuthRequest.id).where(AuthRequest.request_code == code)) is None:
            return code
    raise InvalidState(N_("Could not make a request code; try again."))


def _expire(session: Session, room_id: int, action: str, now: dt.datetime) -> None:
    session.execute(update(AuthRequest).where(AuthRequest.room_id == room_id, AuthRequest.action == action,
                                              AuthRequest.status == "open", AuthRequest.valid_until < now)
                    .values(status="cancelled"))


def request(session: Session, *, room_id: int, session_id: int, subject: int, action: str,
            candidates: Iterable[str], parameter: int = 0, actor: str = "") -> RequestInfo:
    if action not in ACTIONS:
        raise Invalid(N_("Unknown guarded action."))
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound(N_("That room does not exist."))
    access.check_room(session, actor, room.id)
    if type(parameter) is not int or not 0 <= parameter <= MAX_PARAMETER:
        raise Invalid(N_("The value asked for must be a whole number from 0 to %(max)s."), params={"max": MAX_PARAMETER})
    numbers = sorted({str(c) for c in candidates})
    now = clock.utcnow_naive().replace(microsecond=0)
    _expire(session, room.id, action, now)
    open_count = session.scalar(select(func.count()).select_from(AuthRequest).where(
        AuthRequest.room_id == room.id, AuthRequest.action == action, AuthRequest.status == "open")) or 0
    if open_count >= MAX_OPEN:
        raise InvalidState(N_("This room has %(count)s open requests for this act already: use or cancel one first."),
                           params={"count": open_count})
    row = AuthRequest(site_id=room.site_id, room_id=room.id, session_id=session_id, action=action, subject=subject,
                      candidates=numbers, candidates_hash=candidates_hash(numbers), parameter=parameter,
                      request_code=_new_request_code(session), valid_from=now, valid_until=now + VALIDITY[action],
                      status="open", requested_by=actor[:255], requested_at=now)
    session.add(row)
    session.flush()
    audit.record(session, "authcode.request", actor=actor, target=f"room:{room.id}",
                 detail={"request": row.id, "action": action, "session": session_id, "candidates": numbers,
                         "parameter": parameter})
    return info(session, row)


def get(session: Session, request_code: str) -> AuthRequest:
    row = session.scalar(select(AuthRequest).where(AuthRequest.request_code == (request_code or "").strip()))
    if row is None:
        raise NotFound(N_("There is no request with this request code."))
    return row


def approve(session: Session, request_id: int, *, actor: str) -> RequestInfo:
    """An online admin's approval: the console may then act without a code."""
    row = session.get(AuthRequest, request_id)
    if row is None:
        raise NotFound(N_("There is no request with this request code."))
    access.check_authority(actor, row.site_id)
    if row.status != "open" or clock.utcnow_naive() > row.valid_until:
        raise InvalidState(N_("This request is no longer open."))
    if row.requested_by and row.requested_by == actor:
        raise Forbidden(N_("You asked for this code yourself: another person must approve it."))
    row.approved_by = actor[:255]
    session.flush()
    audit.record(session, "authcode.approve", actor=actor, target=f"request:{row.id}")
    return info(session, row)


def use(session: Session, request_id: int, code: Optional[str], *, action: str, room_id: int, session_id: int,
        candidates: Iterable[str], parameter: int, secret_key: str, actor: str = "") -> AuthRequest:
    """Spend the request for this act: the code (or the online approval) must match the
    request, and the act must be the one the request was made for. Every try at a code is
    counted before the code is compared, in a transaction of its own (so neither a failed
    act nor guesses sent at once get past five); the request is spent by one conditional
    update, so two acts racing for one code never both pass."""
    row = session.get(AuthRequest, request_id) if type(request_id) is int else None
    if row is None or row.room_id != room_id:
        raise NotFound(N_("There is no request with this request code."))
    access.check_room(session, actor, row.room_id)
    _refuse_unless_open(row)
    same_act = (row.action == action and row.session_id == session_id and row.parameter == parameter
                and row.candidates_hash == candidates_hash(str(c) for c in candidates))
    if not same_act:
        raise InvalidState(N_("This request was made for another act; ask for a new one."))
    if not row.approved_by:
        tries = _count_try(session, row.id)
        if tries is None:  # locked, spent or expired meanwhile
            session.refresh(row)
            _refuse_unless_open(row)
            raise CodeRefused(N_("Too many wrong codes: this request is locked. Ask for a new one."))
        given = "".join(ch for ch in str(code or "") if ch in "0123456789")
        if not hmac.compare_digest(given.encode(), code_for(session, row, secret_key=secret_key).encode()):
            _wrong_try(session, row.id, tries, actor)
            session.refresh(row)
            if tries >= MAX_TRIES:
                raise CodeRefused(N_("Too many wrong codes: this request is locked. Ask for a new one."))
            raise CodeRefused(N_("Wrong authorization code (%(left)s tries left)."), params={"left": MAX_TRIES - tries})
    now = clock.utcnow_naive()
    spent = session.execute(update(AuthRequest).where(
        AuthRequest.id == row.id, AuthRequest.status == "open", AuthRequest.valid_until >= now)
        .values(status="used", used_at=now, used_by=actor[:255]).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        raise CodeRefused(N_("This authorization code was used already; ask for a new one."))
    session.refresh(row)
    audit.record(session, "authcode.use", actor=actor, target=f"request:{row.id}",
                 detail={"action": action, "approved_online": bool(row.approved_by)})
    return row


def _refuse_unless_open(row: AuthRequest) -> None:
    if row.status == "used":
        raise CodeRefused(N_("This authorization code was used already; ask for a new one."))
    if row.status == "locked":
        raise CodeRefused(N_("Too many wrong codes: this request is locked. Ask for a new one."))
    if row.status != "open" or clock.utcnow_naive() > row.valid_until:
        raise CodeRefused(N_("This request has expired; ask for a new one."))


def _count_try(session: Session, request_id: int) -> Optional[int]:
    """One more try, committed at once in a transaction of its own (call ``use`` before the
    act writes anything, so on SQLite this transaction is the only writer); None when the
    request is no longer open or has had its five tries."""
    with Session(session.get_bind()) as own, own.begin():
        counted = own.execute(update(AuthRequest).where(
            AuthRequest.id == request_id, AuthRequest.status == "open", AuthRequest.tries < MAX_TRIES)
            .values(tries=AuthRequest.tries + 1))
        if counted.rowcount != 1:
            return None
        return own.scalar(select(AuthRequest.tries).where(AuthRequest.id == request_id))


def _wrong_try(session: Session, request_id: int, tries: int, actor: str) -> None:
    """Audit a wrong code (committed at once) and lock the request at the fifth."""
    with Session(session.get_bind()) as own, own.begin():
        if tries >= MAX_TRIES:
            own.execute(update(AuthRequest).where(AuthRequest.id == request_id, AuthRequest.status == "open")
                        .values(status="locked"))
        audit.record(own, "authcode.refused", actor=actor, target=f"request:{request_id}", outcome="refused",
                     detail={"tries": tries, "locked": tries >= MAX_TRIES})


def cancel(session: Session, request_id: int, *, actor: str = "") -> None:
    row = session.get(AuthRequest, request_id)
    if row is None:
        raise NotFound(N_("There is no request with this request code."))
    access.check_room(session, actor, row.room_id)
    if row.status == "open":
        row.status = "cancelled"
        session.flush()
        audit.record(session, "authcode.cancel", actor=actor, target=f"request:{row.id}")


def open_requests(session: Session, *, room_id: int | None = None, authority: str = "") -> list[RequestInfo]:
    """Open requests (of one room); ``authority``: only those that actor may answer."""
    query = select(AuthRequest).where(AuthRequest.status == "open",
                                      AuthRequest.valid_until >= clock.utcnow_naive()).order_by(AuthRequest.id)
    if room_id is not None:
        query = query.where(AuthRequest.room_id == room_id)
    if not access.is_authority(authority):
        return []
    sites = access.authority_sites(authority)
    if sites is not None:
        query = query.where(AuthRequest.site_id.in_([s for s in sites if s]))
    return [info(session, row) for row in session.scalars(query)]

