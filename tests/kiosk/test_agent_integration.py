"""The agent as a real process against a real bridge process (``exambridge serve`` on a
fresh SQLite database), through a TCP proxy the test controls: registration, heartbeats,
answers from the exam page through the local endpoint into answer_events, the bridge
SIGKILLed and restarted mid-exam, a network cut and restored (neither loses nor doubles an
answer), and every console command."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest

from kiosk_agent.lockdown.base import wait_for_exit
from tests.kiosk.agent_world import AgentProc, BridgeWorld, Page, wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(tmp_path):
    w = BridgeWorld(tmp_path)
    yield w
    w.close()


@pytest.fixture
def agent(world, tmp_path):
    proc = AgentProc(world, tmp_path / "kiosk", code=world.code)
    yield proc
    proc.stop()


def assert_exactly(world, attempt_id, writer, count):
    rows = world.events(attempt_id)
    assert rows == [(writer, seq) for seq in range(1, count + 1)], rows[-5:]


@pytest.mark.req("K1", "K2", "K4")
def test_registers_heartbeats_and_forwards_answers(world, agent):
    state = agent.wait_online()
    kiosk_id = state["kiosk_id"]
    assert kiosk_id and state["status"] == "pending"
    row = world.kiosk(kiosk_id)
    assert row.status == "pending" and row.last_address == "127.0.0.1" and row.agent_version
    identity = json.loads((agent.data_dir / "identity.json").read_text())
    assert identity["kiosk_id"] == kiosk_id and row.public_key == identity["public_key"]

    attempt_id = world.attempts[0][0]
    page = Page(agent, attempt_id)
    assert page.hello_body["kiosk_id"] == kiosk_id and page.hello_body["display"]["online"] is True
    for _ in range(5):
        page.save()
    page.save(3)
    synced = page.wait_synced()
    assert synced["journal"] == {"tab-1": 8} and synced["online"] is True
    assert_exactly(world, attempt_id, "tab-1", 8)
    # the heartbeat tells the bridge what the kiosk is doing
    wait_until(lambda: world.kiosk(kiosk_id).attempt_id == attempt_id, "attempt in the kiosk row")
    assert world.kiosk(kiosk_id).agent_status == "in_exam"


@pytest.mark.req("K1")
def test_restart_says_hello_with_the_same_identity(world, tmp_path):
    first = AgentProc(world, tmp_path / "kiosk", code=world.code, name="first")
    kiosk_id = first.wait_online()["kiosk_id"]
    assert first.stop() == 0
    again = AgentProc(world, tmp_path / "kiosk", name="again")  # no code: it is registered
    try:
        assert again.wait_online()["kiosk_id"] == kiosk_id
        assert "welcome: kiosk %d" % kiosk_id in again.log()
    finally:
        again.stop()


@pytest.mark.req("K1")
def test_a_wrong_enrolment_code_is_explained(world, tmp_path):
    proc = AgentProc(world, tmp_path / "kiosk", code="WRONG-CODE", name="wrong")
    try:
        assert proc.popen.wait(30) == 3
    finally:
        proc.stop()
    assert "refused the enrolment code for room R101" in proc.log()


@pytest.mark.req("K2")
def test_an_unreachable_bridge_is_retried_and_said(world, tmp_path):
    world.proxy.cut()
    proc = AgentProc(world, tmp_path / "kiosk", code=world.code, name="unreachable")
    try:
        wait_until(lambda: "cannot reach the bridge" in proc.log(), "the retry message", 60)
        assert proc.popen.poll() is None
        world.proxy.restore()
        proc.wait_online()
    finally:
        proc.stop()


class Typist(threading.Thread):
    """A candidate answering steadily through the local endpoint, online or not."""

    def __init__(self, page: Page, every: float = 0.02):
        super().__init__(daemon=True)
        self.page, self.every = page, every
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.page.save()
                time.sleep(self.every)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


@pytest.mark.req("K2", "K4")
def test_bridge_killed_and_restarted_mid_exam_loses_and_doubles_nothing(world, agent):
    agent.wait_online()
    attempt_id = world.attempts[0][0]
    page = Page(agent, attempt_id)
    typist = Typist(page)
    typist.start()
    try:
        wait_until(lambda: page.seq >= 40, "40 saves")

        def while_down():
            agent.wait_offline()
            before = page.seq
            wait_until(lambda: page.seq >= before + 20, "20 saves while the bridge is down")
            assert page.state()["online"] is False
        world.kill_and_restart(while_down)
        agent.wait_online()
        wait_until(lambda: page.seq >= 150, "150 saves")
    finally:
        typist.stop.set()
        typist.join(10)
    assert typist.error is None, typist.error
    page.wait_synced(60)
    assert_exactly(world, attempt_id, "tab-1", page.seq)


@pytest.mark.req("K2", "K4")
def test_network_cut_and_restored_loses_and_doubles_nothing(world, agent):
    agent.wait_online()
    attempt_id = world.attempts[1][0]
    page = Page(agent, attempt_id, writer="kiosk-tab")
    typist = Typist(page)
    typist.start()
    try:
        wait_until(lambda: page.seq >= 30, "30 saves")
        world.proxy.cut()
        agent.wait_offline()
        cut_at = page.seq
        wait_until(lambda: page.seq >= cut_at + 30, "30 saves during the cut")
        state = page.state()
        assert state["online"] is False and state["journal"]["kiosk-tab"] > state["server"].get("kiosk-tab", 0)
        world.proxy.restore()
        agent.wait_online()
        wait_until(lambda: page.seq >= cut_at + 60, "30 saves after the cut")
    finally:
        typist.stop.set()
        typist.join(10)
    assert typist.error is None, typist.error
    page.wait_synced(60)
    assert_exactly(world, attempt_id, "kiosk-tab", page.seq)


@pytest.mark.req("K6", "K7")
def test_every_command_from_the_console(world, agent):
    kiosk_id = agent.wait_online()["kiosk_id"]
    attempt_id = world.attempts[0][0]
    page = Page(agent, attempt_id)
    page.save(3)
    page.wait_synced()

    def run(name, args=None, outcome="done"):
        row = world.wait_command(world.command(kiosk_id, name, args))
        assert row.status == outcome, (name, row.status, row.result)
        return row.result

    assert run("show_seat", {"seat": 12}) == {"seat": 12}
    assert page.hello()["display"] == {"show_seat": True, "seat": 12, "locked": False, "lock_message": None,
                                      "online": True}
    run("hide_seat")
    assert page.hello()["display"]["show_seat"] is False

    run("lock", {"message": "Raise your hand"})
    display = page.hello()["display"]
    assert display["locked"] is True and display["lock_message"] == "Raise your hand"
    wait_until(lambda: world.kiosk(kiosk_id).agent_status == "locked", "locked status on the bridge")
    run("unlock")
    assert page.hello()["display"]["locked"] is False

    started = run("start_client", {"url": world.proxy.url + "/exam"})
    pid = started["pid"]
    assert os.path.exists(f"/proc/{pid}") and (world.proxy.url + "/exam").encode() in \
        open(f"/proc/{pid}/cmdline", "rb").read()
    closed = run("close_client")
    assert closed["pid"] == pid and wait_for_exit(pid, 5)
    refused = run("start_client", {"url": "https://elsewhere.example/"}, outcome="refused")
    assert "only the bridge" in refused["message"]

    assert run("restart") == {"dry_run": True, "action": "restart"}
    assert run("shutdown") == {"dry_run": True, "action": "shutdown"}
    power = [json.loads(line)["action"] for line in (agent.data_dir / "power.log").read_text().splitlines()]
    assert power == ["restart", "shutdown"]

    check = run("env_check", {"required_software": ["sh"]})
    assert check["cpu"]["cores"] == os.cpu_count() and check["software"][0]["found"] is True
    assert check["latency"]["median_ms"] is not None
    wait_until(lambda: world.kiosk(kiosk_id).env_check, "env check stored on the kiosk")

    assert agent.state().get("pack_key")  # welcome carried the bridge's pack key
    exported = run("export_pack", {"to": str(world.tmp / "usb")})
    assert exported["path"].startswith(str(world.tmp / "usb")) and exported["bytes"] > 0
    assert os.path.getsize(exported["path"]) == exported["bytes"]

    # wipe (review H2): only once the attempt is over and the bridge holds every journaled event
    # with the same chain. The heads sent are the bridge's own (a bridge may fill them in itself).
    world.submit(attempt_id)
    page.save()                                     # journaled on the PC, refused by the bridge: submitted
    wait_until(lambda: any(e["error"] == "submitted" for e in page.state()["errors"]), "the refusal")
    assert page.state()["journal"] == {"tab-1": 4} and world.stored_heads(attempt_id)["tab-1"]["seq"] == 3
    refused = run("wipe", {"attempt_id": attempt_id, "heads": world.stored_heads(attempt_id)}, outcome="refused")
    assert "collect the answer pack" in refused["message"]
    assert page.state()["journal"] == {"tab-1": 4}  # nothing deleted

    other_id = world.attempts[1][0]                 # an attempt the bridge holds entirely
    other = Page(agent, other_id)
    other.save(2)
    other.wait_synced()
    world.submit(other_id)
    assert run("wipe", {"attempt_id": other_id, "heads": world.stored_heads(other_id)}) == \
        {"attempt_id": other_id, "wiped": True}
    assert other.state()["journal"] == {}


@pytest.mark.req("K6")
def test_a_command_sent_while_offline_is_carried_out_once_on_reconnect(world, agent):
    kiosk_id = agent.wait_online()["kiosk_id"]
    world.proxy.cut()
    agent.wait_offline()
    command_id = world.command(kiosk_id, "restart")
    time.sleep(0.5)
    assert world.command_row(command_id).status in ("queued", "sent")
    world.proxy.restore()
    agent.wait_online()
    assert world.wait_command(command_id).status == "done"
    # a reconnect (the bridge re-sends unfinished commands; this one is finished) does not repeat it
    world.proxy.drop_connections()
    agent.wait_online()
    time.sleep(1)
    assert len((agent.data_dir / "power.log").read_text().splitlines()) == 1


@pytest.mark.req("K3")
def test_a_forbidden_process_is_reported_to_the_bridge(world, tmp_path):
    import shutil
    import subprocess
    from bridge.models.devices import KioskReport
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    exe = tmp_path / "anydesk"
    shutil.copy(shutil.which("sleep"), exe)
    forbidden = subprocess.Popen([str(exe), "120"])
    proc = AgentProc(world, tmp_path / "kiosk", "--forbidden", "anydesk,teamviewer", code=world.code, name="watch")
    try:
        kiosk_id = proc.wait_online()["kiosk_id"]

        def reported():
            with Session(world.engine) as s:
                return s.scalars(select(KioskReport).where(KioskReport.kiosk_id == kiosk_id,
                                                           KioskReport.kind == "forbidden_process")).all()
        rows = wait_until(reported, "forbidden_process report")
        assert rows[0].detail["pid"] == forbidden.pid and rows[0].detail["name"] == "anydesk"
    finally:
        proc.stop()
        forbidden.kill()
        forbidden.wait()


@pytest.mark.req("K1")
def test_first_run_on_a_terminal_asks_for_the_code_once(world, tmp_path):
    import pty
    import select
    import subprocess
    import sys

    controller, terminal = pty.openpty()
    env = dict(os.environ, EXAMBRIDGE_KIOSK_MACHINE_ID="tty-machine")
    env.pop("EXAMBRIDGE_KIOSK_CODE", None)
    data = tmp_path / "kiosk"
    proc = subprocess.Popen([sys.executable, "-m", "kiosk_agent", "run", "--bridge", world.proxy.url, "--room", "R101",
                             "--data-dir", str(data), "--local-port", "0"], stdin=terminal, stdout=terminal,
                            stderr=terminal, env=env)
    os.close(terminal)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"enrolment code for room R101" not in seen and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                seen += os.read(controller, 4096)
        assert b"Kiosk enrolment code for room R101:" in seen
        os.write(controller, world.code.encode() + b"\n")
        drain = threading.Thread(target=_drain, args=(controller,), daemon=True)  # the log goes to the terminal
        drain.start()
        state = wait_until(lambda: (s := _state(data)) and s.get("online") and s, "registration after the prompt")
        assert state["kiosk_id"]
        status = subprocess.run([sys.executable, "-m", "kiosk_agent", "status", "--data-dir", str(data)],
                                capture_output=True, text=True, timeout=30)
        shown = json.loads(status.stdout)
        assert shown["running"] is True and shown["online"] is True and shown["kiosk_id"] == state["kiosk_id"]
    finally:
        proc.terminate()
        proc.wait(15)
        time.sleep(0.2)  # the drain thread reads the last lines, then EIO
        os.close(controller)
    assert proc.returncode == 0


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass


def _state(data):
    try:
        return json.loads((data / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


@pytest.mark.req("K1")
def test_one_agent_per_data_directory(world, agent, tmp_path):
    agent.wait_online()
    second = AgentProc(world, agent.data_dir, name="second")
    try:
        assert second.popen.wait(30) == 6
    finally:
        second.stop()
    assert "another agent is running on" in second.log()
    assert agent.popen.poll() is None


@pytest.mark.req("K4", "K5", "P6")
def test_offline_answers_reach_the_bridge_by_pack_and_by_resync_once(world, agent, tmp_path):
    """The network is cut mid-exam: the proctor carries the answer pack to the bridge on a USB
    stick (exported while the agent runs), and when the network comes back the agent's own
    resend finds them there: every answer exactly once."""
    import subprocess
    import sys

    from tests.test_serve import run_cli

    agent.wait_online()
    attempt_id = world.attempts[0][0]
    page = Page(agent, attempt_id)
    page.save(5)
    page.wait_synced()
    world.proxy.cut()
    agent.wait_offline()
    page.save(5)
    assert page.state()["server"]["tab-1"] == 5 and page.state()["journal"]["tab-1"] == 10
    assert world.event_count(attempt_id) == 5

    out = subprocess.run([sys.executable, "-m", "kiosk_agent", "export-pack", "--to", str(tmp_path / "usb"),
                          "--data-dir", str(agent.data_dir)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, EXAMBRIDGE_KIOSK_MACHINE_ID="integration-machine"))
    assert out.returncode == 0, out.stderr
    pack = json.loads(out.stdout)["path"]
    imported = run_cli(["pack", "import", pack], world.env)
    assert imported.returncode == 0, imported.stderr
    assert "accepted 5, duplicate 5, refused 0" in imported.stdout
    assert_exactly(world, attempt_id, "tab-1", 10)

    world.proxy.restore()
    agent.wait_online()
    page.wait_synced()
    assert_exactly(world, attempt_id, "tab-1", 10)
