"""The interface every lockdown backend implements, and what they share: starting and
stopping the candidate client as a real child process, the forbidden-process watcher and
focus tracking. A backend lists what it *enforces* (the OS or browser prevents it) and what
it only *detects* (the agent notices and reports); docs/kiosk.md repeats both lists."""
from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from kiosk_agent.config import AgentConfig
from kiosk_agent.errors import LockdownError
from kiosk_agent.lockdown.procwatch import ProcessWatcher

log = logging.getLogger(__name__)


class Lockdown:
    name = "base"
    enforces: tuple[str, ...] = ()
    detects: tuple[str, ...] = ("forbidden processes (by name, every scan)",)

    def __init__(self, config: AgentConfig):
        self.config = config
        self.watcher = ProcessWatcher(config.forbidden)
        self._client: subprocess.Popen | None = None
        self._focus: bool | None = None

    # --- set-up -------------------------------------------------------------------------
    def prepare(self) -> list[dict]:
        """Install what the backend needs before a client starts (policies); returns
        ``lockdown_failed`` report details for anything it could not do."""
        return []

    def describe(self) -> dict:
        return {"backend": self.name, "enforces": list(self.enforces), "detects": list(self.detects)}

    # --- the candidate client ------------------------------------------------------------
    def client_argv(self, url: str) -> list[str]:
        if self.config.client_cmd:
            return [part.replace("{url}", url) for part in self.config.client_cmd]
        raise LockdownError(f"the {self.name} lockdown has no candidate client to start: "
                            f"pass --client-cmd (e.g. \"firefox --kiosk {{url}}\")")

    def client_env(self) -> dict:
        return dict(os.environ)

    def start_client(self, url: str) -> dict:
        if self.client_running():
            return {"pid": self._client.pid, "already_running": True}
        argv = self.client_argv(url)
        if not shutil.which(argv[0]) and not Path(argv[0]).is_file():
            raise LockdownError(f"cannot start the candidate client: {argv[0]} is not installed")
        logfile = open(self.config.data_dir / "client.log", "ab")
        try:
            kwargs = {"start_new_session": True} if os.name == "posix" else \
                {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
            self._client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
                                            env=self.client_env(), **kwargs)
        except OSError as exc:
            raise LockdownError(f"cannot start the candidate client ({shlex.join(argv)}): {exc.strerror}") from None
        finally:
            logfile.close()
        log.info("candidate client started (pid %s): %s", self._client.pid, shlex.join(argv))
        return {"pid": self._client.pid, "argv": argv}

    def close_client(self, timeout: float = 5.0) -> dict:
        proc, self._client = self._client, None
        if proc is None or proc.poll() is not None:
            return {"running": False, "returncode": None if proc is None else proc.returncode}
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGTERM)
            else:  # pragma: no cover - Windows only
                proc.terminate()
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover
                proc.kill()
            proc.wait(timeout)
        log.info("candidate client closed (pid %s, exit %s)", proc.pid, proc.returncode)
        return {"pid": proc.pid, "returncode": proc.returncode}

    def client_running(self) -> bool:
        return self._client is not None and self._client.poll() is None

    @property
    def client_pid(self) -> int | None:
        return self._client.pid if self.client_running() else None

    # --- watching ---------------------------------------------------------------------------
    def focused_pid(self) -> int | None:
        """The pid owning the focused window, or None where that cannot be known."""
        return None

    def focus(self) -> bool | None:
        """True/False while a client runs and focus is detectable; None otherwise."""
        pid = self.client_pid
        if pid is None:
            return None
        focused = self.focused_pid()
        if focused is None:
            return None
        return focused == pid or _descends_from(focused, pid)

    def poll(self) -> list[tuple[str, dict]]:
        """Reports since the last poll: (kind, detail) with kind forbidden_process, focus_lost,
        or lockdown_failed when the candidate client exited without close_client."""
        reports = [("forbidden_process", found) for found in self.watcher.scan()]
        if self._client is not None and self._client.poll() is not None:
            proc, self._client = self._client, None
            reports.append(("lockdown_failed", {"backend": self.name, "step": "client_exited", "pid": proc.pid,
                                                "returncode": proc.returncode,
                                                "message": f"the candidate client exited by itself (exit code "
                                                           f"{proc.returncode}); start it again from the console"}))
        now = self.focus()
        if self._focus is True and now is False:
            reports.append(("focus_lost", {"focused_pid": self.focused_pid(), "backend": self.name}))
        self._focus = now
        return reports

    def stop(self) -> None:
        self.close_client()


def _descends_from(pid: int, ancestor: int) -> bool:
    """Whether ``pid`` is ``ancestor`` or one of its descendants (Linux /proc)."""
    for _ in range(64):
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid <= 1:
            return False
    return False


def x11_focused_pid() -> int | None:
    """The pid of the focused X11 window through ``xprop`` (None without X11 or xprop, and
    on Wayland, where no client may ask which window has focus)."""
    if not os.environ.get("DISPLAY") or not shutil.which("xprop"):
        return None
    try:
        root = subprocess.run(["xprop", "-root", "_NET_ACTIVE_WINDOW"], capture_output=True, text=True, timeout=2)
        window = root.stdout.strip().split()[-1]
        if not window.startswith("0x") or int(window, 16) == 0:
            return None
        out = subprocess.run(["xprop", "-id", window, "_NET_WM_PID"], capture_output=True, text=True, timeout=2)
        return int(out.stdout.strip().split()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def windows_focused_pid() -> int | None:  # pragma: no cover - Windows only
    if sys.platform != "win32":
        return None
    import ctypes
    from ctypes import wintypes
    hwnd = ctypes.windll.user32.GetForegroundWindow()
    if not hwnd:
        return None
    pid = wintypes.DWORD()
    ctypes.windll.user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
    return int(pid.value) or None


def wait_for_exit(pid: int, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
