"""The device identity: an Ed25519 key made on first run and bound to this machine.

``identity.json`` in the data directory holds the private key, the kiosk id the bridge gave
it and ``machine``: sha256 of the machine id and the data directory's absolute path. When
that no longer matches (the directory was copied to another PC, or moved), the old identity
is set aside and a fresh key registers again: a copied install never passes for the
original kiosk.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent.errors import IdentityError
from kiosk_agent.files import read_json, write_json

log = logging.getLogger(__name__)
SIGNING_CONTEXT = "exambridge-kiosk-v1"
IDENTITY_FILE = "identity.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def machine_id() -> str:
    """The OS's stable machine id: /etc/machine-id (systemd), the Windows MachineGuid, the
    macOS platform UUID. ``EXAMBRIDGE_KIOSK_MACHINE_ID`` overrides it (tests, images that
    regenerate the id at first boot)."""
    override = os.environ.get("EXAMBRIDGE_KIOSK_MACHINE_ID")
    if override:
        return override.strip()
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import winreg
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography",
                            0, winreg.KEY_READ | winreg.KEY_WOW64_64KEY) as key:
            return str(winreg.QueryValueEx(key, "MachineGuid")[0])
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        out = subprocess.run(["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if "IOPlatformUUID" in line:
                return line.split('"')[-2]
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            value = Path(candidate).read_text().strip()
        except OSError:
            continue
        if value:
            return value
    raise IdentityError("this machine has no machine id (/etc/machine-id is missing or empty): "
                        "run `systemd-machine-id-setup` or set EXAMBRIDGE_KIOSK_MACHINE_ID")


def machine_fingerprint(data_dir: Path) -> str:
    return hashlib.sha256(f"{machine_id()}\n{Path(data_dir).absolute()}".encode()).hexdigest()


@dataclass
class Identity:
    data_dir: Path
    private_key: Ed25519PrivateKey
    machine: str
    kiosk_id: int | None = None
    room: str | None = None
    bridge: str | None = None
    code: str | None = None   # the room's enrolment code, kept (0600) to register again if retired
    replaced: str | None = None  # why an older identity was set aside at load, if it was

    @property
    def public_key(self) -> str:
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b64url(raw)

    def sign(self, nonce: str, subject: str) -> str:
        """The handshake proof: Ed25519 over ``context \\n nonce \\n subject``."""
        return b64url(self.private_key.sign(f"{SIGNING_CONTEXT}\n{nonce}\n{subject}".encode("utf-8")))

    def save(self) -> None:
        pem = self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode("ascii")
        write_json(self.data_dir / IDENTITY_FILE, {
            "version": 1, "private_key": pem, "public_key": self.public_key, "machine": self.machine,
            "kiosk_id": self.kiosk_id, "room": self.room, "bridge": self.bridge, "code": self.code})

    def forget_registration(self) -> None:
        self.kiosk_id = None
        self.save()

    def rotate_key(self) -> None:
        """A new key (the bridge said the old one belongs to another kiosk)."""
        self.private_key = Ed25519PrivateKey.generate()
        self.kiosk_id = None
        self.save()


def load_or_create(data_dir: Path) -> Identity:
    """The identity in ``data_dir``; a new one on first run or when the directory belongs to
    another machine (the old file is kept as ``identity.json.foreign-<time>``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / IDENTITY_FILE
    machine = machine_fingerprint(data_dir)
    try:
        stored = read_json(path)
    except (ValueError, OSError) as exc:
        raise IdentityError(f"{path} is unreadable ({exc}); move it away to make a new identity") from None
    replaced = None
    if stored is not None:
        if stored.get("machine") == machine:
            try:
                key = serialization.load_pem_private_key(stored["private_key"].encode("ascii"), password=None)
            except (KeyError, ValueError, TypeError) as exc:
                raise IdentityError(f"{path} holds no usable key ({exc}); move it away to make a new identity") \
                    from None
            if not isinstance(key, Ed25519PrivateKey):
                raise IdentityError(f"{path} holds a key that is not Ed25519; move it away")
            return Identity(data_dir, key, machine, stored.get("kiosk_id"), stored.get("room"),
                            stored.get("bridge"), stored.get("code"))
        aside = path.with_name(f"{IDENTITY_FILE}.foreign-{int(time.time())}-{uuid.uuid4().hex[:6]}")
        os.replace(path, aside)
        replaced = (f"the data directory {data_dir} was made on another machine (or moved): its identity "
                    f"is kept aside as {aside.name} and this PC registers as a new kiosk")
        log.warning(replaced)
    identity = Identity(data_dir, Ed25519PrivateKey.generate(), machine,
                        room=(stored or {}).get("room"), bridge=(stored or {}).get("bridge"), replaced=replaced)
    identity.save()
    return identity
