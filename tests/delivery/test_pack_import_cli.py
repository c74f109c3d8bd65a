"""``exambridge pack`` (P6, K5): ``pack key`` makes the bridge's pack key once and prints it;
``pack import`` merges a pack file, says when it was imported already and refuses a changed
one; a pack from a device that is not a registered kiosk needs ``--allow-unregistered`` and
a ``--reason``, which the audit keeps. SQLite and PostgreSQL (``backend``). The import
itself: test_pack_import.py and test_pack_import_refusals.py.
"""
from __future__ import annotations

import pytest

from kiosk_agent.answer_pack import generate_device_key
from tests.delivery.pack_helpers import audits, export, flip_bit, kiosk_event
from tests.fixtures.cli import run_cli

pytestmark = [pytest.mark.req("P6"), pytest.mark.req("K5")]


@pytest.mark.req("P6")
def test_cli_pack_key_and_pack_import(app, db_session, sitting, attempt_id, journal, device, tmp_path):
    made = run_cli(app, "pack", "key")
    assert made.returncode == 0, made.stderr
    public = made.stdout.split()[0]
    assert run_cli(app, "pack", "key").stdout.split()[0] == public  # made once
    journal.append(attempt_id, [kiosk_event(sitting, 1), kiosk_event(sitting, 2)])
    pack_file = tmp_path / "seat3.epack"
    pack_file.write_bytes(export(journal, attempt_id, sitting, device, public))
    done = run_cli(app, "pack", "import", str(pack_file))
    assert done.returncode == 0, done.stderr
    assert "accepted 2, duplicate 0, refused 0" in done.stdout
    again = run_cli(app, "pack", "import", str(pack_file))
    assert again.returncode == 0 and "already imported" in again.stdout
    bad = tmp_path / "bad.epack"
    bad.write_bytes(flip_bit(pack_file.read_bytes(), 60))
    refused = run_cli(app, "pack", "import", str(bad))
    assert refused.returncode == 1 and "refused: The answer pack was changed" in refused.stderr


@pytest.mark.req("P6")
def test_cli_override_for_an_unregistered_device_needs_a_reason(app, db_session, sitting, attempt_id, journal,
                                                                tmp_path):
    public = run_cli(app, "pack", "key").stdout.split()[0]
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    pack_file = tmp_path / "stranger.epack"
    pack_file.write_bytes(export(journal, attempt_id, sitting, generate_device_key(), public))
    refused = run_cli(app, "pack", "import", str(pack_file))
    assert refused.returncode == 1 and "not a registered kiosk" in refused.stderr
    no_reason = run_cli(app, "pack", "import", str(pack_file), "--allow-unregistered")
    assert no_reason.returncode == 1 and "needs a reason" in no_reason.stderr
    done = run_cli(app, "pack", "import", str(pack_file), "--allow-unregistered", "--reason", "PC replaced")
    assert done.returncode == 0, done.stderr
    assert "accepted 1" in done.stdout and "override (PC replaced)" in done.stdout
    [entry] = audits(db_session, "pack.import_override")
    assert entry.actor.startswith("cli:") and entry.detail["reason"] == "PC replaced"
