"""``make run``: wire the sandbox LMS and the bridge together and say where to click.

Idempotent on every start: the sandbox keeps its state in ``instance/sandbox.json`` and the
bridge in its database, so a restart reuses the registration, the activity and the admin.
A simulated room (``DEMO``) of a few real kiosk agents (monitor-only lockdown, power
commands recorded only) connects to the bridge, so the kiosks show up live; their data and
logs are in ``instance/kiosks/``.
"""
from __future__ import annotations

import atexit
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from bridge.db import transaction
from bridge.errors import Conflict, NotFound
from bridge.extensions import db

DEMO_ADMIN = "admin"
TOOL_NAME = "ExamBridge"
DEMO_ROOM = "DEMO"
DEMO_KIOSKS = 4


@dataclass
class Wiring:
    bridge_url: str
    lms_url: str
    client_id: str
    deployment_id: str
    activity_id: int
    admin_user: str
    admin_password: str
    launch_links: list[tuple[str, str]]
    room: str = DEMO_ROOM
    enrolment_code: str | None = None
    kiosks: list = field(default_factory=list)  # the agent processes of the simulated room


def _tool(sandbox, bridge_url: str):
    for tool in sandbox.tools:
        if tool.name == TOOL_NAME and tool.login_url == f"{bridge_url}/lti/login":
            return tool
    return sandbox.register_tool(name=TOOL_NAME, login_url=f"{bridge_url}/lti/login",
                                 launch_url=f"{bridge_url}/lti/launch", deeplink_url=f"{bridge_url}/lti/deeplink",
                                 jwks_url=f"{bridge_url}/lti/jwks", registered_by="demo")


def _admin_password(instance: Path) -> str:
    """A random password for the demo's local admin, kept (0600) in the instance folder.
    Demo only: production has no default account (``exambridge admin create``)."""
    path = instance / "demo_admin_password"
    if path.is_file():
        return path.read_text().strip()
    value = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _demo_room(app) -> str | None:
    """The demo room's kiosk enrolment code (the room is made on the first start)."""
    from bridge.services import devices

    secret = app.config["SECRET_KEY"]
    with app.app_context():
        with transaction() as s:
            try:
                room = devices.room_by_code(s, DEMO_ROOM)
            except NotFound:
                return devices.create_room(s, code=DEMO_ROOM, name="Demo room (simulated kiosks)",
                                           secret_key=secret)[1]
            code = devices.enrolment_code(s, room.id, secret_key=secret)
            if code is None:  # the secret changed since the room was made
                code = devices.rotate_enrolment_code(s, room.id, secret_key=secret)
        db.session.remove()
    return code


def start_kiosks(app, *, bridge_port: int, code: str, count: int = DEMO_KIOSKS) -> list[subprocess.Popen]:
    """``count`` real agent processes registered to the demo room (each with its own data
    directory, hence its own device key). They reconnect on their own while the bridge
    starts, stop with the demo (``--exit-with-parent``, and at exit), and record power
    commands instead of carrying them out."""
    base = Path(app.instance_path) / "kiosks"
    base.mkdir(exist_ok=True)
    procs = []
    for n in range(1, count + 1):
        env = dict(os.environ, EXAMBRIDGE_KIOSK_CODE=code, EXAMBRIDGE_KIOSK_MACHINE_ID=f"exambridge-demo-kiosk-{n}")
        with open(base / f"kiosk-{n}.log", "ab") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "kiosk_agent", "run", "--bridge", f"http://127.0.0.1:{bridge_port}",
                 "--room", DEMO_ROOM, "--data-dir", str(base / f"kiosk-{n}"), "--local-port", "0",
                 "--lockdown", "monitor", "--dry-run-power", "--max-backoff", "2", "--exit-with-parent"],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log))
    atexit.register(stop_kiosks, procs)
    return procs


def stop_kiosks(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wire(app, sandbox, *, bridge_url: str, lms_url: str) -> Wiring:
    from bridge.models.users import User
    from bridge.services import accounts
    from lms_plugin.services import platforms

    tool = _tool(sandbox, bridge_url)
    activity = next((a for a in sandbox.activities if a.client_id == tool.client_id), None) \
        or sandbox.add_activity(tool.client_id, "ExamBridge", created_by="demo")
    password = _admin_password(Path(app.instance_path))
    with app.app_context():
        with transaction() as s:
            try:
                platforms.add_platform(
                    s, issuer=lms_url, client_id=tool.client_id, deployment_ids=[tool.deployment_id],
                    auth_login_url=f"{lms_url}/mod/lti/auth.php", auth_token_url=f"{lms_url}/mod/lti/token.php",
                    jwks_url=f"{lms_url}/mod/lti/certs.php", name="Sandbox LMS (demo)", actor="demo")
            except Conflict:
                pass  # registered on an earlier start
        with transaction() as s:
            if s.scalars(select(User).where(User.username == DEMO_ADMIN)).first() is None:
                accounts.create_admin(s, username=DEMO_ADMIN, password=password, name="Demo admin", actor="demo")
        db.session.remove()
    links = [(f"{u.name} ({u.role_label})", sandbox.launch_url(u.id, activity.id)) for u in sandbox.users]
    code = _demo_room(app)
    kiosks = start_kiosks(app, bridge_port=int(bridge_url.rsplit(":", 1)[1]), code=code) if code else []
    return Wiring(bridge_url=bridge_url, lms_url=lms_url, client_id=tool.client_id,
                  deployment_id=tool.deployment_id, activity_id=activity.id, admin_user=DEMO_ADMIN,
                  admin_password=password, launch_links=links, enrolment_code=code, kiosks=kiosks)


def banner(w: Wiring) -> str:
    lines = [
        "",
        f"  Sandbox LMS (the course):  {w.lms_url}/",
        f"  ExamBridge (the tool):     {w.bridge_url}/",
        f"  Gradebook:                 {w.lms_url}/grade/report",
        f"  Tool admin:                {w.bridge_url}/admin/login   user {w.admin_user}  password {w.admin_password}",
        f"  {'Simulated room ' + w.room + ':':<26} {len(w.kiosks)} kiosk agents (monitor-only), enrolment code "
        f"{w.enrolment_code}; logs in instance/kiosks/",
        "",
        "  Launch into ExamBridge as (open in a browser; the course page has the same links):",
    ]
    width = max((len(name) for name, _ in w.launch_links), default=0) + 2
    lines += [f"    {name:<{width}}{url}" for name, url in w.launch_links]
    lines.append("")
    return "\n".join(lines)
