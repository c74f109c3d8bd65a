"""Answers forwarded by a kiosk for the exam page: forward tokens (an attempt's epoch, until a
deadline, HMAC-signed by the bridge), the binding of (attempt, epoch) to the one kiosk that
carries it, and the heads of each source's chain a kiosk is welcomed with."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import NotFound
from bridge.i18n import N_
from bridge.models.devices import KioskAttempt
from bridge.services import signing


#: Forward tokens stay valid this long after the attempt's deadline (a kiosk back online
#: resends what it journaled and gets its acks), or this long from minting without a deadline.
FORWARD_GRACE_SECONDS = 3600
FORWARD_LIFETIME_SECONDS = 24 * 3600
_TOKEN_VERSION = "f2"


@dataclass(frozen=True, slots=True)
class ForwardGrant:
    """What a valid forward token grants: events of its attempt in ``epoch``, until ``expires``
    (seconds since the epoch)."""

    epoch: int
    expires: int

    def expired(self, now: float) -> bool:
        return now >= self.expires


def _token_mac(secret_key: str, attempt_id: int, epoch: int, expires: int) -> str:
    message = f"attempt:{int(attempt_id)}\nepoch:{int(epoch)}\nexpires:{int(expires)}".encode()
    return hmac.new(signing.derive(secret_key, "forward token"), message, hashlib.sha256).hexdigest()


def forward_token(secret_key: str, attempt_id: int, *, epoch: int = 1, expires: float | None = None) -> str:
    """The token the exam page hands to the kiosk agent with its events:
    ``f2.<epoch>.<expires>.<HMAC-SHA256 hex>`` (at most 100 characters). ``expires`` defaults
    to ``FORWARD_LIFETIME_SECONDS`` from now; the exam page uses ``mint_forward_token``."""
    expires = int(clock.timestamp() + FORWARD_LIFETIME_SECONDS if expires is None else expires)
    return f"{_TOKEN_VERSION}.{int(epoch)}.{expires}.{_token_mac(secret_key, attempt_id, epoch, expires)}"


_CURRENT = object()


def mint_forward_token(session: Session, secret_key: str, attempt_id: int, *, signed_in_at: Any = _CURRENT) -> str:
    """A forward token for the attempt's epoch, valid until its deadline plus
    ``FORWARD_GRACE_SECONDS`` (``FORWARD_LIFETIME_SECONDS`` from now without a deadline).
    The exam page passes its session's ``signed_in_at``: the token then names the epoch that
    sign-in writes in (``answers.session_epoch``), so a page of the old seat, even reloaded
    after a resume, never gets a token of the new epoch."""
    from bridge.models.attempts import Attempt
    from bridge.services.delivery import answers

    row = session.execute(select(Attempt.epoch, Attempt.deadline_at).where(Attempt.id == attempt_id)).first()
    if row is None:
        raise NotFound(N_("That attempt does not exist."))
    epoch = row.epoch or 1
    if signed_in_at is not _CURRENT and epoch > 1:
        epoch = answers.session_epoch(epoch, answers.epoch_began(session, [attempt_id]).get(attempt_id),
                                      signed_in_at)
    if row.deadline_at is None:
        expires = clock.timestamp() + FORWARD_LIFETIME_SECONDS
    else:
        expires = row.deadline_at.replace(tzinfo=dt.timezone.utc).timestamp() + FORWARD_GRACE_SECONDS
    return forward_token(secret_key, attempt_id, epoch=epoch, expires=expires)


def read_forward_token(secret_key: str, attempt_id: int, token: Any) -> ForwardGrant | None:
    """The grant of a token made by this bridge for this attempt (expired or not), else None."""
    if not isinstance(token, str) or len(token) > 100:
        return None
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _TOKEN_VERSION or not parts[1].isdigit() or not parts[2].isdigit() \
            or len(parts[3]) != 64:
        return None
    epoch, expires = int(parts[1]), int(parts[2])
    if not hmac.compare_digest(_token_mac(secret_key, attempt_id, epoch, expires), parts[3]):
        return None
    return ForwardGrant(epoch, expires)


def check_forward_token(secret_key: str, attempt_id: int, token: Any, *,
                        now: float | None = None) -> ForwardGrant | None:
    """The grant of a valid, unexpired token for this attempt, else None."""
    grant = read_forward_token(secret_key, attempt_id, token)
    if grant is None or grant.expired(clock.timestamp() if now is None else now):
        return None
    return grant


# --- the kiosk that carries an attempt ----------------------------------------------------
_bindings: "weakref.WeakKeyDictionary[object, dict[tuple[int, int], int]]" = weakref.WeakKeyDictionary()
_kiosk_attempts = KioskAttempt.__table__


def known_binding(engine: Any, attempt_id: int, epoch: int) -> int | None:
    """The kiosk bound to (attempt, epoch) as this process has seen it (no query); a binding
    never changes once made, so the cache is never stale."""
    return _bindings.get(engine, {}).get((attempt_id, epoch))


def remember_binding(engine: Any, attempt_id: int, epoch: int, kiosk_id: int) -> None:
    cache = _bindings.setdefault(engine, {})
    if len(cache) > 200_000:
        cache.clear()
    cache[(attempt_id, epoch)] = kiosk_id


def bind_forward(session: Session, attempt_id: int, epoch: int, kiosk_id: int) -> int:
    """Bind (attempt, epoch) to ``kiosk_id`` unless a kiosk is bound already; returns the
    bound kiosk's id. Safe against a concurrent binder (INSERT … ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    values = {"attempt_id": attempt_id, "epoch": epoch, "kiosk_id": kiosk_id, "bound_at": clock.utcnow_naive()}
    if dialect in ("sqlite", "postgresql"):
        module = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
        session.execute(module.insert(_kiosk_attempts).values(**values).on_conflict_do_nothing())
    elif session.scalar(select(_kiosk_attempts.c.kiosk_id).where(_kiosk_attempts.c.attempt_id == attempt_id,
                                                                  _kiosk_attempts.c.epoch == epoch)) is None:
        session.execute(insert(_kiosk_attempts).values(**values))
    return session.scalar(select(_kiosk_attempts.c.kiosk_id).where(_kiosk_attempts.c.attempt_id == attempt_id,
                                                                    _kiosk_attempts.c.epoch == epoch))


