"""Monitor-only: enforces nothing. It starts the candidate client given by ``--client-cmd``
(if any), scans for forbidden processes and, on X11 with ``xprop`` (or on Windows), notices
when another window takes focus. Everything it finds is reported to the proctor."""
from __future__ import annotations

import sys

from kiosk_agent.lockdown.base import Lockdown, windows_focused_pid, x11_focused_pid


class MonitorLockdown(Lockdown):
    name = "monitor"
    enforces = ()
    detects = ("forbidden processes (by name, every scan)",
               "focus leaving the candidate client (X11 with xprop, or Windows; not on Wayland)")

    def focused_pid(self) -> int | None:
        return windows_focused_pid() if sys.platform == "win32" else x11_focused_pid()
