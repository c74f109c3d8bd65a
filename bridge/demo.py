"""``make run``: wire the sandbox LMS and the bridge together and say where to click.

Idempotent on every start: the sandbox keeps its state in ``instance/sandbox.json`` and the
bridge in its database, so a restart reuses the registration, the activity and the admin.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bridge.db import transaction
from bridge.errors import Conflict
from bridge.extensions import db

DEMO_ADMIN = "admin"
TOOL_NAME = "ExamBridge"


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
    return Wiring(bridge_url=bridge_url, lms_url=lms_url, client_id=tool.client_id,
                  deployment_id=tool.deployment_id, activity_id=activity.id, admin_user=DEMO_ADMIN,
                  admin_password=password, launch_links=links)


def banner(w: Wiring) -> str:
    lines = [
        "",
        f"  Sandbox LMS (the course):  {w.lms_url}/",
        f"  ExamBridge (the tool):     {w.bridge_url}/",
        f"  Gradebook:                 {w.lms_url}/grade/report",
        f"  Tool admin:                {w.bridge_url}/admin/login   user {w.admin_user}  password {w.admin_password}",
        "",
        "  Launch into ExamBridge as (open in a browser; the course page has the same links):",
    ]
    width = max((len(name) for name, _ in w.launch_links), default=0) + 2
    lines += [f"    {name:<{width}}{url}" for name, url in w.launch_links]
    lines.append("")
    return "\n".join(lines)