def carried(session: Session, kiosk_id: int, attempt_id: int) -> bool:
    """Whether the kiosk is known to have carried the attempt: it forwarded events for it with
    a valid forward token (a binding, any epoch). A heartbeat's ``attempt_id`` is the kiosk's
    own word, proves nothing and does not count."""
    return bool(bound_epochs(session, kiosk_id, attempt_id))


def bound_epochs(session: Session, kiosk_id: int, attempt_id: int) -> list[int]:
    """The epochs of the attempt that this kiosk carries (proved by a forward token)."""
    return sorted(session.scalars(select(_kiosk_attempts.c.epoch).where(_kiosk_attempts.c.attempt_id == attempt_id,
                                                                         _kiosk_attempts.c.kiosk_id == kiosk_id)))


def stored_heads(session: Session, attempt_id: int) -> dict[str, dict[str, Any]]:
    """Per writer, what the bridge holds without a hole: ``seq`` is the end of the unbroken
    run from seq 1 (every seq up to it is stored) and ``head`` the stored hash at that seq.
    A writer with seq 1 missing is left out. Cheap: one grouped count per writer (count ==
    highest seq means no hole); only writers with a hole cost one more query (the first seq
    whose successor is missing), and one reads the hashes."""
    from bridge.models.attempts import AnswerEvent

    events = AnswerEvent.__table__
    runs: dict[str, int] = {}
    holed: list[str] = []
    for writer, count, low, high in session.execute(
            select(events.c.writer, func.count(), func.min(events.c.seq), func.max(events.c.seq))
            .where(events.c.attempt_id == attempt_id).group_by(events.c.writer)):
        if low != 1:
            continue
        if count == high:
            runs[writer] = high
        else:
            holed.append(writer)
    if holed:
        after = events.alias("after")
        first_gap = (select(events.c.writer, func.min(events.c.seq))
                     .where(events.c.attempt_id == attempt_id, events.c.writer.in_(holed),
                            ~select(after.c.id).where(after.c.attempt_id == events.c.attempt_id,
                                                      after.c.writer == events.c.writer,
                                                      after.c.seq == events.c.seq + 1).exists())
                     .group_by(events.c.writer))
        runs.update({writer: seq for writer, seq in session.execute(first_gap)})
    if not runs:
        return {}
    hashes = session.execute(select(events.c.writer, events.c.hash).where(
        events.c.attempt_id == attempt_id,
        or_(*(and_(events.c.writer == writer, events.c.seq == seq) for writer, seq in runs.items()))))
    return {writer: {"seq": runs[writer], "head": digest} for writer, digest in sorted(hashes)}


def welcome_heads(session: Session, attempt_ids: list[int]) -> dict[str, dict[str, dict[str, Any]]]:
    """For ``welcome.heads``: per attempt, per writer, ``stored_heads`` (the end of the
    unbroken run from seq 1, so the agent resends everything after a hole)."""
    return {str(attempt_id): stored_heads(session, attempt_id) for attempt_id in attempt_ids}
