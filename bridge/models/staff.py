"""What a local staff account may touch: its grants (least privilege).

A grant gives one role over one place. A **site admin** (考点管理员) holds one grant per
site; a **proctor** (监考员) holds a room, optionally for one day only (the day of the
sessions, in the institution's time zone), or one sitting (a session in a room); an
**authority** issues authorization codes for one site, or for every site when ``site_id``
is empty. A proctor grant may ask for the room's registered proctor station: the account
then acts on the room only from the browser that holds that station's cookie. The global
admin (``users.is_admin``) needs no grant. ``bridge.services.people.access`` reads these rows."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from bridge import clock
from bridge.db import Base

STAFF_ROLES = ("site_admin", "proctor", "authority")


class StaffGrant(Base):
    __tablename__ = "staff_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    room_id: Mapped[Optional[int]] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    sitting_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sittings.id", ondelete="CASCADE"))
    valid_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    station_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)
