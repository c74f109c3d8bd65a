"""Local accounts: argon2 password hashes, no default password (the first admin comes from
the CLI), and re-authentication for guarded acts."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import Conflict, Invalid
from bridge.models.users import User
from bridge.services import audit

_hasher = PasswordHasher()
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


def authenticate(session: Session, *, username: str, password: str,
                 remote_addr: str = "") -> User | None:
    """The user, or None for bad credentials. Both outcomes are audited, so the caller
    commits either way."""
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
        audit.record(session, "account.login", actor=username[:100], remote_addr=remote_addr,
                     outcome="refused", detail={"reason": "bad credentials"})
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    audit.record(session, "account.login", actor=f"user:{user.id}", remote_addr=remote_addr)
    return user
