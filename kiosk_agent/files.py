"""Small durable-file helpers: JSON written to a temp file, fsynced, renamed into place."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from kiosk_agent.errors import DiskFullError


def write_json(path: Path, value: Any, *, mode: int = 0o600) -> None:
    """Replace ``path`` atomically with ``value``; raises DiskFullError when the disk is full."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(f"the disk holding {path.parent} is full: free some space "
                                f"(answers cannot be kept on this PC until then)") from None
        raise


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return default


def fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
