"""Lockdown backends behind one interface (``Lockdown`` in base.py): monitor-only,
Linux Chromium kiosk, Windows Edge kiosk. ``make_lockdown(config)`` picks one."""
from __future__ import annotations

from kiosk_agent.config import AgentConfig
from kiosk_agent.lockdown.base import Lockdown
from kiosk_agent.lockdown.linux_chromium import LinuxChromiumLockdown
from kiosk_agent.lockdown.monitor import MonitorLockdown
from kiosk_agent.lockdown.windows_edge import WindowsEdgeLockdown

BACKENDS = {"monitor": MonitorLockdown, "linux-chromium": LinuxChromiumLockdown,
            "windows-edge": WindowsEdgeLockdown}


def make_lockdown(config: AgentConfig) -> Lockdown:
    return BACKENDS[config.lockdown](config)


__all__ = ["Lockdown", "make_lockdown", "BACKENDS", "MonitorLockdown", "LinuxChromiumLockdown",
           "WindowsEdgeLockdown"]
