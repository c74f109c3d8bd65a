"""``exambridge-kiosk export-pack`` (K5 on the agent's side): offline, the pack of the current
attempt goes to a folder, sealed to the bridge's pack key and signed by the device key, so
only the bridge can read it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kiosk_agent.answer_pack import generate_bridge_key, open_pack, public_key_b64
from tests.kiosk.agent_helpers import event, make_agent


def kiosk(*args):
    env = dict(os.environ, EXAMBRIDGE_KIOSK_MACHINE_ID="export-machine")
    return subprocess.run([sys.executable, "-m", "kiosk_agent", *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture
def agent(tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMBRIDGE_KIOSK_MACHINE_ID", "export-machine")
    return make_agent(tmp_path)


@pytest.mark.req("K5")
def test_export_pack_writes_a_pack_only_the_bridge_opens(agent, tmp_path):
    bridge_key = generate_bridge_key()
    agent._remember(4, "fwd", {"tab-a"}, {"exam_id": 11, "session_id": 12})
    agent.journal.append(4, [event(1), event(2, question_id=2)])
    agent.update_state(pack_key=public_key_b64(bridge_key))
    out = kiosk("export-pack", "--to", str(tmp_path / "usb"), "--data-dir", str(agent.config.data_dir))
    assert out.returncode == 0, out.stderr
    written = json.loads(out.stdout)
    assert written["attempt_id"] == 4 and written["path"].endswith(".epack")
    manifest, events = open_pack(open(written["path"], "rb").read(), bridge_key)
    assert manifest["attempt_id"] == 4 and manifest["exam_id"] == 11
    assert [(e["writer"], e["seq"]) for e in events] == [("tab-a", 1), ("tab-a", 2)]
    assert not any(p.suffix == ".part" for p in (tmp_path / "usb").iterdir())


@pytest.mark.req("K5")
def test_export_pack_without_the_bridge_key_says_why(agent, tmp_path):
    agent.journal.append(4, [event(1)])
    out = kiosk("export-pack", "--to", str(tmp_path / "usb"), "--data-dir", str(agent.config.data_dir))
    assert out.returncode == 1 and "pack key is not known" in out.stderr


@pytest.mark.req("K5")
def test_export_pack_of_an_empty_journal_says_so(agent, tmp_path):
    out = kiosk("export-pack", "--to", str(tmp_path / "usb"), "--data-dir", str(agent.config.data_dir))
    assert out.returncode == 1 and "no attempt" in out.stderr
