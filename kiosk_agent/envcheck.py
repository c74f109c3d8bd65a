"""The environment check (K7, V3): what this PC has, each item with pass/fail and, where a
value cannot be known here, ``null`` plus the reason. ``run_check`` returns plain JSON-able
data; ``exambridge-kiosk check`` prints it and the agent sends it as report ``env_check``."""
from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from kiosk_agent import __version__

#: The minimum a seat needs; an exam's own list of required software comes with the command.
THRESHOLDS = {"cpu_cores": 2, "memory_mb": 2048, "free_disk_mb": 1024, "screen_width": 1024,
              "screen_height": 768, "latency_ms": 500}
BROWSER_NAMES = {"linux-chromium": ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"),
                 "windows-edge": ("msedge",),
                 "monitor": ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "msedge",
                             "firefox")}


def memory_mb() -> tuple[int | None, str | None]:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024, None
    except OSError:
        pass
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                        ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                        ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                        ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                        ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]
        status = MemoryStatus(dwLength=ctypes.sizeof(MemoryStatus))
        ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))
        return status.ullTotalPhys // (1 << 20), None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20), None
    except (ValueError, OSError, AttributeError):
        return None, "the total memory cannot be read on this system"


def free_disk_mb(path: Path) -> int:
    return shutil.disk_usage(path).free // (1 << 20)


def screen_resolution() -> dict:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import ctypes
        user32 = ctypes.windll.user32
        return {"width": user32.GetSystemMetrics(0), "height": user32.GetSystemMetrics(1), "reason": None}
    if not os.environ.get("DISPLAY"):
        return {"width": None, "height": None,
                "reason": "no X display (DISPLAY is not set): the agent runs without a screen session"}
    if not shutil.which("xrandr"):
        return {"width": None, "height": None, "reason": "xrandr is not installed (apt install x11-xserver-utils)"}
    try:
        out = subprocess.run(["xrandr", "--current"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"width": None, "height": None, "reason": f"xrandr failed: {exc}"}
    match = re.search(r"current (\d+) x (\d+)", out.stdout)
    if not match:
        return {"width": None, "height": None, "reason": f"xrandr gave no current size: {out.stderr.strip()[:200]}"}
    return {"width": int(match.group(1)), "height": int(match.group(2)), "reason": None}


def browser_info(lockdown: str, configured: str | None = None) -> dict:
    names = (configured,) if configured else BROWSER_NAMES.get(lockdown, BROWSER_NAMES["monitor"])
    for name in names:
        path = shutil.which(name) or (name if name and Path(name).is_file() else None)
        if not path:
            continue
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
            version = out.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            version = None
        return {"name": Path(path).name, "path": path, "version": version,
                "reason": None if version else "the browser did not print its version"}
    if lockdown == "windows-edge" and sys.platform != "win32":
        return {"name": None, "path": None, "version": None, "reason": "Microsoft Edge is checked on Windows only"}
    return {"name": None, "path": None, "version": None, "reason": f"no browser found (looked for {', '.join(names)})"}


def software(required: tuple[str, ...] | list[str]) -> list[dict]:
    result = []
    for name in required:
        path = shutil.which(name)
        result.append({"name": name, "found": path is not None, "path": path})
    return result


def latency(bridge: str | None, samples: int = 3, timeout: float = 5.0) -> dict:
    """Round trip of ``GET /healthz`` on the bridge (median of a few), in milliseconds."""
    if not bridge:
        return {"median_ms": None, "samples_ms": [], "reason": "no bridge address given"}
    url = bridge.rstrip("/") + "/healthz"
    times, error = [], None
    for _ in range(samples):
        start = time.perf_counter()
        try:
            with urlopen(url, timeout=timeout) as response:
                response.read()
            times.append(round((time.perf_counter() - start) * 1000, 1))
        except (URLError, OSError, socket.timeout) as exc:
            error = f"{url} unreachable: {getattr(exc, 'reason', exc)}"
    if not times:
        return {"median_ms": None, "samples_ms": [], "reason": error}
    return {"median_ms": statistics.median(times), "samples_ms": times, "reason": None}


def run_check(*, data_dir: Path, bridge: str | None = None, lockdown: str = "monitor",
              browser: str | None = None, required: tuple[str, ...] | list[str] = (),
              measured_rtt_ms: float | None = None) -> dict:
    """Everything V3 lists, each with pass/fail; ``passed`` is true when every item that can be
    judged passes (unknown items are listed in ``unknown`` and do not fail the seat)."""
    mem, mem_reason = memory_mb()
    disk = free_disk_mb(data_dir)
    screen = screen_resolution()
    browser_result = browser_info(lockdown, browser)
    programs = software(required)
    net = latency(bridge)
    if net["median_ms"] is None and measured_rtt_ms is not None:
        net = {"median_ms": measured_rtt_ms, "samples_ms": [measured_rtt_ms], "reason": None}
    cores = os.cpu_count()
    checks = {
        "cpu": cores is not None and cores >= THRESHOLDS["cpu_cores"],
        "memory": None if mem is None else mem >= THRESHOLDS["memory_mb"],
        "disk": disk >= THRESHOLDS["free_disk_mb"],
        "screen": None if screen["width"] is None else (screen["width"] >= THRESHOLDS["screen_width"]
                                                        and screen["height"] >= THRESHOLDS["screen_height"]),
        "browser": browser_result["path"] is not None,
        "software": all(item["found"] for item in programs),
        "latency": None if net["median_ms"] is None else net["median_ms"] <= THRESHOLDS["latency_ms"],
    }
    return {
        "checked_at": time.time(), "agent_version": __version__, "hostname": socket.gethostname(),
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
                     "python": platform.python_version()},
        "cpu": {"cores": cores, "model": platform.processor() or None},
        "memory": {"total_mb": mem, "reason": mem_reason},
        "disk": {"free_mb": disk, "path": str(data_dir)},
        "screen": screen, "browser": browser_result, "software": programs, "latency": net,
        "thresholds": THRESHOLDS, "checks": checks,
        "failed": sorted(name for name, ok in checks.items() if ok is False),
        "unknown": sorted(name for name, ok in checks.items() if ok is None),
        "passed": all(ok is not False for ok in checks.values()),
    }
