"""Console commands for kiosks (K6, P13): a command is a database row.

``issue`` writes one row per kiosk (``queued``); the caller, once the rows are committed,
tells the hub through the event bus that those kiosks have commands
(``bridge.hub.notify_commands``). The hub sends each unfinished command on the kiosk's
socket (``mark_sent``), after every ``welcome`` again, and stores the agent's answer with
``record_result``, which is idempotent by command id: the first result wins, a repeat is
answered with the stored one. So a command survives a dropped socket, a restarted worker
and a lost bus notification (Redis pub/sub is at-most-once).

``wipe`` is issued only for an attempt that is over, and the bridge fills in its heads
itself (``_wipe_args``); heads sent by the caller are ignored.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Optional

from sqlalchemy import JSON, DateTime, bindparam, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from bridge import clock
from bridge.db import fetch_rows, in_many
from bridge.errors import DomainError, Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.devices import Kiosk, KioskCommand
from bridge.services import audit

NAMES = ("show_seat", "hide_seat", "lock", "unlock", "start_client", "close_client", "restart", "shutdown",
         "wipe", "export_pack", "env_check")
OUTCOMES = ("done", "refused", "failed")
UNFINISHED = ("queued", "sent")
_commands = KioskCommand.__table__
_ANY_UNFINISHED = select(_commands.c.id).where(_commands.c.status.in_(UNFINISHED)).limit(1)
# Built once: every welcome runs it.
_SELECT_UNFINISHED = (select(_commands).where(_commands.c.kiosk_id == bindparam("kiosk_id"),
                                              _commands.c.status.in_(UNFINISHED)).order_by(_commands.c.id))
#: Allowed argument names per command (docs/protocol.md, "Commands").
ARGS: dict[str, frozenset[str]] = {
    "show_seat": frozenset({"seat"}), "hide_seat": frozenset(), "lock": frozenset({"message"}),
    "unlock": frozenset(), "start_client": frozenset({"url"}), "close_client": frozenset(),
    "restart": frozenset(), "shutdown": frozenset(), "wipe": frozenset({"attempt_id", "heads"}),
    "export_pack": frozenset({"to"}), "env_check": frozenset({"required_software"}),
}


@dataclass(frozen=True)
class CommandInfo:
    id: int
    kiosk_id: int
    name: str
    args: dict
    status: str
    issued_by: str
    issued_at: float
    result: Optional[dict]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message_payload(self) -> dict[str, Any]:
        """The ``command`` message's payload."""
        return {"command_id": self.id, "name": self.name, "args": self.args, "issued_at": self.issued_at}


