"""A room's seat plan (机位管理, V2; seed 001 §3.2): the only writer of ``seats`` and of the
seat a kiosk row repeats (``kiosks.seat``, ``kiosks.status``).

- ``auto_scan(order=)``: every kiosk of the room that has announced itself and has no seat
  gets one. A planned seat with the kiosk's address (or, failing that, its computer name)
  and no kiosk yet takes it; the others get the next free numbers in the chosen order: by
  address (numerically), by computer name, or by announcement time.
- ``add_seat``: the next number (highest + 1) for an address and computer name.
- ``edit_seat``, ``move_seat`` (up/down swaps with the neighbouring number), ``delete_seat``
  (its kiosk goes back to unassigned).
- ``import_csv`` / ``export_csv``: ``seat,address,computer name,note`` rows. An import is
  checked whole first; any bad row refuses the whole file with a report per row (what is
  stored is never half-replaced), a good file replaces the plan's rows it names and adds
  the new ones.
Every change is audited with the room and what changed.
"""
from __future__ import annotations

import csv
import io
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.errors import Conflict, Invalid, NotFound
from bridge.i18n import N_
from bridge.models.devices import Kiosk
from bridge.models.venues import Seat
from bridge.exports import csv_export
from bridge.services import audit
from bridge.services.people import access
from bridge.services.kiosks import devices
from bridge.services.venue.venues import room_of

MAX_SEAT = 9999
SCAN_ORDERS = ("address", "name", "announced")
CSV_HEADER = ("seat", "address", "computer_name", "note")
MAX_CSV_BYTES = 1 << 20


@dataclass(frozen=True)
class SeatRow:
    id: int
    number: int
    address: str
    hostname: str
    note: str
    kiosk_id: Optional[int]
    kiosk_status: Optional[str]
    last_seen_at: Any = None
    env_check: Optional[dict] = None


@dataclass(frozen=True)
class UnassignedKiosk:
    id: int
    address: str
    hostname: str
    announced_at: Any


@dataclass
class ImportReport:
    ok: bool
    added: int = 0
    updated: int = 0
    #: (line, what to fix: a message id for ``gettext`` and its parameters); line 0 is the file
    errors: list[tuple[int, str, dict]] = field(default_factory=list)


# --- reading ------------------------------------------------------------------------------
def _seat_rows(session: Session, *where) -> list[SeatRow]:
    rows = session.execute(select(Seat, Kiosk.status, Kiosk.last_seen_at, Kiosk.env_check)
                           .outerjoin(Kiosk, Kiosk.id == Seat.kiosk_id).where(*where).order_by(Seat.number))
    return [SeatRow(s.id, s.number, s.address, s.hostname, s.note, s.kiosk_id, status, seen, env)
            for s, status, seen, env in rows]


def plan(session: Session, room_id: int, *, actor: str = "") -> list[SeatRow]:
    access.check_site_of_room(session, actor, room_id)
    room_of(session, room_id)
    return _seat_rows(session, Seat.room_id == room_id)


def unassigned(session: Session, room_id: int, *, actor: str = "") -> list[UnassignedKiosk]:
    """Kiosks of the room that announced themselves and have no seat yet."""
    access.check_site_of_room(session, actor, room_id)
    room_of(session, room_id)
    seated = select(Seat.kiosk_id).where(Seat.kiosk_id.is_not(None))
    rows = session.scalars(select(Kiosk).where(Kiosk.room_id == room_id, Kiosk.status != "retired",
                                               Kiosk.id.not_in(seated)).order_by(Kiosk.created_at, Kiosk.id))
    return [UnassignedKiosk(k.id, k.last_address, k.hostname, k.created_at) for k in rows]


