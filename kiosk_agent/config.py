"""The agent's configuration: one dataclass, validated once (``AgentConfig.build``)."""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from kiosk_agent.errors import ConfigError

DEFAULT_LOCAL_PORT = 47610
LOCKDOWN_BACKENDS = ("monitor", "linux-chromium", "windows-edge")
LOCAL_CLIENTS = ("started", "any")
#: Names of programs a candidate must not run during an exam (matched without ".exe",
#: case-insensitively, against the process name and its executable's file name). An
#: exam's own list replaces it (``--forbidden``).
DEFAULT_FORBIDDEN = ("teamviewer", "anydesk", "rustdesk", "vncviewer", "x11vnc", "obs", "obs64",
                     "wechat", "qq", "discord", "zoom", "skype", "telegram", "slack", "chatgpt")
_ROOM_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def default_data_dir() -> Path:
    """Per OS: the service's state directory (root / SYSTEM) or the user's."""
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "ExamBridge" / "Kiosk"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "ExamBridge Kiosk"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/exambridge-kiosk")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "exambridge-kiosk"


def bridge_origin(url: str) -> str:
    """``http(s)://host[:port]`` of the bridge, as browsers send it in ``Origin``."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def ws_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}/ws/kiosk"


@dataclass(frozen=True)
class AgentConfig:
    bridge: str
    room: str
    data_dir: Path
    local_port: int = DEFAULT_LOCAL_PORT
    lockdown: str = "monitor"
    dry_run_power: bool = False
    allow_power: bool = False
    forbidden: tuple[str, ...] = DEFAULT_FORBIDDEN
    required_software: tuple[str, ...] = ()
    lms_origins: tuple[str, ...] = ()
    client_cmd: tuple[str, ...] = ()
    browser: str | None = None
    use_cage: bool = False
    page_origin: str | None = None  # where the exam pages come from, when not the --bridge address
    #: who may use the local endpoint: "started" (only the candidate client the agent started,
    #: Linux) or "any" (any local program sending the bridge's Origin); default by backend
    local_clients: str | None = None
    max_backoff: float = 10.0
    exit_with_parent: bool = False
    scan_seconds: float = 2.0
    extra: dict = field(default_factory=dict)

    @property
    def origin(self) -> str:
        """The origin the exam pages are served from: the only one the local endpoint
        answers, the kiosk browser may open and reach the agent from."""
        return self.page_origin or bridge_origin(self.bridge)

    @property
    def ws_url(self) -> str:
        return ws_url(self.bridge)

    @classmethod
    def build(cls, *, bridge: str, room: str, data_dir: str | os.PathLike | None = None, **options) -> "AgentConfig":
        parts = urlsplit(bridge or "")
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ConfigError(f"--bridge must be the bridge's address, like https://exams.example.edu "
                              f"(got {bridge!r})")
        if parts.scheme in ("http", "ws") and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError("--bridge must use https:// (plain http:// is allowed on 127.0.0.1 only)")
        if not room or not _ROOM_RE.match(room):
            raise ConfigError(f"--room must be the room code (letters, digits, . _ -), got {room!r}")
        port = int(options.get("local_port", DEFAULT_LOCAL_PORT))
        if not 0 <= port <= 65535:
            raise ConfigError(f"--local-port must be between 0 and 65535 (got {port})")
        options["local_port"] = port
        lockdown = options.get("lockdown", "monitor")
        if lockdown not in LOCKDOWN_BACKENDS:
            raise ConfigError(f"--lockdown must be one of {', '.join(LOCKDOWN_BACKENDS)} (got {lockdown!r})")
        for origin in options.get("lms_origins", ()):
            if urlsplit(origin).scheme not in ("http", "https"):
                raise ConfigError(f"--lms-origin must look like https://lms.example.edu (got {origin!r})")
        clients = options.get("local_clients")
        if clients is None:
            options["local_clients"] = "started" if lockdown == "linux-chromium" and sys.platform == "linux" else "any"
        elif clients not in LOCAL_CLIENTS:
            raise ConfigError(f"--local-clients must be started or any (got {clients!r})")
        elif clients == "started" and sys.platform != "linux":
            raise ConfigError("--local-clients started needs Linux (it asks /proc which process connects); use any")
        page_origin = options.get("page_origin")
        if page_origin:
            if urlsplit(page_origin).scheme not in ("http", "https") or not urlsplit(page_origin).hostname:
                raise ConfigError(f"--page-origin must look like https://exams.example.edu (got {page_origin!r})")
            options["page_origin"] = bridge_origin(page_origin)
        base = bridge.rstrip("/")
        return cls(bridge=base, room=room, data_dir=Path(data_dir or default_data_dir()).absolute(), **options)


def ensure_data_dir(path: Path) -> Path:
    """Create the data directory, private to the agent's account (0700 on POSIX)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(path, 0o700)
    except PermissionError:
        raise ConfigError(f"cannot create or protect the data directory {path}: permission denied "
                          f"(run as the service account, or pass --data-dir)") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the data directory {path}: {exc.strerror}") from None
    return path
