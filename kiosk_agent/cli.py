"""``exambridge-kiosk``: the exam-PC agent's command line (docs/kiosk.md).

  run          connect to the bridge, serve the exam page on 127.0.0.1, run commands
  export-pack  write the answer pack of the current or last attempt to a folder (USB)
  check        the environment check, printed as JSON
  status       what the agent in this data directory is doing, as JSON
  version      agent and protocol versions
"""
from __future__ import annotations

import argparse
import errno
import getpass
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path

from kiosk_agent import __version__
from kiosk_agent.config import (DEFAULT_FORBIDDEN, DEFAULT_LOCAL_PORT, LOCKDOWN_BACKENDS, AgentConfig,
                                default_data_dir, ensure_data_dir)
from kiosk_agent.errors import AgentError, AlreadyRunning, ConfigError, EnrolmentError
from kiosk_agent.files import read_json
from kiosk_agent.protocol import PROTOCOL_VERSION

log = logging.getLogger("kiosk_agent")
CODE_ENV = "EXAMBRIDGE_KIOSK_CODE"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exambridge-kiosk",
        description="ExamBridge kiosk agent for exam PCs: registers the PC to an exam room, keeps every answer "
                    "in a local journal, forwards it to the bridge and carries out the proctor's commands.")
    parser.add_argument("--log-level", default=os.environ.get("EXAMBRIDGE_KIOSK_LOG", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log detail on stderr (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    data_help = f"the agent's data directory (identity, journal; default {default_data_dir()})"
    run = sub.add_parser("run", help="run the agent (foreground; the service runs this)",
                         description="Connect to the bridge and stay connected (reconnecting on its own), serve "
                                     "the exam page on 127.0.0.1 and carry out the proctor's commands. The first "
                                     "run registers the PC with the room's kiosk enrolment code.")
    run.add_argument("--bridge", required=True, help="the bridge's address, e.g. https://exams.example.edu")
    run.add_argument("--room", required=True, help="the exam room's code")
    run.add_argument("--data-dir", help=data_help)
    run.add_argument("--code", help=f"the room's kiosk enrolment code (first run only; or set {CODE_ENV}; "
                                    f"asked on a terminal otherwise)")
    run.add_argument("--local-port", type=int, default=DEFAULT_LOCAL_PORT,
                     help=f"port of the local endpoint on 127.0.0.1 (default {DEFAULT_LOCAL_PORT}; 0 picks a free one)")
    run.add_argument("--lockdown", choices=LOCKDOWN_BACKENDS, default="monitor",
                     help="monitor (detects only), linux-chromium or windows-edge (default monitor)")
    run.add_argument("--dry-run-power", action="store_true",
                     help="record restart/shutdown commands in power.log instead of carrying them out")
    run.add_argument("--allow-power", action="store_true",
                     help="let the proctor restart and shut down this PC (off by default)")
    run.add_argument("--forbidden", type=_csv, default=DEFAULT_FORBIDDEN,
                     help="comma-separated process names to report (replaces the default list)")
    run.add_argument("--require", type=_csv, default=(), help="comma-separated programs the environment check "
                                                             "requires")
    run.add_argument("--lms-origin", action="append", default=[],
                     help="an LMS origin the kiosk browser may open (repeatable)")
    run.add_argument("--client-cmd", type=shlex.split, default=(),
                     help="command line of the candidate client, {url} replaced by the exam address "
                          "(overrides the backend's browser)")
    run.add_argument("--browser", help="path of the browser the lockdown backend starts")
    run.add_argument("--cage", action="store_true", help="linux-chromium: run Chromium inside the cage compositor")
    run.add_argument("--page-origin", help="the address the exam pages come from, when the agent reaches the "
                                           "bridge by another one (default: the --bridge origin)")
    run.add_argument("--local-clients", choices=("started", "any"),
                     help="who may use the local endpoint: only the candidate client this agent started (started, "
                          "Linux; the default with linux-chromium) or any local program sending the bridge's "
                          "Origin (any; the default otherwise)")
    run.add_argument("--exit-with-parent", action="store_true",
                     help="stop when the process that started the agent ends (the demo's simulated room)")
    run.add_argument("--max-backoff", type=float, default=10.0,
                     help="longest wait between reconnection attempts, in seconds (default 10)")

    export = sub.add_parser("export-pack", help="write an answer pack (.epack) to a folder",
                            description="Write the answer pack of the current or last attempt (or --attempt) to "
                                        "DIR, e.g. a USB stick. Works offline; only the bridge can read the pack.")
    export.add_argument("--to", required=True, help="the folder to write the .epack file to")
    export.add_argument("--attempt", type=int, help="the attempt id (default: the current or last one)")
    export.add_argument("--data-dir", help=data_help)

    check = sub.add_parser("check", help="run the environment check and print it as JSON",
                           description="CPU, memory, free disk, screen, browser, required software and the round "
                                       "trip to the bridge; exit status 0 when the seat passes, 1 when not.")
    check.add_argument("--bridge", help="the bridge's address (for the latency check)")
    check.add_argument("--data-dir", help=data_help)
    check.add_argument("--lockdown", choices=LOCKDOWN_BACKENDS, default="monitor",
                       help="which browser to look for (default monitor: any)")
    check.add_argument("--browser", help="path of the browser to check")
    check.add_argument("--require", type=_csv, default=(), help="comma-separated programs that must be installed")

    status = sub.add_parser("status", help="print the state of the agent in the data directory as JSON",
                            description="Whether an agent runs on this data directory, its kiosk id, seat, "
                                        "connection and journal.")
    status.add_argument("--data-dir", help=data_help)

    sub.add_parser("version", help="print the agent and protocol versions",
                   description="Print the agent and protocol versions.")
    return parser


# ---------------------------------------------------------------------- data directory lock
class DataDirLock:
    """One agent per data directory (an OS lock released when the process dies)."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / "agent.lock"
        self._fh = None

    def acquire(self) -> "DataDirLock":
        self._fh = open(self.path, "a+")
        try:
            if os.name == "nt":  # pragma: no cover - Windows only
                import msvcrt
                msvcrt.locking(self._fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            self._fh = None
            raise AlreadyRunning(f"another agent is running on {self.path.parent}; stop it first "
                                 f"(or pass another --data-dir)") from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(str(os.getpid()))
        self._fh.flush()
        return self

    def held_elsewhere(self) -> bool:
        try:
            self.acquire()
        except AlreadyRunning:
            return True
        self.release()
        return False

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# ---------------------------------------------------------------------- subcommands
def _ask_code(prompt: str) -> str | None:
    if not sys.stdin or not sys.stdin.isatty():
        return None
    try:
        return getpass.getpass(prompt).strip() or None
    except (EOFError, KeyboardInterrupt):
        return None


def cmd_run(args) -> int:
    from kiosk_agent.agent import Agent
    from kiosk_agent.identity import load_or_create
    from kiosk_agent.journal import Journal
    from kiosk_agent.local_endpoint import LocalEndpoint
    from kiosk_agent.lockdown import make_lockdown

    config = AgentConfig.build(
        bridge=args.bridge, room=args.room, data_dir=args.data_dir, local_port=args.local_port,
        lockdown=args.lockdown, dry_run_power=args.dry_run_power, allow_power=args.allow_power,
        forbidden=tuple(args.forbidden), required_software=tuple(args.require), lms_origins=tuple(args.lms_origin),
        client_cmd=tuple(args.client_cmd), browser=args.browser, use_cage=args.cage, max_backoff=args.max_backoff,
        page_origin=args.page_origin, exit_with_parent=args.exit_with_parent, local_clients=args.local_clients)
    ensure_data_dir(config.data_dir)
    lock = DataDirLock(config.data_dir).acquire()
    try:
        identity = load_or_create(config.data_dir)
        if identity.kiosk_id and (identity.room != config.room or (identity.bridge and identity.bridge != config.bridge)):
            log.warning("this PC was registered to room %s at %s; registering to room %s at %s instead",
                        identity.room, identity.bridge, config.room, config.bridge)
            identity.kiosk_id = None
        code = args.code or os.environ.get(CODE_ENV)
        if code:
            identity.code = code.strip()
        if not identity.kiosk_id and not identity.code:
            identity.code = _ask_code(f"Kiosk enrolment code for room {config.room}: ")
            if not identity.code:
                raise EnrolmentError(f"this PC is not registered yet: give the room's kiosk enrolment code with "
                                     f"--code CODE or {CODE_ENV} (the site admin has it)")
        identity.room, identity.bridge = config.room, config.bridge
        identity.save()
        journal = Journal(config.data_dir / "journal")
        agent = Agent(config, identity, journal, make_lockdown(config), ask_code=_ask_code)
        try:
            endpoint = LocalEndpoint(agent, config.origin, config.local_port, config.local_clients)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {config.local_port} on 127.0.0.1 is taken (another agent?): stop it or "
                                  f"pass --local-port") from None
            raise
        agent.local_port = endpoint.port
        endpoint.start()
        log.info("exambridge-kiosk %s: room %s at %s, data %s, local endpoint http://127.0.0.1:%s, lockdown %s",
                 __version__, config.room, config.bridge, config.data_dir, endpoint.port, config.lockdown)
        if identity.replaced:
            log.warning("%s", identity.replaced)
        from kiosk_agent.agent import DISK_LOW_MB
        from kiosk_agent.envcheck import free_disk_mb
        free = free_disk_mb(config.data_dir)
        if free < DISK_LOW_MB:
            log.warning("the disk holding %s has only %d MB free: answers stop being saved on this PC when it is "
                        "full; free some space", config.data_dir, free)

        def on_signal(signum, frame):
            log.info("signal %s: stopping", signum)
            agent.stop()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            return agent.run()
        finally:
            endpoint.stop()
    finally:
        lock.release()


def cmd_export(args) -> int:
    from kiosk_agent.packs import export_pack
    from kiosk_agent.identity import load_or_create
    from kiosk_agent.journal import Journal

    data_dir = Path(args.data_dir or default_data_dir()).absolute()
    if not (data_dir / "identity.json").is_file():
        raise ConfigError(f"{data_dir} holds no agent data (pass --data-dir)")
    identity = load_or_create(data_dir)
    journal = Journal(data_dir / "journal")
    state = read_json(data_dir / "state.json") or {}
    attempt_id = args.attempt or state.get("current_attempt") or (journal.attempts() or [None])[-1]
    if attempt_id is None:
        raise AgentError("there is no attempt in this PC's journal to export")
    path = export_pack(data_dir, journal, identity, int(attempt_id), Path(args.to), state.get("pack_key"))
    damaged = journal.damaged(int(attempt_id))
    if damaged is not None:
        log.error("attempt %s: the journal file is damaged at line %s; the pack holds the %s events before it, the "
                  "%s intact records after it are NOT in the pack (they stay in %s)", attempt_id, damaged["line"],
                  damaged["valid_before"], damaged["valid_after"], damaged["file"])
    print(json.dumps({"path": str(path), "attempt_id": int(attempt_id), "bytes": path.stat().st_size,
                      **({"damaged": damaged} if damaged else {})}))
    return 0


def cmd_check(args) -> int:
    from kiosk_agent.envcheck import run_check

    data_dir = Path(args.data_dir or default_data_dir()).absolute()
    probe = data_dir if data_dir.exists() else Path.cwd()
    result = run_check(data_dir=probe, bridge=args.bridge, lockdown=args.lockdown, browser=args.browser,
                       required=args.require)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0 if result["passed"] else 1


def cmd_status(args) -> int:
    from kiosk_agent.journal import Journal
    from kiosk_agent.errors import JournalError

    data_dir = Path(args.data_dir or default_data_dir()).absolute()
    identity = read_json(data_dir / "identity.json") or {}
    state = read_json(data_dir / "state.json") or {}
    running = data_dir.is_dir() and DataDirLock(data_dir).held_elsewhere()
    journal = {}
    if (data_dir / "journal").is_dir():
        j = Journal(data_dir / "journal")
        for a in j.attempts():
            try:
                journal[str(a)] = {"journal": j.high_water(a), "server": {w: x["seq"] for w, x in j.acked(a).items()},
                                   "damaged": j.damaged(a)}
            except (JournalError, OSError) as exc:  # one unreadable file does not hide the others
                journal[str(a)] = {"damaged": {"error": str(exc)}}
    print(json.dumps({
        "data_dir": str(data_dir), "running": running, "registered": bool(identity.get("kiosk_id")),
        "kiosk_id": identity.get("kiosk_id"), "room": identity.get("room"), "bridge": identity.get("bridge"),
        "online": bool(state.get("online")) and running, "status": state.get("status"), "seat": state.get("seat"),
        "locked": state.get("locked"), "local_port": state.get("local_port") if running else None,
        "current_attempt": state.get("current_attempt"), "last_error": state.get("last_error"),
        "attempts": journal}, ensure_ascii=False, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "DEBUG":  # websocket-client logs every refused connection as an error
        logging.getLogger("websocket").setLevel(logging.CRITICAL)
    if args.command == "version":
        print(f"exambridge-kiosk {__version__} (protocol v{PROTOCOL_VERSION})")
        return 0
    commands = {"run": cmd_run, "export-pack": cmd_export, "check": cmd_check, "status": cmd_status}
    if args.command not in commands:
        parser.print_help()
        return 2
    try:
        return commands[args.command](args)
    except AgentError as exc:
        print(f"exambridge-kiosk: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
