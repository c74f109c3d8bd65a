"""Console commands on the agent (K6): each carried out once per command id, the stored
result answered again; power commands only in dry run here; wipe only when the bridge holds
everything; the candidate client is a real child process."""
from __future__ import annotations

import json
import os

import pytest

from kiosk_agent.lockdown.base import wait_for_exit
from tests.kiosk.agent_helpers import BRIDGE, SLEEPER, Local, event, make_agent


@pytest.fixture
def agent(tmp_path):
    a = make_agent(tmp_path, client_cmd=SLEEPER, dry_run_power=True)
    yield a
    a.lockdown.stop()


@pytest.mark.req("K6")
def test_show_and_hide_seat_reach_the_page(agent):
    served = Local(agent)
    try:
        assert agent.commands.run(1, "show_seat", {"seat": 14})["outcome"] == "done"
        display = served.get("/v1/hello", token=False)[2]["display"]
        assert display["show_seat"] is True and display["seat"] == 14
        agent.commands.run(2, "hide_seat", {})
        assert served.get("/v1/hello", token=False)[2]["display"]["show_seat"] is False
    finally:
        served.close()


@pytest.mark.req("K6")
def test_lock_with_a_message_and_unlock(agent):
    agent.commands.run(3, "lock", {"message": "请举手 Raise your hand"})
    hello = agent.local_hello()
    assert hello["display"]["locked"] is True and hello["display"]["lock_message"] == "请举手 Raise your hand"
    assert agent._status(None) == "locked"
    agent.commands.run(4, "unlock", {})
    assert agent.local_hello()["display"]["locked"] is False
    state = json.loads((agent.config.data_dir / "state.json").read_text())
    assert state["locked"] is False  # the lock state survives an agent restart


@pytest.mark.req("K6")
def test_a_command_id_is_carried_out_once(agent):
    first = agent.commands.run(5, "start_client", {"url": BRIDGE + "/exam"})
    pid = first["detail"]["pid"]
    assert first["outcome"] == "done" and agent.lockdown.client_running()
    agent.commands.run(6, "close_client", {})
    assert wait_for_exit(pid, 5)
    again = agent.commands.run(5, "start_client", {"url": BRIDGE + "/exam"})
    assert again == first and not agent.lockdown.client_running()  # answered from the store, not started


@pytest.mark.req("K6")
def test_start_and_close_the_client_as_a_real_process(agent):
    result = agent.commands.run(7, "start_client", {"url": BRIDGE + "/exam/1"})
    pid = result["detail"]["pid"]
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    assert (BRIDGE + "/exam/1").encode() in cmdline
    assert agent._status(None) == "ready"
    closed = agent.commands.run(8, "close_client", {})
    assert closed["outcome"] == "done" and closed["detail"]["pid"] == pid
    assert wait_for_exit(pid, 5) and agent._status(None) == "idle"


@pytest.mark.req("K6", "K3")
def test_start_client_opens_only_the_bridge(agent):
    result = agent.commands.run(9, "start_client", {"url": "https://evil.example/"})
    assert result["outcome"] == "refused" and "only the bridge" in result["detail"]["message"]


@pytest.mark.req("K6")
def test_power_commands_are_recorded_in_dry_run(agent):
    for i, name in enumerate(("restart", "shutdown"), start=10):
        result = agent.commands.run(i, name, {})
        assert result["outcome"] == "done" and result["detail"] == {"dry_run": True, "action": name}
    lines = (agent.config.data_dir / "power.log").read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["restart", "shutdown"]


@pytest.mark.req("K6")
def test_power_commands_are_refused_without_the_policy(tmp_path):
    agent = make_agent(tmp_path)
    result = agent.commands.run(12, "shutdown", {})
    assert result["outcome"] == "refused" and "--allow-power" in result["detail"]["message"]


@pytest.mark.req("K6", "K4")
def test_wipe_only_when_the_bridge_holds_the_journal(agent):
    agent.journal.append(9, [event(1), event(2), event(1, writer="tab-b")])
    heads = agent.journal.heads(9)
    refused = agent.commands.run(13, "wipe", {"attempt_id": 9, "heads": {"tab-a": {"seq": 1, "head": "h"}}})
    assert refused["outcome"] == "refused" and "collect the answer pack" in refused["detail"]["message"]
    assert agent.journal.high_water(9) == {"tab-a": 2, "tab-b": 1}
    done = agent.commands.run(14, "wipe", {"attempt_id": 9, "heads": heads})
    assert done["outcome"] == "done"
    assert agent.journal.attempts() == [] and not os.path.exists(agent.journal.path(9))


@pytest.mark.req("K6", "K4")
def test_wipe_is_refused_when_a_hash_differs_from_the_bridges(agent):
    """Review H2: covering the seqs is not enough, the chains must agree."""
    agent.journal.append(9, [event(1), event(2), event(1, writer="tab-b")])
    heads = agent.journal.heads(9)
    before = agent.journal.path(9).read_bytes()
    other = {**heads, "tab-a": {"seq": 2, "head": "0" * 64}}  # the bridge holds another seq 2
    refused = agent.commands.run(20, "wipe", {"attempt_id": 9, "heads": other})
    assert refused["outcome"] == "refused" and "chain head differs" in refused["detail"]["message"]
    assert agent.journal.path(9).read_bytes() == before     # nothing deleted
    # the bridge claims more than the journal holds (the page also saved straight to it):
    beyond = {**heads, "tab-a": {"seq": 5, "head": "f" * 64}}
    refused = agent.commands.run(21, "wipe", {"attempt_id": 9, "heads": beyond})
    assert refused["outcome"] == "refused" and "never acknowledged" in refused["detail"]["message"]
    # ...accepted once the bridge had acknowledged this PC's top seq with this PC's hash
    agent.journal.mark_acked(9, "tab-a", 2, heads["tab-a"]["head"])
    assert agent.commands.run(22, "wipe", {"attempt_id": 9, "heads": beyond})["outcome"] == "done"
    assert agent.journal.attempts() == []


@pytest.mark.req("K6", "K4")
def test_wipe_is_refused_for_a_damaged_journal(agent, tmp_path):
    agent.journal.append(9, [event(1), event(2), event(3)])
    heads = agent.journal.heads(9)
    path = agent.journal.path(9)
    lines = path.read_bytes().split(b"\n")
    lines[0] = b"x" + lines[0][1:]
    path.write_bytes(b"\n".join(lines))
    fresh = make_agent(tmp_path)                             # an agent reading the damaged file from the disk
    refused = fresh.commands.run(23, "wipe", {"attempt_id": 9, "heads": heads})
    assert refused["outcome"] == "refused" and "damaged" in refused["detail"]["message"] and path.exists()


@pytest.mark.req("K6")
def test_unknown_command_and_bad_arguments_are_refused(agent):
    assert agent.commands.run(15, "format_disk", {})["outcome"] == "refused"
    assert agent.commands.run(16, "wipe", {"attempt_id": "x"})["outcome"] == "refused"
    assert agent.commands.run(17, "show_seat", {"seat": "A"})["outcome"] == "refused"


@pytest.mark.req("K6", "P6")
def test_export_pack_needs_the_bridges_key_first(agent):
    agent.journal.append(9, [event(1)])
    result = agent.commands.run(18, "export_pack", {})
    assert result["outcome"] == "failed" and "pack key" in result["detail"]["message"]
