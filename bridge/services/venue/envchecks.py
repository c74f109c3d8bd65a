"""The environment check of a room's seats (V3; seed 001 §3.3): start, re-test failed, the
live progress and the report.

The exam's requirement set (``exams.env_requirements``, defaults in ``REQUIREMENTS``) is
copied into each run. The kiosk measures (``kiosk_agent.envcheck``) and answers the
``env_check`` command; the bridge judges the answer here against the run's requirements,
on read, so the verdict is the bridge's and not the PC's. A value the PC cannot know (no
screen session, say) is ``unknown``: shown, not failed, as the agent itself reports it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge import clock
from bridge.errors import Invalid, InvalidState, NotFound
from bridge.i18n import N_
from bridge.models.devices import Kiosk, KioskCommand
from bridge.models.envchecks import EnvCheckResult, EnvCheckRun
from bridge.models.exams import Exam
from bridge.models.venues import Seat
from bridge.services import audit
from bridge.services.kiosks import kiosk_commands
from bridge.services.people import access
from bridge.services.venue.venues import room_of

#: What a seat needs when the exam says nothing else (seed 001 §1.2's minimum PC).
REQUIREMENTS: dict[str, Any] = {"min_cores": 2, "min_memory_mb": 2048, "min_disk_mb": 1024, "min_width": 1024,
                                "min_height": 768, "browser": "", "min_browser_major": 0,
                                "required_software": [], "max_latency_ms": 500}
_INTS = ("min_cores", "min_memory_mb", "min_disk_mb", "min_width", "min_height", "min_browser_major",
         "max_latency_ms")
_PROGRAM_RE = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
#: the items of a check, in the report's order
ITEMS = ("cpu", "memory", "disk", "screen", "browser", "software", "latency")


def requirements_of(session: Session, exam_id: int | None) -> dict[str, Any]:
    exam = session.get(Exam, exam_id) if exam_id else None
    return {**REQUIREMENTS, **((exam.env_requirements or {}) if exam else {})}


def clean_requirements(form: dict[str, Any]) -> dict[str, Any]:
    """The requirement set from a form (text values): whole numbers ≥ 0, a browser name,
    program names one per line or comma-separated."""
    out: dict[str, Any] = {}
    for name in _INTS:
        raw = str(form.get(name, REQUIREMENTS[name])).strip()
        if not raw.isdigit() or int(raw) > 10 ** 7:
            raise Invalid(N_("%(field)s must be a whole number of 0 or more."), params={"field": name})
        out[name] = int(raw)
    browser = str(form.get("browser", "")).strip()
    if browser and not _PROGRAM_RE.match(browser):
        raise Invalid(N_("A browser is named by its program name, e.g. chromium."))
    out["browser"] = browser
    software = form.get("required_software", "")
    names = software if isinstance(software, list) else re.split(r"[\s,]+", str(software))
    names = [n for n in (x.strip() for x in names) if n]
    bad = [n for n in names if not _PROGRAM_RE.match(n)]
    if bad:
        raise Invalid(N_("Required software is listed by program name (letters, digits, . _ + -): %(bad)s"),
                      params={"bad": ", ".join(bad[:5])})
    out["required_software"] = sorted(set(names))[:50]
    return out


def set_requirements(session: Session, exam_id: int, form: dict[str, Any], *, actor: str = "") -> dict[str, Any]:
    exam = session.get(Exam, exam_id)
    if exam is None:
        raise NotFound(N_("That exam does not exist."))
    exam.env_requirements = clean_requirements(form)
    session.flush()
    audit.record(session, "exam.env_requirements", actor=actor, target=f"exam:{exam.id}", detail=exam.env_requirements)
    return exam.env_requirements


# --- judging (pure) -----------------------------------------------------------------------
def _num(value: Any) -> Optional[float]:
    """A finite number the PC reported, else None (unknown): a kiosk's answer is its word,
    not trusted to be well formed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _text(value: Any) -> Optional[str]:
    return value[:200] if isinstance(value, str) else None


def _major(version: Any) -> Optional[int]:
    match = re.search(r"(\d+)\.", str(version or ""))
    return int(match.group(1)) if match else None


