"""Answer packs on the bridge (K5, P6): the bridge's pack key and every pack imported.

``PackKey``: the X25519 key pair kiosks seal their packs to. The private half is stored
sealed (AES-256-GCM under a key derived from the bridge's SECRET_KEY, see
``bridge.services.delivery.pack_keys``) and is shown by no page. ``PackImport``: one row per pack
file accepted for import, keyed by the sha256 of the file, so a replayed pack is reported
as already imported and changes nothing.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge import clock
from bridge.db import Base, TimestampMixin


class PackKey(TimestampMixin, Base):
    __tablename__ = "pack_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)  # sha256(public key)[:16] hex
    public_key: Mapped[str] = mapped_column(String(64))            # raw X25519, base64url
    private_sealed: Mapped[str] = mapped_column(Text)              # base64url(nonce ‖ AES-GCM ciphertext)
    retired_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


class PackImport(Base):
    __tablename__ = "pack_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    attempt_id: Mapped[Optional[int]] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"), index=True)
    kiosk_id: Mapped[Optional[int]] = mapped_column(Integer)  # the manifest's, checked when the kiosk is known
    device_key: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict] = mapped_column(JSON)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[int] = mapped_column(Integer, default=0)  # offline-tail events accepted (the proctor sees them)
    messages: Mapped[list] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(255), default="")
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
