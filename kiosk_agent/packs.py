"""Writing an answer pack to a folder (a USB stick), from the running agent or offline."""
from __future__ import annotations

import os
import time
from pathlib import Path

from kiosk_agent import __version__
from kiosk_agent.errors import AgentError
from kiosk_agent.identity import Identity
from kiosk_agent.journal import Journal
from kiosk_agent.errors import JournalError


def export_pack(data_dir: Path, journal: Journal, identity: Identity, attempt_id: int, directory: Path | None,
                pack_key: str | None) -> Path:
    """Write the ``.epack`` of ``attempt_id`` to ``directory`` (default ``<data dir>/packs``),
    fsynced and renamed into place; returns its path."""
    if not pack_key:
        raise AgentError("the bridge's pack key is not known yet: this PC must have connected to the bridge once "
                         "before it can export an answer pack")
    if attempt_id not in journal.attempts():
        raise AgentError(f"attempt {attempt_id} is not in this PC's journal")
    try:
        data = journal.export_pack(attempt_id, device_private_key=identity.private_key, bridge_public_key=pack_key,
                                   kiosk_id=identity.kiosk_id, agent_version=__version__)
    except (JournalError, ValueError) as exc:
        raise AgentError(f"cannot export attempt {attempt_id}: {exc}") from None
    target = Path(directory) if directory else data_dir / "packs"
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AgentError(f"cannot write to {target}: {exc.strerror}") from None
    name = f"attempt-{attempt_id}-kiosk-{identity.kiosk_id or 'new'}-{time.strftime('%Y%m%dT%H%M%S')}.epack"
    path, tmp = target / name, target / (name + ".part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise AgentError(f"cannot write the pack to {target}: {exc.strerror}") from None
    return path
