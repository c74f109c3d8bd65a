"""``record()`` appends to the audit trail; every mutation and every refused launch calls it.

Rows form a hash chain: each hash covers the previous hash and the row's content, so an
edited or deleted row breaks ``verify_chain``. Appends are serialised per database by
reading the head inside the caller's transaction (SQLite writes are serial; PostgreSQL takes
an advisory transaction lock).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bridge import clock
from bridge.models.audit import AuditEntry

_AUDIT_LOCK_KEY = 0x45424155  # "EBAU"


def _digest(prev: str | None, entry: AuditEntry) -> str:
    body = json.dumps(
        [prev or "", entry.at.isoformat(), entry.actor, entry.remote_addr, entry.action,
         entry.target, entry.outcome, entry.detail],
        sort_keys=True, ensure_ascii=False, default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(session: Session, action: str, *, actor: str = "", target: str = "",
           outcome: str = "ok", remote_addr: str = "", detail: dict[str, Any] | None = None
           ) -> AuditEntry:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    elif dialect == "sqlite":
        # A write statement first, so this transaction holds SQLite's write lock before it
        # reads the head (a plain SELECT would run outside the transaction and two
        # concurrent appends could read the same head).
        session.execute(text("UPDATE audit_log SET id = id WHERE 0"))
    prev = session.scalars(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    entry = AuditEntry(at=clock.utcnow_naive().replace(microsecond=0), actor=actor[:255],
                       remote_addr=remote_addr[:64], action=action, target=target[:500],
                       outcome=outcome, detail=detail or {}, prev_hash=prev)
    entry.hash = _digest(prev, entry)
    session.add(entry)
    session.flush()
    return entry


def verify_chain(entries: Iterable[AuditEntry]) -> int | None:
    """Return the id of the first entry whose hash does not match, or None if intact."""
    prev = None
    for entry in entries:
        if entry.prev_hash != prev or entry.hash != _digest(prev, entry):
            return entry.id
        prev = entry.hash
    return None


def recent(session: Session, *, action_prefix: str = "", limit: int = 100) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action_prefix:
        stmt = stmt.where(AuditEntry.action.startswith(action_prefix))
    return list(session.scalars(stmt))
