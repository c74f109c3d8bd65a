"""Forbidden-process detection without psutil: /proc on Linux, ``tasklist`` on Windows.

``ProcessWatcher.scan()`` returns the forbidden processes that appeared since the last scan
(each pid is reported once while it lives).
"""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    name: str
    exe: str | None = None


def _norm(name: str) -> str:
    name = name.strip().lower()
    return name[:-4] if name.endswith(".exe") else name


def list_processes() -> list[ProcessInfo]:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        out = subprocess.run(["tasklist", "/fo", "csv", "/nh"], capture_output=True, text=True, timeout=20)
        return [ProcessInfo(int(row[1]), row[0]) for row in csv.reader(io.StringIO(out.stdout))
                if len(row) > 1 and row[1].isdigit()]
    proc = Path("/proc")
    if not proc.is_dir():
        out = subprocess.run(["ps", "-axo", "pid=,comm="], capture_output=True, text=True, timeout=20)
        result = []
        for line in out.stdout.splitlines():
            pid, _, comm = line.strip().partition(" ")
            if pid.isdigit():
                result.append(ProcessInfo(int(pid), os.path.basename(comm.strip())))
        return result
    result = []
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            comm = (proc / entry.name / "comm").read_text().strip()
        except OSError:
            continue  # gone, or not ours to read
        exe = None
        try:
            argv0 = (proc / entry.name / "cmdline").read_bytes().split(b"\0", 1)[0]
            exe = os.path.basename(argv0.decode("utf-8", "replace")) or None
        except OSError:
            pass
        result.append(ProcessInfo(int(entry.name), comm, exe))
    return result


class ProcessWatcher:
    def __init__(self, forbidden: tuple[str, ...] | list[str]):
        self.forbidden = {_norm(n) for n in forbidden if n.strip()}
        self._seen: set[int] = set()

    def matches(self, info: ProcessInfo) -> str | None:
        for candidate in (info.name, info.exe):
            # /proc/<pid>/comm holds at most 15 characters: compare the truncated name too
            if candidate and (_norm(candidate) in self.forbidden or
                              (len(candidate) == 15 and any(f.startswith(_norm(candidate)) for f in self.forbidden))):
                return _norm(candidate)
        return None

    def scan(self) -> list[dict]:
        found, alive = [], set()
        for info in list_processes():
            name = self.matches(info)
            if name is None:
                continue
            alive.add(info.pid)
            if info.pid not in self._seen:
                found.append({"name": name, "pid": info.pid, "process": info.name, "exe": info.exe})
        self._seen = alive
        return found
