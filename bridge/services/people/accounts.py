"""Local accounts: argon2 password hashes, no default password (the first admin comes from
the CLI), and re-authentication for guarded acts."""
from __future__ import annotations

import datetime as dt
import math

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import Conflict, DomainError, Invalid
from bridge.i18n import N_
from bridge.models.users import User
from bridge.services import audit
from bridge.services.people import throttle

_hasher = PasswordHasher()


class TooManyAttempts(DomainError):
    """Sign-in tried too soon after failures; ``retry_after``: the seconds still to wait."""

    http_status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


# Sign-in throttle: per user name and per address, each failure in a row past the free ones
# doubles the wait (from LOGIN_FIRST_DELAY up to the configured cap); never a lock-out.
LOGIN_FIRST_DELAY = dt.timedelta(seconds=30)
LOGIN_FORGET = dt.timedelta(hours=1)  # failures are forgotten after an hour without one
MIN_PASSWORD = 10


def create_admin(session: Session, *, username: str, password: str, name: str = "",
                 actor: str, admin: bool = True) -> User:
    """A local account with a password (``admin``: a global administrator; otherwise its
    grants are added by ``bridge.services.people.staff``)."""
    username = username.strip()
    if not username:
        raise Invalid(N_("A username is required."))
    if len(password) < MIN_PASSWORD:
        raise Invalid(N_("The password must have at least %(count)s characters."), params={"count": MIN_PASSWORD})
    if session.scalars(select(User).where(User.username == username)).first():
        raise Conflict(N_("The username %(name)s is taken."), params={"name": username})
    user = User(username=username, name=name or username, password_hash=_hasher.hash(password),
                is_admin=admin)
    session.add(user)
    session.flush()
    audit.record(session, "account.create_admin" if admin else "account.create", actor=actor,
                 target=f"user:{user.id}", detail={"username": username})
    return user


def _login_keys(username: str, remote_addr: str) -> tuple[str, str]:
    return f"login:user:{username.strip().lower()[:150]}", f"login:addr:{remote_addr[:64]}"


def login_wait(session: Session, *, username: str, remote_addr: str, max_failures: int = 5,
               window_minutes: int = 15) -> int:
    """Whole seconds before this user name may try again from this address (0: now)."""
    waits = [throttle.backoff_wait(session, key, free=max_failures, first=LOGIN_FIRST_DELAY,
                                   cap=dt.timedelta(minutes=window_minutes), forget=LOGIN_FORGET)
             for key in _login_keys(username, remote_addr)]
    return math.ceil(max(waits))


def authenticate(session: Session, *, username: str, password: str, remote_addr: str = "",
                 max_failures: int = 5, window_minutes: int = 15) -> User | None:
    """The user, or None for bad credentials. Both outcomes are audited, so the caller
    commits either way. Failures count per user name and per address (committed at once,
    whatever the caller does next); after ``max_failures`` in a row on either, each further
    try waits, the wait doubling from 30 seconds up to ``window_minutes``: a try too soon is
    refused unchecked (TooManyAttempts, with the seconds left). A known name is slowed,
    never locked out."""
    wait = login_wait(session, username=username, remote_addr=remote_addr, max_failures=max_failures,
                      window_minutes=window_minutes)
    if wait > 0:
        raise TooManyAttempts(N_("Too many failed sign-ins for this user name or from this address."),
                              retry_after=wait)
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    ok = False
    if user is not None and user.password_hash:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password)  # same work either way: no username oracle by timing
    user_key, addr_key = _login_keys(username, remote_addr)
    if not ok:
        for key in (user_key, addr_key):  # before the audit line: on SQLite the count must write first
            throttle.backoff_fail(session, key, forget=LOGIN_FORGET)
        audit.record(session, "account.login", actor=username.strip()[:100], remote_addr=remote_addr,
                     outcome="refused", detail={"reason": "bad credentials"})
        return None
    throttle.clear(session, user_key)  # the address's failures decay on their own
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    audit.record(session, "account.login", actor=f"user:{user.id}", remote_addr=remote_addr)
    return user


def check_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's: guarded acts (site init) ask for it again."""
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def change_password(session: Session, user_id: int, *, current: str, new: str, confirm: str,
                    remote_addr: str = "") -> None:
    """Change a local account's password (seed 002 §6.4): the current one first, the new
    one twice, at least ``MIN_PASSWORD`` characters."""
    user = session.get(User, user_id)
    if user is None or not user.password_hash:
        raise Invalid(N_("This account signs in through the LMS; it has no password here."))
    if not check_password(user, current):
        audit.record(session, "account.password", actor=f"user:{user.id}", remote_addr=remote_addr,
                     outcome="refused", detail={"reason": "wrong current password"})
        raise Invalid(N_("The current password is wrong."))
    if new != confirm:
        raise Invalid(N_("The new password and its confirmation differ."))
    if len(new) < MIN_PASSWORD:
        raise Invalid(N_("The password must have at least %(count)s characters."), params={"count": MIN_PASSWORD})
    if new == current:
        raise Invalid(N_("Choose a new password that differs from the current one."))
    user.password_hash = _hasher.hash(new)
    session.flush()
    audit.record(session, "account.password", actor=f"user:{user.id}", remote_addr=remote_addr)
