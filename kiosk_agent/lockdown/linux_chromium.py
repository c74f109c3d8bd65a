"""Linux: Chromium in kiosk mode with a dedicated profile and a managed policy, optionally
inside the ``cage`` Wayland kiosk compositor (then nothing but the browser is on screen).

Chromium reads managed policies only from ``/etc/chromium/policies/managed/`` (Debian's
chromium; Google Chrome: ``/etc/opt/chrome/policies/managed/``), which only root can write.
The agent writes the policy there when it runs as root (the systemd unit does); otherwise it
keeps a copy in the data directory and reports ``lockdown_failed`` saying how to install it,
because a kiosk-mode browser without its policy would still offer devtools, downloads and
printing.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from kiosk_agent.errors import LockdownError
from kiosk_agent.files import write_json
from kiosk_agent.lockdown.base import Lockdown, x11_focused_pid

log = logging.getLogger(__name__)
POLICY_NAME = "exambridge-kiosk.json"
POLICY_DIRS = (Path("/etc/chromium/policies/managed"), Path("/etc/opt/chrome/policies/managed"))
BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")


def url_pattern(origin: str) -> str:
    """A Chromium URL-filter pattern for one origin (scheme://host:port, every path)."""
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}"


def chromium_policy(bridge_origin: str, lms_origins=(), local_port: int | None = None) -> dict:
    """The managed policy: only the bridge (and LMS) origins load, no devtools, downloads or
    printing, and the bridge's pages may reach the agent on 127.0.0.1 (Local Network Access)."""
    allowed = [url_pattern(bridge_origin), *(url_pattern(o) for o in lms_origins)]
    if local_port:
        allowed.append(f"http://127.0.0.1:{local_port}")
    return {
        "DeveloperToolsAvailability": 2,   # devtools disallowed everywhere
        "DownloadRestrictions": 3,         # block all downloads
        "PrintingEnabled": False,
        "URLBlocklist": ["*"],
        "URLAllowlist": allowed,
        "LocalNetworkAccessAllowedForUrls": [url_pattern(bridge_origin)],
        "IncognitoModeAvailability": 1,    # no incognito windows
        "BrowserGuestModeEnabled": False,
        "BrowserAddPersonEnabled": False,
        "PasswordManagerEnabled": False,
        "AutofillAddressEnabled": False,
        "AutofillCreditCardEnabled": False,
        "TranslateEnabled": False,
        "TaskManagerEnabled": False,
        "ExtensionInstallBlocklist": ["*"],
        "ScreenCaptureAllowed": False,
        "AudioCaptureAllowed": False,
        "VideoCaptureAllowed": False,
        "DefaultBrowserSettingEnabled": False,
        "MetricsReportingEnabled": False,
    }


class LinuxChromiumLockdown(Lockdown):
    name = "linux-chromium"
    enforces = ("full-screen kiosk window without address bar or tabs (--kiosk)",
                "only the bridge and LMS origins load (URLAllowlist / URLBlocklist)",
                "no developer tools, downloads, printing, incognito or guest windows (managed policy)",
                "nothing else on screen and no window switching when run under cage")
    detects = ("forbidden processes (by name, every scan)",
               "focus leaving the browser (X11 with xprop; under cage nothing else can take focus)")

    def browser_path(self) -> str:
        if self.config.browser:
            found = shutil.which(self.config.browser) or (self.config.browser if Path(self.config.browser).is_file()
                                                          else None)
            if not found:
                raise LockdownError(f"the browser {self.config.browser} is not installed")
            return found
        for name in BROWSERS:
            found = shutil.which(name)
            if found:
                return found
        raise LockdownError("Chromium is not installed (apt install chromium), or pass --browser PATH")

    def policy(self) -> dict:
        return chromium_policy(self.config.origin, self.config.lms_origins, self.config.local_port or None)

    def profile_dir(self) -> Path:
        return self.config.data_dir / "chromium-profile"

    def prepare(self) -> list[dict]:
        policy = self.policy()
        write_json(self.config.data_dir / POLICY_NAME, policy, mode=0o644)
        failures = []
        installed = []
        for directory in POLICY_DIRS:
            if directory == POLICY_DIRS[1] and not directory.parent.parent.exists():
                continue  # Google Chrome is not installed
            try:
                directory.mkdir(parents=True, exist_ok=True)
                write_json(directory / POLICY_NAME, policy, mode=0o644)
                installed.append(str(directory / POLICY_NAME))
            except OSError as exc:
                failures.append({"backend": self.name, "step": "policy",
                                 "message": f"cannot write {directory / POLICY_NAME} ({exc.strerror}): run the agent "
                                            f"as root or install {self.config.data_dir / POLICY_NAME} there by hand; "
                                            f"until then devtools, downloads and printing are NOT blocked"})
        if installed:
            log.info("Chromium policy installed: %s", ", ".join(installed))
        return failures

    def client_argv(self, url: str) -> list[str]:
        if self.config.client_cmd:
            return super().client_argv(url)
        argv = [self.browser_path(), "--kiosk", f"--user-data-dir={self.profile_dir()}",
                "--no-first-run", "--no-default-browser-check", "--noerrdialogs", "--disable-infobars",
                "--disable-session-crashed-bubble", "--disable-translate", "--disable-features=Translate",
                "--overscroll-history-navigation=0", "--disable-pinch", "--password-store=basic", url]
        if self.config.use_cage:
            cage = shutil.which("cage")
            if not cage:
                raise LockdownError("--cage was asked for but cage is not installed (apt install cage)")
            argv = [cage, "-d", "--", *argv, "--ozone-platform=wayland"]
        return argv

    def focused_pid(self) -> int | None:
        return None if self.config.use_cage else x11_focused_pid()

    def browser_version(self) -> str | None:
        try:
            out = subprocess.run([self.browser_path(), "--version"], capture_output=True, text=True, timeout=15)
        except (OSError, LockdownError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() or None


def read_installed_policy() -> dict | None:
    for directory in POLICY_DIRS:
        try:
            return json.loads((directory / POLICY_NAME).read_text())
        except (OSError, ValueError):
            continue
    return None


__all__ = ["LinuxChromiumLockdown", "chromium_policy", "read_installed_policy"]