def judge(requirements: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Each item of a kiosk's measurement against ``requirements``: ``{"items": {name:
    {"state": passed|failed|unknown, "value", "needed"}}, "failed": [...], "passed"}``."""
    req = {**REQUIREMENTS, **(requirements or {})}
    r = result if isinstance(result, dict) else {}

    def part(name: str) -> dict:
        value = r.get(name)
        return value if isinstance(value, dict) else {}

    items: dict[str, dict] = {}

    def item(name: str, ok: Optional[bool], value: Any, needed: Any, reason: Any = None) -> None:
        items[name] = {"state": "unknown" if ok is None else ("passed" if ok else "failed"), "value": value,
                       "needed": needed, "reason": reason if ok is None else None}

    cores = _num(part("cpu").get("cores"))
    item("cpu", None if cores is None else cores >= req["min_cores"], cores, req["min_cores"])
    mem = _num(part("memory").get("total_mb"))
    item("memory", None if mem is None else mem >= req["min_memory_mb"], mem, req["min_memory_mb"],
         _text(part("memory").get("reason")))
    disk = _num(part("disk").get("free_mb"))
    item("disk", None if disk is None else disk >= req["min_disk_mb"], disk, req["min_disk_mb"])
    width, height = _num(part("screen").get("width")), _num(part("screen").get("height"))
    item("screen", None if width is None or height is None else (width >= req["min_width"] and height >= req["min_height"]),
         None if width is None or height is None else f"{int(width)}×{int(height)}",
         f"{req['min_width']}×{req['min_height']}", _text(part("screen").get("reason")))
    browser = part("browser")
    name, version = _text(browser.get("name")), _text(browser.get("version"))
    ok = _text(browser.get("path")) is not None and (not req["browser"] or name == req["browser"])
    major = _major(version)
    if ok and req["min_browser_major"]:
        ok = None if major is None else major >= req["min_browser_major"]
    number = re.search(r"\d+(?:\.\d+)+", version or "")
    item("browser", ok, " ".join(x for x in (name, number and number.group(0)) if x) or None,
         " ".join(x for x in (req["browser"], f"≥ {req['min_browser_major']}" if req["min_browser_major"] else "") if x)
         or "any", _text(browser.get("reason")))
    listed = r.get("software") if isinstance(r.get("software"), list) else []
    programs = {p["name"]: p.get("found") is True for p in listed if isinstance(p, dict) and isinstance(p.get("name"), str)}
    missing = [name for name in req["required_software"] if not programs.get(name)]
    item("software", not missing, ", ".join(missing) if missing else len(req["required_software"]),
         ", ".join(req["required_software"]) or "—")
    latency = _num(part("latency").get("median_ms"))
    item("latency", None if latency is None else latency <= req["max_latency_ms"], latency, req["max_latency_ms"],
         _text(part("latency").get("reason")))
    failed = [name for name in ITEMS if items[name]["state"] == "failed"]
    return {"items": items, "failed": failed, "passed": not failed}


# --- runs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeatResult:
    seat: int
    kiosk_id: Optional[int]
    hostname: str
    address: str
    state: str  # waiting | passed | failed | no_kiosk | error
    run_id: int
    failed: list[str] = field(default_factory=list)
    items: dict[str, dict] = field(default_factory=dict)
    answered_at: Any = None
    reason: str = ""


@dataclass(frozen=True)
class Report:
    room_id: int
    runs: list[dict]
    requirements: dict[str, Any]
    seats: list[SeatResult]

    def count(self, *states: str) -> int:
        return sum(1 for s in self.seats if s.state in states)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed", "no_kiosk", "error")

    @property
    def waiting(self) -> int:
        return self.count("waiting")

    @property
    def complete(self) -> bool:
        return bool(self.seats) and self.waiting == 0

    @property
    def all_passed(self) -> bool:
        return bool(self.seats) and self.passed == len(self.seats)


def start(session: Session, room_id: int, *, exam_id: int | None = None, scope: str = "all",
          actor: str = "") -> tuple[EnvCheckRun, dict[int, int]]:
    """A new run over every seat (``all``) or over the seats that did not pass in the
    current report (``failed``). Returns the run and, per kiosk asked, its command id (the
    caller tells the hub once committed: ``bridge.hub.notify_commands``)."""
    access.check_site_of_room(session, actor, room_id)
    room = room_of(session, room_id)
    if scope not in ("all", "failed"):
        raise Invalid(N_("Check all seats or re-test the failed ones."))
    if exam_id is not None and session.get(Exam, exam_id) is None:
        raise NotFound(N_("That exam does not exist."))
    seats = list(session.scalars(select(Seat).where(Seat.room_id == room.id).order_by(Seat.number)))
    if not seats:
        raise InvalidState(N_("This room has no seats yet: scan or import the seat plan first."))
    if scope == "failed":
        current = report(session, room.id)
        if not current.runs:
            raise InvalidState(N_("Run the check on all seats first."))
        exam_id = exam_id or current.runs[-1]["exam_id"]
        redo = {s.seat for s in current.seats if s.state not in ("passed", "waiting")}
        seats = [s for s in seats if s.number in redo or s.number not in {x.seat for x in current.seats}]
        if not seats:
            raise InvalidState(N_("No seat failed: there is nothing to re-test."))
    requirements = requirements_of(session, exam_id)
    run = EnvCheckRun(site_id=room.site_id, room_id=room.id, exam_id=exam_id, scope=scope,
                      requirements=requirements, started_by=actor, started_at=clock.utcnow_naive())
    session.add(run)
    session.flush()
    live = {k.id for k in session.scalars(select(Kiosk).where(
        Kiosk.id.in_([s.kiosk_id for s in seats if s.kiosk_id]), Kiosk.status != "retired"))}
    with_kiosk = [s for s in seats if s.kiosk_id in live]
    commands: dict[int, int] = {}
    if with_kiosk:
        issued = kiosk_commands.issue_batch(session, [s.kiosk_id for s in with_kiosk], "env_check",
                                            {"required_software": requirements["required_software"]}, issued_by=actor)
        commands = dict(zip(issued.kiosk_ids, issued.command_ids))
    for seat in seats:
        kiosk = seat.kiosk_id if seat.kiosk_id in live else None
        session.add(EnvCheckResult(run_id=run.id, seat_number=seat.number, kiosk_id=kiosk,
                                   command_id=commands.get(kiosk)))
    session.flush()
    audit.record(session, "envcheck.start", actor=actor, target=f"room:{room.id}",
                 detail={"run": run.id, "scope": scope, "seats": len(seats), "exam": exam_id})
    return run, commands


def _state(result: EnvCheckResult, command: Optional[KioskCommand], requirements: dict) -> tuple[str, dict, str]:
    if result.kiosk_id is None or result.command_id is None:
        return "no_kiosk", {}, "no kiosk is seated here"
    if command is None or command.status in ("queued", "sent"):
        return "waiting", {}, ""
    if command.status != "done":
        reason = (command.result or {}).get("message") or (command.result or {}).get("error") or command.status
        return "error", {}, str(reason)[:200]
    verdict = judge(requirements, command.result or {})
    return ("passed" if verdict["passed"] else "failed"), verdict, ""


def report(session: Session, room_id: int, *, actor: str = "") -> Report:
    """The room's current check: the latest run over all seats and the re-tests after it,
    each seat's newest result winning; the live progress while kiosks answer."""
    access.check_site_of_room(session, actor, room_id)
    room = room_of(session, room_id)
    last_all = session.scalar(select(EnvCheckRun.id).where(EnvCheckRun.room_id == room.id, EnvCheckRun.scope == "all")
                              .order_by(EnvCheckRun.id.desc()).limit(1))
    if last_all is None:
        return Report(room.id, [], requirements_of(session, None), [])
    runs = list(session.scalars(select(EnvCheckRun).where(EnvCheckRun.room_id == room.id, EnvCheckRun.id >= last_all)
                                .order_by(EnvCheckRun.id)))
    by_run = {r.id: r for r in runs}
    rows = session.execute(select(EnvCheckResult, KioskCommand, Kiosk.hostname, Kiosk.last_address)
                           .outerjoin(KioskCommand, KioskCommand.id == EnvCheckResult.command_id)
                           .outerjoin(Kiosk, Kiosk.id == EnvCheckResult.kiosk_id)
                           .where(EnvCheckResult.run_id.in_(list(by_run))).order_by(EnvCheckResult.run_id))
    newest: dict[int, SeatResult] = {}
    for result, command, hostname, address in rows:
        state, verdict, reason = _state(result, command, by_run[result.run_id].requirements)
        newest[result.seat_number] = SeatResult(
            result.seat_number, result.kiosk_id, hostname or "", address or "", state, result.run_id,
            verdict.get("failed", []), verdict.get("items", {}), command.finished_at if command else None, reason)
    run_dicts = [{"id": r.id, "scope": r.scope, "exam_id": r.exam_id, "started_at": r.started_at,
                  "started_by": r.started_by} for r in runs]
    return Report(room.id, run_dicts, runs[-1].requirements, [newest[n] for n in sorted(newest)])
