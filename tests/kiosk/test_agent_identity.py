"""The device identity (K1): made once, bound to the machine id and the data directory, and
never silently reused from a copied directory; the agent imports nothing of the server."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from kiosk_agent import protocol
from kiosk_agent.config import ensure_data_dir
from kiosk_agent.identity import load_or_create


@pytest.fixture(autouse=True)
def machine(monkeypatch):
    monkeypatch.setenv("EXAMBRIDGE_KIOSK_MACHINE_ID", "machine-one")


@pytest.mark.req("K1")
def test_first_run_makes_a_private_ed25519_identity(tmp_path):
    data = ensure_data_dir(tmp_path / "data")
    identity = load_or_create(data)
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data / "identity.json").st_mode) == 0o600
    assert len(protocol.b64url_decode(identity.public_key)) == 32
    signature = identity.sign("nonce-1", identity.public_key)
    assert protocol.verify_signature(identity.public_key, "nonce-1", identity.public_key, signature)
    assert not protocol.verify_signature(identity.public_key, "nonce-2", identity.public_key, signature)


@pytest.mark.req("K1")
def test_the_identity_survives_a_restart(tmp_path):
    first = load_or_create(tmp_path)
    first.kiosk_id, first.room = 12, "R101"
    first.save()
    again = load_or_create(tmp_path)
    assert again.public_key == first.public_key and again.kiosk_id == 12 and again.replaced is None


@pytest.mark.req("K1")
def test_a_data_dir_copied_to_another_machine_registers_anew(tmp_path, monkeypatch):
    first = load_or_create(tmp_path)
    first.kiosk_id = 12
    first.save()
    monkeypatch.setenv("EXAMBRIDGE_KIOSK_MACHINE_ID", "machine-two")
    copy = load_or_create(tmp_path)
    assert copy.public_key != first.public_key and copy.kiosk_id is None
    assert "another machine" in copy.replaced
    assert [p.name for p in tmp_path.glob("identity.json.foreign-*")]


@pytest.mark.req("K1")
def test_a_data_dir_copied_on_the_same_machine_registers_anew(tmp_path):
    first = load_or_create(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    copy = load_or_create(tmp_path / "b")
    assert copy.public_key != first.public_key
    assert load_or_create(tmp_path / "a").public_key == first.public_key


@pytest.mark.req("K1")
def test_a_damaged_identity_file_is_an_agent_error(tmp_path):
    from kiosk_agent.errors import AgentError
    (tmp_path / "identity.json").write_text("{not json")
    with pytest.raises(AgentError, match="unreadable"):
        load_or_create(tmp_path)


@pytest.mark.req("K1")
def test_the_agent_never_imports_the_server():
    code = ("import sys, kiosk_agent.cli, kiosk_agent.agent, kiosk_agent.lockdown, kiosk_agent.envcheck, "
            "kiosk_agent.local_endpoint, kiosk_agent.commands, kiosk_agent.journal, kiosk_agent.answer_pack\n"
            "print([m for m in sys.modules if m.split('.')[0] in "
            "('bridge', 'flask', 'sqlalchemy', 'werkzeug', 'gevent', 'lms_plugin', 'psycopg', 'redis')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def kiosk(*args, env=None, timeout=30):
    environment = dict(os.environ, EXAMBRIDGE_KIOSK_MACHINE_ID="machine-one")
    environment.pop("EXAMBRIDGE_KIOSK_CODE", None)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "kiosk_agent", *args], capture_output=True, text=True,
                          timeout=timeout, env=environment, stdin=subprocess.DEVNULL)


@pytest.mark.req("K1")
@pytest.mark.parametrize("command", ["run", "export-pack", "check", "status", "version"])
def test_every_subcommand_has_help(command):
    out = kiosk(command, "--help")
    assert out.returncode == 0 and "usage: exambridge-kiosk" in out.stdout


@pytest.mark.req("K1")
def test_first_run_without_a_code_says_how_to_give_it(tmp_path):
    out = kiosk("run", "--bridge", "http://127.0.0.1:9", "--room", "R101", "--data-dir", str(tmp_path / "d"),
                "--local-port", "0")
    assert out.returncode == 3
    assert "--code" in out.stderr and "EXAMBRIDGE_KIOSK_CODE" in out.stderr


@pytest.mark.req("K1")
@pytest.mark.parametrize("bridge, fragment", [("exams.example.edu", "--bridge must be"),
                                              ("http://exams.example.edu", "https://")])
def test_a_bad_bridge_address_is_explained(tmp_path, bridge, fragment):
    out = kiosk("run", "--bridge", bridge, "--room", "R101", "--data-dir", str(tmp_path), "--code", "x")
    assert out.returncode == 2 and fragment in out.stderr


@pytest.mark.req("K1")
def test_status_of_a_data_dir_with_no_agent(tmp_path):
    load_or_create(tmp_path)
    out = kiosk("status", "--data-dir", str(tmp_path))
    state = json.loads(out.stdout)
    assert out.returncode == 0 and state["running"] is False and state["registered"] is False


@pytest.mark.req("K1")
def test_exit_with_parent_stops_the_agent_when_its_parent_dies(tmp_path):
    """The demo starts agents with --exit-with-parent: a killed demo leaves no agents behind."""
    import signal
    import time

    pid_file = tmp_path / "agent.pid"
    starter = (
        "import os, subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-m', 'kiosk_agent', 'run', '--bridge', 'http://127.0.0.1:9', "
        f"'--room', 'R101', '--data-dir', {str(tmp_path / 'd')!r}, '--local-port', '0', '--code', 'x', "
        "'--exit-with-parent'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", starter], env=dict(os.environ, EXAMBRIDGE_KIOSK_MACHINE_ID="m"))
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    agent_pid = int(pid_file.read_text())
    time.sleep(1)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(agent_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(agent_pid, signal.SIGKILL)
        pytest.fail("the agent outlived its parent")
