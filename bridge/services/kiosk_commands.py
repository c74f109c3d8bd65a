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

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from bridge import clock
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
    return [c["command_id"] for c in issue_payloads(session, kiosk_ids, name, args, issued_by=issued_by)]


def issue_payloads(session: Session, kiosk_ids: Iterable[int], name: str, args: dict | None = None, *,
                   issued_by: str = "") -> list[dict[str, Any]]:
    """``issue``, returning each command as the bus carries it: ``{command_id, kiosk_id,
    name, args, issued_at}`` (the ``command`` message's payload plus the kiosk)."""
    args = _check(name, args)
    if name == "wipe":
        args = _wipe_args(session, args)
    ids = list(dict.fromkeys(int(k) for k in kiosk_ids))
    if not ids:
        raise Invalid(N_("Choose at least one kiosk."))
    kiosks = Kiosk.__table__
    rows = {k.id: k for k in session.execute(select(kiosks.c.id, kiosks.c.status, kiosks.c.seat)
                                             .where(kiosks.c.id.in_(ids)))}
    if len(rows) != len(ids) or any(k.status == "retired" for k in rows.values()):
        raise NotFound(N_("A chosen kiosk is not enrolled (or was retired)."))
    now = clock.utcnow_naive()
    values = []
    for kiosk_id in ids:
        own = dict(args)
        if name == "show_seat" and "seat" not in own:
            own["seat"] = rows[kiosk_id].seat
        values.append({"kiosk_id": kiosk_id, "name": name, "args": own, "status": "queued",
                       "issued_by": issued_by[:255], "issued_at": now})
    # one multi-row INSERT … RETURNING (a broadcast to a whole site is thousands of rows)
    made = session.execute(insert(_commands).returning(_commands.c.id, sort_by_parameter_order=True), values)
    issued_at = epoch_seconds(now)
    commands = [{"command_id": row.id, "kiosk_id": v["kiosk_id"], "name": name, "args": v["args"],
                 "issued_at": issued_at} for row, v in zip(made, values)]
    audit.record(session, "kiosk.command", actor=issued_by, target=f"kiosks:{len(ids)}",
                 detail={"name": name, "args": args, "kiosks": ids[:200],
                         "commands": [commands[0]["command_id"], commands[-1]["command_id"]]})
    return commands


#: Attempt states in which a kiosk's journal of the attempt may be wiped: the attempt is over.
WIPE_STATES = ("submitted", "absent", "voided")


def _wipe_args(session: Session, args: dict) -> dict:
    """``wipe`` carries the heads the bridge itself stores for the attempt (whatever the
    caller sent): per writer the end of the unbroken run from seq 1 and its hash
    (``devices.stored_heads``), so the agent wipes only when the bridge holds everything its
    journal holds. Refused while the attempt is still running."""
    from bridge.models.attempts import Attempt
    from bridge.services.devices import stored_heads

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
    session.execute(update(KioskCommand).where(KioskCommand.id.in_(command_ids), KioskCommand.sent_at.is_(None))
                    .values(sent_at=now))
    session.execute(update(KioskCommand).where(KioskCommand.id.in_(command_ids), KioskCommand.status == "queued")
                    .values(status="sent"))
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



def record_results(session: Session, items: list[tuple[int, int, str, dict]]) -> list[CommandInfo | DomainError]:
    """``record_result`` for many (kiosk id, command id, outcome, detail) at once, in a few
    statements (the hub batches the answers to a broadcast). One entry per item: the stored
    command, or the refusal (not raised, so one bad item never sinks the others)."""
    ids = list({item[1] for item in items})
    known = {r.id: r for r in session.execute(select(_commands.c.id, _commands.c.kiosk_id, _commands.c.status)
                                              .where(_commands.c.id.in_(ids)))}
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
    if updates:
        # (no IN here: executemany cannot expand one)
        session.execute(update(_commands).where(_commands.c.id == bindparam("b_id"),
                                                or_(_commands.c.status == "queued", _commands.c.status == "sent"))
                        .values(status=bindparam("b_status"), result=bindparam("b_result"), finished_at=now),
                        list(updates.values()))
    rows = {r.id: r for r in session.execute(select(_commands).where(_commands.c.id.in_(ids)))}
    return [errors[n] if n in errors else _info(rows[item[1]]) for n, item in enumerate(items)]
