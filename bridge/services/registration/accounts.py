"""Public candidates' accounts (seed 003 §1: register, sign in, reset the password): an email
and a password (argon2, as the staff's), the email verified by a signed link before the
candidate may register, and a password reset by a signed link that a later change of
password makes void. Links are itsdangerous tokens signed with the bridge's secret (passed
in), valid for ``LINK_HOURS``; the service makes them and the web layer mails them.

Sign-in failures slow down per email and per address as the staff's do
(``bridge.services.people.throttle``), and an unknown email costs the same hashing work as
a known one."""
from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Conflict, Invalid
from bridge.i18n import N_
from bridge.models.registration import CandidateAccount
from bridge.models.users import User
from bridge.services import audit
from bridge.services.people import throttle
from bridge.services.people.accounts import LOGIN_FIRST_DELAY, LOGIN_FORGET, MIN_PASSWORD, TooManyAttempts

LINK_HOURS = 48
_hasher = PasswordHasher()
_SALTS = {"verify": "exambridge.candidate.verify", "reset": "exambridge.candidate.reset"}


def _serializer(secret: str | bytes, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALTS[purpose])


def normal_email(email: str) -> str:
    email = (email or "").strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 320 or any(ch.isspace() for ch in email):
        raise Invalid(N_("Give an email address such as name@example.com."))
    return email


def _check_password(password: str, confirm: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise Invalid(N_("The password must have at least %(n)d characters."), params={"n": MIN_PASSWORD})
    if password != confirm:
        raise Invalid(N_("The two passwords differ; type the same password twice."))


def sign_up(session: Session, *, email: str, password: str, confirm: str, name: str,
            secret: str | bytes) -> tuple[CandidateAccount, str]:
    """A new, unverified account and the token of its verification link."""
    email = normal_email(email)
    name = (name or "").strip()
    if not name:
        raise Invalid(N_("Give your name as on your ID document."))
    _check_password(password, confirm)
    if session.scalars(select(CandidateAccount).where(CandidateAccount.email == email)).first() is not None:
        raise Conflict(N_("An account with this email exists already. Sign in, or reset its password."))
    user = User(name=name[:255], email=email)
    session.add(user)
    session.flush()
    account = CandidateAccount(user_id=user.id, email=email, password_hash=_hasher.hash(password))
    session.add(account)
    session.flush()
    audit.record(session, "candidate.sign_up", actor=f"user:{user.id}", target=f"candidate:{account.id}")
    return account, verification_token(account, secret)


def verification_token(account: CandidateAccount, secret: str | bytes) -> str:
    return _serializer(secret, "verify").dumps({"a": account.id, "e": account.email})


def verify(session: Session, token: str, *, secret: str | bytes) -> CandidateAccount:
    data = _load(token, secret, "verify")
    account = session.get(CandidateAccount, data.get("a"))
    if account is None or account.email != data.get("e"):
        raise Invalid(N_("This link is not valid. Sign in and ask for a new one."))
    if account.verified_at is None:
        account.verified_at = clock.utcnow_naive()
        session.flush()
        audit.record(session, "candidate.verify", actor=f"user:{account.user_id}", target=f"candidate:{account.id}")
    return account


def _load(token: str, secret: str | bytes, purpose: str) -> dict:
    try:
        data = _serializer(secret, purpose).loads(token or "", max_age=LINK_HOURS * 3600)
    except SignatureExpired:
        raise Invalid(N_("This link has expired. Ask for a new one.")) from None
    except BadSignature:
        raise Invalid(N_("This link is not valid. Sign in and ask for a new one.")) from None
    if not isinstance(data, dict):
        raise Invalid(N_("This link is not valid. Sign in and ask for a new one."))
    return data


def _keys(email: str, remote_addr: str) -> tuple[str, str]:
    return f"candidate-login:{email[:150]}", f"candidate-login-addr:{remote_addr[:60]}"


def authenticate(session: Session, *, email: str, password: str, remote_addr: str = "",
                 max_failures: int = 5) -> CandidateAccount | None:
    """The account for good credentials, or None; slowed (never locked) after failures."""
    email = (email or "").strip().lower()
    user_key, addr_key = _keys(email, remote_addr)
    wait = max(throttle.backoff_wait(session, key, free=max_failures, first=LOGIN_FIRST_DELAY,
                                     cap=dt.timedelta(minutes=15), forget=LOGIN_FORGET)
               for key in (user_key, addr_key))
    if wait > 0:
        raise TooManyAttempts(N_("Too many failed sign-ins for this email or from this address."),
                              retry_after=int(wait))
    account = session.scalars(select(CandidateAccount).where(CandidateAccount.email == email)).first()
    ok = False
    if account is not None:
        try:
            ok = _hasher.verify(account.password_hash, password or "")
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password or "")  # the same work: no oracle for which emails have accounts
    if not ok:
        for key in (user_key, addr_key):
            throttle.backoff_fail(session, key, forget=LOGIN_FORGET)
        audit.record(session, "candidate.login", actor=email[:100], remote_addr=remote_addr, outcome="refused")
        return None
    throttle.clear(session, user_key)
    audit.record(session, "candidate.login", actor=f"user:{account.user_id}", remote_addr=remote_addr)
    return account


def reset_token(session: Session, email: str, *, secret: str | bytes) -> tuple[CandidateAccount, str] | None:
    """The token of a reset link for the account with this email (None: no such account; the
    page says the same either way)."""
    account = session.scalars(select(CandidateAccount).where(CandidateAccount.email ==
                                                             (email or "").strip().lower())).first()
    if account is None:
        return None
    audit.record(session, "candidate.reset_request", actor=f"user:{account.user_id}", target=f"candidate:{account.id}")
    return account, _serializer(secret, "reset").dumps({"a": account.id, "v": account.password_version})


def reset_password(session: Session, token: str, *, password: str, confirm: str,
                   secret: str | bytes) -> CandidateAccount:
    data = _load(token, secret, "reset")
    account = session.get(CandidateAccount, data.get("a"))
    if account is None or account.password_version != data.get("v"):
        raise Invalid(N_("This link was used already or replaced by a newer one. Ask for a new one."))
    _check_password(password, confirm)
    account.password_hash = _hasher.hash(password)
    account.password_version += 1
    account.verified_at = account.verified_at or clock.utcnow_naive()  # the link proved the mailbox
    session.flush()
    audit.record(session, "candidate.reset_password", actor=f"user:{account.user_id}", target=f"candidate:{account.id}")
    return account


def account_of_user(session: Session, user_id: int) -> CandidateAccount | None:
    return session.scalars(select(CandidateAccount).where(CandidateAccount.user_id == user_id)).first()