# --- changing -----------------------------------------------------------------------------
def _number(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SEAT:
        raise Invalid(N_("A seat number is a whole number from 1 to 9999."))
    return value


def _text(value: Any, limit: int) -> str:
    return str(value or "").strip()[:limit]


def _next_number(session: Session, room_id: int) -> int:
    return (session.scalar(select(func.max(Seat.number)).where(Seat.room_id == room_id)) or 0) + 1


def _bind(session: Session, seat: Seat, kiosk: Kiosk | None) -> None:
    """Bind (or unbind, ``None``) the seat's kiosk and repeat it on the kiosk rows."""
    if seat.kiosk_id is not None and (kiosk is None or kiosk.id != seat.kiosk_id):
        old = session.get(Kiosk, seat.kiosk_id)
        if old is not None and old.status != "retired":
            old.seat, old.status = None, "pending"
    seat.kiosk_id = kiosk.id if kiosk is not None else None
    if kiosk is not None:
        kiosk.seat, kiosk.status = seat.number, "seated"


def _renumber(seat: Seat, number: int, session: Session) -> None:
    seat.number = number
    if seat.kiosk_id is not None:
        kiosk = session.get(Kiosk, seat.kiosk_id)
        if kiosk is not None:
            kiosk.seat = number


def _address_key(address: str) -> tuple:
    try:
        return (0, int(ipaddress.ip_address(address)), address)
    except ValueError:
        return (1, 0, address)


def auto_scan(session: Session, room_id: int, *, order: str = "address", actor: str = "") -> list[SeatRow]:
    """Seat every unassigned kiosk of the room (module docstring); returns the seats it
    assigned, in number order."""
    access.check_site_of_room(session, actor, room_id)
    room = room_of(session, room_id)
    if order not in SCAN_ORDERS:
        raise Invalid(N_("Order the seats by address, by computer name or by announcement time."))
    waiting = [session.get(Kiosk, k.id) for k in unassigned(session, room.id)]
    free: dict[tuple[str, str], Seat] = {}  # planned seats without a kiosk, by address and by name
    for seat in session.scalars(select(Seat).where(Seat.room_id == room.id, Seat.kiosk_id.is_(None))
                                .order_by(Seat.number)):
        if seat.address:
            free.setdefault(("address", seat.address), seat)
        if seat.hostname:
            free.setdefault(("name", seat.hostname.lower()), seat)
    assigned: list[Seat] = []
    rest = []
    for kiosk in waiting:
        planned = free.get(("address", kiosk.last_address)) if kiosk.last_address else None
        if planned is None and kiosk.hostname:
            planned = free.get(("name", kiosk.hostname.lower()))
        if planned is not None and planned.kiosk_id is None:
            _bind(session, planned, kiosk)
            assigned.append(planned)
        else:
            rest.append(kiosk)
    key = {"address": lambda k: _address_key(k.last_address), "name": lambda k: (k.hostname.lower(), k.id),
           "announced": lambda k: (k.created_at, k.id)}[order]
    number = _next_number(session, room.id)
    for kiosk in sorted(rest, key=key):
        if number > MAX_SEAT:
            raise Invalid(N_("A room has at most 9999 seats."))
        seat = Seat(site_id=room.site_id, room_id=room.id, number=number, address=kiosk.last_address,
                    hostname=kiosk.hostname)
        session.add(seat)
        session.flush()
        _bind(session, seat, kiosk)
        assigned.append(seat)
        number += 1
    session.flush()
    if assigned:
        audit.record(session, "seat.auto_scan", actor=actor, target=f"room:{room.id}",
                     detail={"order": order, "seats": {str(s.number): s.kiosk_id for s in assigned}})
    return _seat_rows(session, Seat.id.in_([s.id for s in assigned])) if assigned else []


def add_seat(session: Session, room_id: int, *, address: str, hostname: str, note: str = "",
             actor: str = "") -> SeatRow:
    access.check_site_of_room(session, actor, room_id)
    room = room_of(session, room_id)
    address, hostname = _text(address, 64), _text(hostname, 255)
    if not address and not hostname:
        raise Invalid(N_("Give the PC's address or its computer name."))
    seat = Seat(site_id=room.site_id, room_id=room.id, number=_next_number(session, room.id), address=address,
                hostname=hostname, note=_text(note, 200))
    if seat.number > MAX_SEAT:
        raise Invalid(N_("A room has at most 9999 seats."))
    session.add(seat)
    session.flush()
    audit.record(session, "seat.add", actor=actor, target=f"room:{room.id}",
                 detail={"number": seat.number, "address": address, "hostname": hostname})
    return _row(session, seat)


def _seat(session: Session, seat_id: int, room_id: int | None = None) -> Seat:
    seat = session.get(Seat, seat_id) if isinstance(seat_id, int) else None
    if seat is None or (room_id is not None and seat.room_id != room_id):
        raise NotFound(N_("That seat does not exist."))
    return seat


def _row(session: Session, seat: Seat) -> SeatRow:
    return _seat_rows(session, Seat.id == seat.id)[0]


def edit_seat(session: Session, seat_id: int, *, number: Any, address: str, hostname: str, note: str,
              room_id: int | None = None, actor: str = "") -> SeatRow:
    seat = _seat(session, seat_id, room_id)
    access.check_site_of_room(session, actor, seat.room_id)
    number = _number(number)
    taken = session.scalar(select(Seat.id).where(Seat.room_id == seat.room_id, Seat.number == number,
                                                 Seat.id != seat.id))
    if taken is not None:
        raise Conflict(N_("Another seat has this number: change or delete that one first."))
    before = {"number": seat.number, "address": seat.address, "hostname": seat.hostname, "note": seat.note}
    _renumber(seat, number, session)
    seat.address, seat.hostname, seat.note = _text(address, 64), _text(hostname, 255), _text(note, 200)
    session.flush()
    audit.record(session, "seat.edit", actor=actor, target=f"room:{seat.room_id}",
                 detail={"seat": seat.id, "before": before, "after": {"number": seat.number, "address": seat.address,
                                                                       "hostname": seat.hostname, "note": seat.note}})
    return _row(session, seat)


def move_seat(session: Session, seat_id: int, direction: str, *, room_id: int | None = None,
              actor: str = "") -> SeatRow:
    """Swap the seat's number with the seat just before (``up``) or after (``down``) it."""
    seat = _seat(session, seat_id, room_id)
    access.check_site_of_room(session, actor, seat.room_id)
    if direction not in ("up", "down"):
        raise Invalid(N_("Move a seat up or down."))
    up = direction == "up"
    neighbour = session.scalar(select(Seat).where(Seat.room_id == seat.room_id,
                                                  Seat.number < seat.number if up else Seat.number > seat.number)
                               .order_by(Seat.number.desc() if up else Seat.number).limit(1))
    if neighbour is None:
        raise Invalid(N_("This seat is first already.") if up else N_("This seat is last already."))
    mine, theirs = seat.number, neighbour.number
    _renumber(seat, 0, session)  # (room, number) is unique: step aside first
    session.flush()
    _renumber(neighbour, mine, session)
    session.flush()
    _renumber(seat, theirs, session)
    session.flush()
    audit.record(session, "seat.move", actor=actor, target=f"room:{seat.room_id}",
                 detail={"seat": seat.id, "from": mine, "to": theirs})
    return _row(session, seat)


def delete_seat(session: Session, seat_id: int, *, room_id: int | None = None, actor: str = "") -> None:
    seat = _seat(session, seat_id, room_id)
    access.check_site_of_room(session, actor, seat.room_id)
    _bind(session, seat, None)
    detail = {"number": seat.number, "address": seat.address, "hostname": seat.hostname, "kiosk": seat.kiosk_id}
    session.delete(seat)
    session.flush()
    audit.record(session, "seat.delete", actor=actor, target=f"room:{seat.room_id}", detail=detail)


def assign(session: Session, room_id: int, kiosk_id: int, number: Any, *, actor: str = "") -> SeatRow:
    """Put one kiosk on the seat ``number`` (made if the plan has no such seat; a free seat
    is bound, a seat with another kiosk is refused)."""
    access.check_site_of_room(session, actor, room_id)
    room = room_of(session, room_id)
    number = _number(number)
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None or kiosk.room_id != room.id or kiosk.status == "retired":
        raise NotFound(N_("This kiosk is not enrolled in this room (or was retired)."))
    seat = session.scalar(select(Seat).where(Seat.room_id == room.id, Seat.number == number))
    if seat is not None and seat.kiosk_id not in (None, kiosk.id):
        raise Conflict(N_("Another kiosk has this seat: free it first."))
    current = session.scalar(select(Seat).where(Seat.kiosk_id == kiosk.id))
    if current is not None and current is not seat:
        _bind(session, current, None)
        session.flush()
    if seat is None:
        seat = Seat(site_id=room.site_id, room_id=room.id, number=number, address=kiosk.last_address,
                    hostname=kiosk.hostname)
        session.add(seat)
        session.flush()
    _bind(session, seat, kiosk)
    session.flush()
    audit.record(session, "kiosk.seat", actor=actor, target=f"kiosk:{kiosk.id}", detail={"seat": number})
    return _row(session, seat)


# --- CSV ----------------------------------------------------------------------------------
def export_csv(session: Session, room_id: int, *, actor: str = "") -> str:
    """The plan as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese right)."""
    access.check_site_of_room(session, actor, room_id)
    return csv_export.text([CSV_HEADER] + [(row.number, row.address, row.hostname, row.note)
                                           for row in plan(session, room_id)])


def import_csv(session: Session, room_id: int, data: bytes | str, *, actor: str = "") -> ImportReport:
    """Check every row, then store all or nothing (module docstring)."""
    access.check_site_of_room(session, actor, room_id)
    room = room_of(session, room_id)
    if isinstance(data, bytes):
        if len(data) > MAX_CSV_BYTES:
            return ImportReport(False, errors=[(0, N_("The file is larger than 1 MiB: a seat plan is a few KiB."), {})])
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                data = data.decode("gb18030")  # what a Chinese Excel saves as "CSV"
            except UnicodeDecodeError:
                return ImportReport(False, errors=[(0, N_("The file is neither UTF-8 nor GB18030 text."), {})])
    data = data.lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(data)))
    report = ImportReport(True)
    wanted: dict[int, tuple[str, str, str]] = {}
    seen_addresses: dict[str, int] = {}
    for line, fields in enumerate(rows, start=1):
        if not any(f.strip() for f in fields):
            continue
        if line == 1 and fields and not fields[0].strip().isdigit():
            continue  # the header
        if len(fields) < 2 or len(fields) > 4:
            report.errors.append((line, N_("A row is seat,address,computer name,note (2 to 4 fields)."), {}))
            continue
        number, address, hostname, note = [csv_export.unescape(f) for f in (fields + ["", ""])[:4]]
        try:
            number = _number(number)
        except Invalid:
            report.errors.append((line, N_("'%(value)s' is not a seat number (1 to 9999)."), {"value": number.strip()}))
            continue
        address, hostname = address.strip(), hostname.strip()
        if number in wanted:
            report.errors.append((line, N_("Seat %(number)s appears twice in the file."), {"number": number}))
            continue
        if not address and not hostname:
            report.errors.append((line, N_("Give the PC's address or its computer name."), {}))
            continue
        if address:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                report.errors.append((line, N_("'%(value)s' is not an IP address."), {"value": address}))
                continue
            if address in seen_addresses:
                report.errors.append((line, N_("The address %(address)s is also on line %(line)s."),
                                       {"address": address, "line": seen_addresses[address]}))
                continue
            seen_addresses[address] = line
        if len(address) > 64 or len(hostname) > 255 or len(note.strip()) > 200:
            report.errors.append((line, N_("A field is too long (address 64, computer name 255, note 200 "
                                          "characters)."), {}))
            continue
        wanted[number] = (address, hostname, note.strip())
    if not wanted and not report.errors:
        report.errors.append((0, N_("The file has no seat rows."), {}))
    if report.errors:
        report.ok = False
        return report
    existing = {s.number: s for s in session.scalars(select(Seat).where(Seat.room_id == room.id))}
    for number, (address, hostname, note) in sorted(wanted.items()):
        seat = existing.get(number)
        if seat is None:
            session.add(Seat(site_id=room.site_id, room_id=room.id, number=number, address=address,
                             hostname=hostname, note=note))
            report.added += 1
        else:
            changed = (seat.address, seat.hostname, seat.note) != (address, hostname, note)
            if changed and seat.kiosk_id is not None and seat.address not in ("", address):
                _bind(session, seat, None)  # another PC belongs there now: it is scanned again
            seat.address, seat.hostname, seat.note = address, hostname, note
            report.updated += changed
    session.flush()
    audit.record(session, "seat.import", actor=actor, target=f"room:{room.id}",
                 detail={"added": report.added, "updated": report.updated, "rows": len(wanted)})
    return report


def seat_kiosk(session: Session, kiosk_id: int, seat: int, *, actor: str = "") -> devices.KioskInfo:
    """Seat a kiosk (``pending`` → ``seated``, or move it to another seat of its room) by
    ``assign``, which owns ``kiosks.seat``."""
    if not isinstance(seat, int) or isinstance(seat, bool) or not 1 <= seat <= 9999:
        raise Invalid(N_("A seat number is a whole number from 1 to 9999."))
    row = session.get(Kiosk, kiosk_id)
    if row is None or row.status == "retired":
        raise devices.UnknownKiosk(N_("This kiosk is not enrolled (or was retired): register it again."))
    assign(session, row.room_id, kiosk_id, seat, actor=actor)
    return devices.kiosk(session, kiosk_id)
