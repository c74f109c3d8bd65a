"""Windows: Microsoft Edge in kiosk mode (``--kiosk URL --edge-kiosk-type=fullscreen``) with a
dedicated profile; its policies are registry values under
``HKLM\\SOFTWARE\\Policies\\Microsoft\\Edge``. The agent writes them when it runs as an
administrator on Windows (the service does); it always writes ``edge-policy.reg`` in the data
directory for an administrator to import. Assigned Access (a kiosk account that can run
only Edge) is set up by the administrator, not by the agent: docs/kiosk.md gives the steps.

This code path cannot run on Linux; it says so (LockdownError) instead of pretending.
It has been exercised here only for its command line and .reg file, never on Windows.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from kiosk_agent.errors import LockdownError
from kiosk_agent.lockdown.base import Lockdown, windows_focused_pid
from kiosk_agent.lockdown.linux_chromium import chromium_policy

EDGE_POLICY_KEY = r"SOFTWARE\Policies\Microsoft\Edge"
EDGE_PATHS = (r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
              r"C:\Program Files\Microsoft\Edge\Application\msedge.exe")


def edge_policy(bridge_origin: str, lms_origins=(), local_port: int | None = None) -> dict:
    policy = chromium_policy(bridge_origin, lms_origins, local_port)
    policy.pop("TaskManagerEnabled", None)  # not an Edge policy
    return policy


def reg_file(policy: dict) -> str:
    """The policy as a .reg file (lists become numbered subkeys, as Edge expects)."""
    lines = ["Windows Registry Editor Version 5.00", "", f"[HKEY_LOCAL_MACHINE\\{EDGE_POLICY_KEY}]"]
    lists = {}
    for name, value in sorted(policy.items()):
        if isinstance(value, list):
            lists[name] = value
        elif isinstance(value, bool):
            lines.append(f'"{name}"=dword:{int(value):08x}')
        else:
            lines.append(f'"{name}"=dword:{int(value):08x}')
    for name, values in lists.items():
        lines += ["", f"[HKEY_LOCAL_MACHINE\\{EDGE_POLICY_KEY}\\{name}]"]
        lines += [f'"{i}"="{v}"' for i, v in enumerate(values, start=1)]
    return "\r\n".join(lines) + "\r\n"


class WindowsEdgeLockdown(Lockdown):
    name = "windows-edge"
    enforces = ("full-screen Edge kiosk window (--kiosk --edge-kiosk-type=fullscreen)",
                "only the bridge and LMS origins load, no devtools, downloads or printing (Edge policy, "
                "when the registry values are in place)",
                "only Edge runs for the kiosk account when Assigned Access is configured (by an administrator)")
    detects = ("forbidden processes (tasklist, every scan)", "focus leaving Edge (GetForegroundWindow)")

    def policy(self) -> dict:
        return edge_policy(self.config.origin, self.config.lms_origins, self.config.local_port or None)

    def prepare(self) -> list[dict]:
        path = self.config.data_dir / "edge-policy.reg"
        path.write_text(reg_file(self.policy()), encoding="utf-16")
        if sys.platform != "win32":
            return [{"backend": self.name, "step": "platform",
                     "message": f"windows-edge runs only on Windows (this is {sys.platform}); nothing is enforced "
                                f"here. The policy is at {path}"}]
        return self._write_registry()  # pragma: no cover - Windows only

    def _write_registry(self) -> list[dict]:  # pragma: no cover - Windows only
        import winreg
        try:
            with winreg.CreateKeyEx(winreg.HKEY_LOCAL_MACHINE, EDGE_POLICY_KEY, 0, winreg.KEY_WRITE) as key:
                for name, value in self.policy().items():
                    if isinstance(value, list):
                        with winreg.CreateKeyEx(key, name, 0, winreg.KEY_WRITE) as sub:
                            for i, item in enumerate(value, start=1):
                                winreg.SetValueEx(sub, str(i), 0, winreg.REG_SZ, item)
                    else:
                        winreg.SetValueEx(key, name, 0, winreg.REG_DWORD, int(value))
        except OSError as exc:
            return [{"backend": self.name, "step": "policy",
                     "message": f"cannot write the Edge policy to HKLM ({exc}): run the agent as an administrator "
                                f"or import {self.config.data_dir / 'edge-policy.reg'}"}]
        return []

    def edge_path(self) -> str:
        if self.config.browser:
            return self.config.browser
        for candidate in EDGE_PATHS:
            if Path(candidate).is_file():
                return candidate
        found = shutil.which("msedge")
        if found:
            return found
        if sys.platform != "win32":
            return EDGE_PATHS[0]  # for the command line only: starting it will refuse below
        raise LockdownError("Microsoft Edge is not installed, or pass --browser PATH")

    def client_argv(self, url: str) -> list[str]:
        if self.config.client_cmd:
            return super().client_argv(url)
        profile = self.config.data_dir / "edge-profile"
        return [self.edge_path(), "--kiosk", url, "--edge-kiosk-type=fullscreen", "--no-first-run",
                f"--user-data-dir={profile}", "--kiosk-idle-timeout-minutes=0"]

    def start_client(self, url: str) -> dict:
        if sys.platform != "win32" and not self.config.client_cmd:
            raise LockdownError(f"windows-edge cannot start Edge on {sys.platform}: this backend runs only on "
                                f"Windows")
        return super().start_client(url)

    def focused_pid(self) -> int | None:
        return windows_focused_pid()


__all__ = ["WindowsEdgeLockdown", "edge_policy", "reg_file"]