def epoch_seconds(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def _info(row: KioskCommand) -> CommandInfo:
    return CommandInfo(row.id, row.kiosk_id, row.name, dict(row.args or {}), row.status, row.issued_by,
                       epoch_seconds(row.issued_at), row.result)


def _check(name: str, args: Any) -> dict:
    if name not in NAMES:
        raise Invalid(N_("Unknown kiosk command."))
    args = {} if args is None else args
    if not isinstance(args, dict) or set(args) - ARGS[name]:
        raise Invalid(N_("Wrong arguments for this kiosk command."))
    return args


def issue(session: Session, kiosk_ids: Iterable[int], name: str, args: dict | None = None, *,
          issued_by: str = "") -> list[int]:
    """Queue ``name`` for each kiosk; returns the command ids. Retired or unknown kiosks are
    refused (nothing is queued). ``show_seat`` without a seat shows each kiosk's own seat."""
    return list(issue_batch(session, kiosk_ids, name, args, issued_by=issued_by).command_ids)


@dataclass(frozen=True, slots=True)
class IssuedCommands:
    """One command issued to many kiosks: what ``issue_batch`` stored. The per-kiosk payloads
    are built by ``payloads()`` outside the writer's job (on the group writer's thread every
    Python step competes with the gevent loop for the GIL; a broadcast is thousands)."""

    name: str
    args: dict
    issued_at: float
    kiosk_ids: tuple[int, ...]
    command_ids: tuple[int, ...]
    seats: Optional[dict[int, Any]]  # show_seat without a seat: each kiosk's own

    def payloads(self) -> list[dict[str, Any]]:
        """Each command as the bus carries it: ``{command_id, kiosk_id, name, args,
        issued_at}`` (the ``command`` message's payload plus the kiosk)."""
        name, args, at, seats = self.name, self.args, self.issued_at, self.seats
        return [{"command_id": command_id, "kiosk_id": kiosk_id, "name": name,
                 "args": {**args, "seat": seats.get(kiosk_id)} if seats is not None else dict(args), "issued_at": at}
                for kiosk_id, command_id in zip(self.kiosk_ids, self.command_ids)]


def issue_batch(session: Session, kiosk_ids: Iterable[int], name: str, args: dict | None = None, *,
                issued_by: str = "") -> IssuedCommands:
    """Store ``name`` for each kiosk in a constant handful of statements: one ``INSERT …
    SELECT`` makes every row inside the database, however many (a broadcast to a whole site
    is thousands); ``show_seat`` without a seat stores each kiosk's own seat (built by the
    database, the same as ``payloads()`` carries)."""
    args = _check(name, args)
    if name == "wipe":
        args = _wipe_args(session, args)
    ids = list(dict.fromkeys(int(k) for k in kiosk_ids))
    if not ids:
        raise Invalid(N_("Choose at least one kiosk."))
    kiosks = Kiosk.__table__
    chosen = in_many(session, kiosks.c.id, ids)
    found, retired = session.execute(select(func.count(), func.count().filter(kiosks.c.status == "retired"))
                                     .where(chosen)).one()
    if found != len(ids) or retired:
        raise NotFound(N_("A chosen kiosk is not enrolled (or was retired)."))
    now = clock.utcnow_naive()
    seats = None
    if name == "show_seat" and "seat" not in args:
        seats = dict(fetch_rows(session, select(kiosks.c.id, kiosks.c.seat).where(chosen)))
        build = func.json_build_object if session.get_bind().dialect.name == "postgresql" else func.json_object
        stored_args = build("seat", kiosks.c.seat)
    else:
        stored_args = literal(args, JSON)
    made = dict(_insert_from_kiosks(session, ids, select(
        kiosks.c.id, literal(name), stored_args, literal("queued"), literal(issued_by[:255]), literal(now, DateTime))))
    command_ids = tuple(made[k] for k in ids)
    audit.record(session, "kiosk.command", actor=issued_by, target=f"kiosks:{len(ids)}",
                 detail={"name": name, "args": args, "kiosks": ids[:200],
                         "commands": [command_ids[0], command_ids[-1]]})
    return IssuedCommands(name, args, epoch_seconds(now), tuple(ids), command_ids, seats)


def _insert_from_kiosks(session: Session, ids: list[int], columns) -> list[tuple[int, int]]:
    """One ``INSERT … SELECT`` of a command row per kiosk in ``ids`` (``columns``: kiosk id,
    name, args, status, issued_by, issued_at, selected from the kiosks); returns (kiosk id,
    command id) per row. PostgreSQL returns them with RETURNING; SQLite reads them back as one
    row (``fetch_rows``): under the group writer its transaction is the only writer, so the
    rows above the highest id before the insert are this insert's."""
    kiosks = Kiosk.__table__
    made = insert(_commands).from_select(["kiosk_id", "name", "args", "status", "issued_by", "issued_at"],
                                         columns.where(in_many(session, kiosks.c.id, ids)))
    if session.get_bind().dialect.name != "sqlite":
        return [tuple(row) for row in session.execute(made.returning(_commands.c.kiosk_id, _commands.c.id))]
    before = session.scalar(select(func.coalesce(func.max(_commands.c.id), 0)))
    session.execute(made)
    return fetch_rows(session, select(_commands.c.kiosk_id, _commands.c.id).where(_commands.c.id > before))


#: Attempt states in which a kiosk's journal of the attempt may be wiped: the attempt is over.
WIPE_STATES = ("submitted", "absent", "voided")


def _wipe_args(session: Session, args: dict) -> dict:
    """``wipe`` carries the heads the bridge itself stores for the attempt (whatever the
    caller sent): per writer the end of the unbroken run from seq 1 and its hash
    (``devices.stored_heads``), so the agent wipes only when the bridge holds everything its
    journal holds. Refused while the attempt is still running."""
    from bridge.models.attempts import Attempt
    from bridge.services.delivery.forwarding import stored_heads

    attempt_id = args.get("attempt_id")
    if type(attempt_id) is not int or attempt_id < 1:
        raise Invalid(N_("wipe needs the attempt whose answers the kiosk may delete."))
    status = session.scalar(select(Attempt.status).where(Attempt.id == attempt_id))
    if status is None:
        raise NotFound(N_("That attempt does not exist."))
    if status not in WIPE_STATES:
        raise InvalidState(N_("A kiosk's answers are wiped only after the attempt is submitted or closed."))
    return {"attempt_id": attempt_id, "heads": stored_heads(session, attempt_id)}


def unfinished(session: Session, kiosk_id: int) -> list[CommandInfo]:
    """Commands not yet answered, oldest first: what the hub sends (again) to the kiosk."""
    return [_info(r) for r in session.execute(_SELECT_UNFINISHED, {"kiosk_id": kiosk_id})]


def any_unfinished(session: Session) -> bool:
    """Whether any kiosk has a command not yet answered (one indexed probe)."""
    return session.execute(_ANY_UNFINISHED).first() is not None


def mark_sent(session: Session, command_ids: list[int]) -> None:
    if not command_ids:
        return
    now = clock.utcnow_naive()
    # The answer may have arrived before this (batched) mark: keep its status, still note the send.
    session.execute(update(KioskCommand).where(in_many(session, KioskCommand.id, command_ids),
                                               KioskCommand.sent_at.is_(None)).values(sent_at=now))
    session.execute(update(KioskCommand).where(in_many(session, KioskCommand.id, command_ids),
                                               KioskCommand.status == "queued").values(status="sent"))
    session.flush()


def record_result(session: Session, kiosk_id: int, command_id: int, outcome: str, detail: dict) -> CommandInfo:
    """Store the agent's answer to a command, once: a repeat (the agent re-sends after a
    reconnect) changes nothing and gets the stored command back."""
    if outcome not in OUTCOMES:
        raise Invalid(N_("A command's outcome is done, refused or failed."))
    row = session.get(KioskCommand, command_id)
    if row is None or row.kiosk_id != kiosk_id:
        raise NotFound(N_("This kiosk has no such command."))
    if row.status in UNFINISHED:
        row.status = outcome
        row.result = detail if isinstance(detail, dict) else {}
        row.finished_at = clock.utcnow_naive()
        session.flush()
    return _info(row)


def get(session: Session, command_id: int) -> CommandInfo:
    row = session.get(KioskCommand, command_id)
    if row is None:
        raise NotFound(N_("This kiosk has no such command."))
    return _info(row)


def cancel(session: Session, command_id: int, *, actor: str = "") -> CommandInfo:
    """Withdraw a command the kiosk has not answered yet (recorded as ``failed``, cancelled)."""
    row = session.get(KioskCommand, command_id)
    if row is None:
        raise NotFound(N_("This kiosk has no such command."))
    if row.status not in UNFINISHED:
        raise InvalidState(N_("The kiosk has answered this command already."))
    row.status, row.result, row.finished_at = "failed", {"cancelled": True}, clock.utcnow_naive()
    session.flush()
    audit.record(session, "kiosk.command_cancel", actor=actor, target=f"command:{row.id}")
    return _info(row)



@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What ``record_results`` says of one answer: the command's stored status and result."""

    id: int
    kiosk_id: int
    status: str
    result: Optional[dict]


@dataclass(frozen=True, slots=True)
class _Known:
    id: int
    kiosk_id: int
    status: str


def record_results(session: Session, items: list[tuple[int, int, str, dict]]) -> list[CommandOutcome | DomainError]:
    """``record_result`` for many (kiosk id, command id, outcome, detail) at once, in a few
    statements (the hub batches the answers to a broadcast). One entry per item: the stored
    outcome, or the refusal (not raised, so one bad item never sinks the others). Only the
    commands answered before (a repeat) are read back."""
    ids = list({item[1] for item in items})
    # locked (PostgreSQL: another worker may record an answer meanwhile), so what is read
    # here is what the updates below apply to
    known = {r[0]: _Known(*r) for r in fetch_rows(session, select(
        _commands.c.id, _commands.c.kiosk_id, _commands.c.status)
        .where(in_many(session, _commands.c.id, ids)).order_by(_commands.c.id).with_for_update())}
    now = clock.utcnow_naive()
    updates: dict[int, dict] = {}
    errors: dict[int, DomainError] = {}
    for n, (kiosk_id, command_id, outcome, detail) in enumerate(items):
        row = known.get(command_id)
        if outcome not in OUTCOMES:
            errors[n] = Invalid(N_("A command's outcome is done, refused or failed."))
        elif row is None or row.kiosk_id != kiosk_id:
            errors[n] = NotFound(N_("This kiosk has no such command."))
        elif row.status in UNFINISHED and command_id not in updates:  # the first answer wins
            updates[command_id] = {"b_id": command_id, "b_status": outcome,
                                   "b_result": detail if isinstance(detail, dict) else {}}
    stored: dict[int, CommandOutcome] = {}
    if updates:
        # (no IN here: executemany cannot expand one)
        session.execute(update(_commands).where(_commands.c.id == bindparam("b_id"),
                                                or_(_commands.c.status == "queued", _commands.c.status == "sent"))
                        .values(status=bindparam("b_status"), result=bindparam("b_result"), finished_at=now),
                        list(updates.values()))
        stored = {i: CommandOutcome(i, known[i].kiosk_id, u["b_status"], u["b_result"]) for i, u in updates.items()}
    answered_before = [i for i in ids if i in known and i not in stored]
    if answered_before:
        stored.update({r.id: CommandOutcome(r.id, r.kiosk_id, r.status, r.result) for r in session.execute(
            select(_commands.c.id, _commands.c.kiosk_id, _commands.c.status, _commands.c.result)
            .where(_commands.c.id.in_(answered_before)))})
    return [errors[n] if n in errors else stored[item[1]] for n, item in enumerate(items)]
