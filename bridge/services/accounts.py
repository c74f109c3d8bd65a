"""Local accounts: argon2 password hashes, no default password (the first admin comes from
the CLI), and re-authentication for guarded acts."""
from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, DomainError, Invalid
from bridge.i18n import N_
from bridge.models.audit import AuditEntry
from bridge.models.users import User
from bridge.services import audit

_hasher = PasswordHasher()


class TooManyAttempts(DomainError):
    http_status = 429
    code = "too_many_attempts"
MIN_PASSWORD = 10


def create_admin(session: Session, *, username: str, password: str, name: str = "",
                 actor: str) -> User:
    username = username.strip()
    if not username:
        raise Invalid("A username is required.")
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"The password must have at least {MIN_PASSWORD} characters.")
    if session.scalars(select(User).where(User.username == username)).first():
        raise Conflict(f"The username {username!r} is taken.")
    user = User(username=username, name=name or username, password_hash=_hasher.hash(password),
                is_admin=True)
    session.add(user)
    session.flush()
    audit.record(session, "account.create_admin", actor=actor, target=f"user:{user.id}",
                 detail={"username": username})
    return user


def recent_failures(session: Session, username: str, *, minutes: int) -> int:
    since = clock.utcnow_naive() - dt.timedelta(minutes=minutes)
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "account.login", AuditEntry.outcome == "refused",
        AuditEntry.actor == username.strip()[:100], AuditEntry.at >= since)) or 0


def authenticate(session: Session, *, username: str, password: str, remote_addr: str = "",
                 max_failures: int = 5, window_minutes: int = 15) -> User | None:
    """The user, or None for bad credentials. Both outcomes are audited, so the caller
    commits either way. After ``max_failures`` refusals for a username within the window,
    further tries are refused unchecked (TooManyAttempts) until the window has passed."""
    if recent_failures(session, username, minutes=window_minutes) >= max_failures:
        raise TooManyAttempts("Too many failed sign-ins for this username. Wait a quarter of an hour and "
                              "try again, or ask another administrator.")
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    ok = False
    if user is not None and user.password_hash:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password)  # same work either way: no username oracle by timing
    if not ok:
        audit.record(session, "account.login", actor=username.strip()[:100], remote_addr=remote_addr,
                     outcome="refused", detail={"reason": "bad credentials"})
        return None
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
