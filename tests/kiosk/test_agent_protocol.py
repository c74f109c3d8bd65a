"""The agent's side of the protocol as pure logic: the worker handles bridge messages and
sends its answers through a recording stand-in for the socket (the real socket is covered by
test_agent_integration.py). Handshake, resync from welcome.heads, acks and retries, handshake
refusals, idempotent commands, and heartbeats the bridge's validator accepts."""
from __future__ import annotations

import json

import pytest

from kiosk_agent import protocol as P
from kiosk_agent.uploader import MAX_BATCH
from tests.kiosk.agent_helpers import SLEEPER, event, make_agent


class Recorder:
    """Stands in for the WebSocketApp: ``sock`` is truthy, ``send`` records."""

    def __init__(self):
        self.sock = True
        self.sent: list[P.Envelope] = []
        self.closed = False

    def send(self, text):
        self.sent.append(P.decode(text))

    def close(self):
        self.closed = True

    def of(self, type_):
        return [e for e in self.sent if e.type == type_]


@pytest.fixture
def agent(tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMBRIDGE_KIOSK_MACHINE_ID", "protocol-machine")
    a = make_agent(tmp_path, client_cmd=SLEEPER, dry_run_power=True)
    a.identity.code = "ROOM-CODE"
    a._app = Recorder()
    yield a
    a.lockdown.stop()


def deliver(agent, type_, payload, ref=None):
    env = P.message(type_, payload, ref=ref)
    agent._handle(("message", agent._app, env.encode()))
    return env


def welcome(agent, heads=None, kiosk_id=41):
    deliver(agent, P.CHALLENGE, {"nonce": "n-1", "server_time": 1795305963.0})
    request = agent._app.sent[-1]
    deliver(agent, P.WELCOME, {"kiosk_id": kiosk_id, "room": "R101", "status": "pending", "seat": None,
                               "server_time": 1795305963.0, "heartbeat_seconds": 5, "pack_key": "",
                               "heads": heads or {}}, ref=request.id)
    return request


@pytest.mark.req("K1")
def test_first_challenge_is_answered_with_a_signed_register(agent):
    deliver(agent, P.CHALLENGE, {"nonce": "n-1", "server_time": 1.0})
    (register,) = agent._app.sent
    payload = P.validate(register)
    assert register.type == P.REGISTER and payload["room"] == "R101" and payload["code"] == "ROOM-CODE"
    assert payload["machine"] == agent.identity.machine
    assert P.verify_signature(payload["public_key"], "n-1", payload["public_key"], payload["signature"])


@pytest.mark.req("K1", "K2")
def test_welcome_stores_the_kiosk_id_and_later_challenges_get_hello(agent):
    welcome(agent)
    assert agent.online and agent.identity.kiosk_id == 41
    assert json.loads((agent.config.data_dir / "identity.json").read_text())["kiosk_id"] == 41
    deliver(agent, P.CHALLENGE, {"nonce": "n-2", "server_time": 2.0})
    hello = agent._app.sent[-1]
    assert hello.type == P.HELLO and hello.payload["kiosk_id"] == 41
    assert P.verify_signature(agent.identity.public_key, "n-2", 41, hello.payload["signature"])


@pytest.mark.req("K4")
def test_resync_sends_only_what_is_after_the_bridges_head(agent):
    agent._remember(7, "fwd", {"tab-a"}, None)
    agent.journal.append(7, [event(s) for s in range(1, 6)])
    welcome(agent, heads={"7": {"tab-a": {"seq": 3, "head": "h3"}}})
    (batch,) = agent._app.of(P.EVENTS)
    assert batch.payload["token"] == "fwd" and [e["seq"] for e in batch.payload["events"]] == [4, 5]
    assert agent.journal.acked(7)["tab-a"] == {"seq": 3, "head": "h3"}
    # acks advance the journal; nothing is sent twice on this connection
    deliver(agent, P.ACKS, {"acks": [{"seq": 4, "head": "h4", "server_time": 1.0, "duplicate": False,
                                      "status": "applied"},
                                     {"seq": 5, "head": "h5", "server_time": 1.0, "duplicate": False,
                                      "status": "applied"}]}, ref=batch.id)
    assert agent.journal.acked(7)["tab-a"] == {"seq": 5, "head": "h5"}
    agent._pump()
    assert len(agent._app.of(P.EVENTS)) == 1
    assert agent.local_attempt(7)["server"] == {"tab-a": 5}


@pytest.mark.req("K4")
def test_without_heads_for_an_attempt_it_resumes_from_its_own_acks(agent):
    agent._remember(8, "fwd", {"tab-a"}, None)
    agent.journal.append(8, [event(s) for s in range(1, 4)])
    agent.journal.mark_acked(8, "tab-a", 2, "h2")
    welcome(agent)
    (batch,) = agent._app.of(P.EVENTS)
    assert [e["seq"] for e in batch.payload["events"]] == [3]


@pytest.mark.req("K4")
def test_large_backlogs_go_in_batches_with_a_window(agent):
    agent._remember(9, "fwd", {"tab-a"}, None)
    for start in range(1, 1001, 100):
        agent.journal.append(9, [event(s) for s in range(start, start + 100)])
    welcome(agent)
    batches = agent._app.of(P.EVENTS)
    assert len(batches) == 4 and all(len(b.payload["events"]) == MAX_BATCH for b in batches)
    assert batches[0].payload["events"][0]["seq"] == 1 and batches[-1].payload["events"][-1]["seq"] == 400


@pytest.mark.req("K4")
def test_a_busy_bridge_gets_the_events_again(agent, monkeypatch):
    agent._remember(7, "fwd", {"tab-a"}, None)
    agent.journal.append(7, [event(1), event(2)])
    welcome(agent)
    (batch,) = agent._app.of(P.EVENTS)
    deliver(agent, P.ACKS, {"acks": [{"seq": 1, "head": "h1", "server_time": 1.0, "duplicate": False,
                                      "status": "applied"},
                                     {"seq": 2, "error": "unavailable", "message": "busy"}]}, ref=batch.id)
    assert len(agent._app.of(P.EVENTS)) == 1  # not at once: after a pause
    agent.uploads.blocked = {k: 0 for k in agent.uploads.blocked}
    agent._tick()
    again = agent._app.of(P.EVENTS)[-1]
    assert [e["seq"] for e in again.payload["events"]] == [2]


@pytest.mark.req("K4")
def test_a_refused_event_is_shown_to_the_page_and_not_resent(agent):
    agent._remember(7, "fwd", {"tab-a"}, None)
    agent.journal.append(7, [event(1)])
    welcome(agent)
    (batch,) = agent._app.of(P.EVENTS)
    deliver(agent, P.ACKS, {"acks": [{"seq": 1, "error": "submitted", "message": "submitted"}]}, ref=batch.id)
    agent._pump()
    assert len(agent._app.of(P.EVENTS)) == 1
    assert agent.local_attempt(7)["errors"][0]["error"] == "submitted"
    assert agent.state["current_attempt"] is None


@pytest.mark.req("K4")
def test_a_refused_forward_token_waits_for_a_new_one(agent):
    agent._remember(7, "stale", {"tab-a"}, None)
    agent.journal.append(7, [event(1)])
    welcome(agent)
    (batch,) = agent._app.of(P.EVENTS)
    deliver(agent, P.ERROR, {"code": "bad_token", "message": "reload"}, ref=batch.id)
    agent.uploads.blocked.clear()
    agent._pump()
    assert len(agent._app.of(P.EVENTS)) == 1
    agent._remember(7, "fresh", {"tab-a"}, None)
    agent._pump()
    assert agent._app.of(P.EVENTS)[-1].payload["token"] == "fresh"


@pytest.mark.req("K1")
def test_a_wrong_code_without_a_terminal_stops_with_exit_3(agent):
    deliver(agent, P.CHALLENGE, {"nonce": "n", "server_time": 1.0})
    deliver(agent, P.ERROR, {"code": "bad_enrolment_code", "message": "wrong code"}, ref=agent._app.sent[-1].id)
    assert agent.fatal is not None and agent.fatal.exit_code == 3 and "R101" in str(agent.fatal)
    assert agent.identity.code is None


@pytest.mark.req("K1")
def test_a_wrong_code_on_a_terminal_asks_again(agent):
    agent.ask_code = lambda prompt: "NEW-CODE"
    deliver(agent, P.CHALLENGE, {"nonce": "n", "server_time": 1.0})
    deliver(agent, P.ERROR, {"code": "bad_enrolment_code", "message": "wrong"}, ref=agent._app.sent[-1].id)
    assert agent.fatal is None and agent.identity.code == "NEW-CODE" and agent._app.closed


@pytest.mark.req("K1")
def test_unknown_kiosk_registers_again_and_key_in_use_makes_a_new_key(agent):
    welcome(agent)
    deliver(agent, P.CHALLENGE, {"nonce": "n", "server_time": 1.0})
    deliver(agent, P.ERROR, {"code": "unknown_kiosk", "message": "retired"}, ref=agent._app.sent[-1].id)
    assert agent.identity.kiosk_id is None
    deliver(agent, P.CHALLENGE, {"nonce": "n2", "server_time": 1.0})
    assert agent._app.sent[-1].type == P.REGISTER
    old = agent.identity.public_key
    deliver(agent, P.ERROR, {"code": "key_in_use", "message": "taken"}, ref=agent._app.sent[-1].id)
    assert agent.identity.public_key != old


@pytest.mark.req("K6")
def test_a_command_is_answered_once_and_the_stored_result_after(agent):
    welcome(agent)
    deliver(agent, P.COMMAND, {"command_id": 5, "name": "restart", "args": {}, "issued_at": 1.0})
    deliver(agent, P.COMMAND, {"command_id": 5, "name": "restart", "args": {}, "issued_at": 1.0})
    results = agent._app.of(P.COMMAND_RESULT)
    assert len(results) == 2 and results[0].payload == results[1].payload
    assert P.validate(results[0])["outcome"] == "done"
    assert len((agent.config.data_dir / "power.log").read_text().splitlines()) == 1


@pytest.mark.req("K2")
def test_heartbeat_carries_the_contract_fields(agent):
    agent._remember(7, "fwd", {"tab-a"}, None)
    agent.journal.append(7, [event(1), event(2)])
    welcome(agent)
    agent._heartbeat()
    beat = agent._app.of(P.HEARTBEAT)[-1]
    payload = P.validate(beat)
    assert payload["status"] == "offline_tail" and payload["attempt_id"] == 7
    assert payload["journal"] == {"tab-a": 2} and payload["lockdown"] == "monitor"
    assert isinstance(payload["free_disk_mb"], int) and payload["focus"] is True
    deliver(agent, P.HEARTBEAT_ACK, {"server_time": 2.0}, ref=beat.id)
    assert agent.rtt_ms is not None


@pytest.mark.req("K3")
def test_reports_wait_for_the_connection(agent):
    agent._queue_report("lockdown_failed", {"message": "no policy"})
    agent._flush_reports()
    assert agent._app.of(P.REPORT) == []
    welcome(agent)
    (report,) = agent._app.of(P.REPORT)
    assert P.validate(report) == {"kind": "lockdown_failed", "detail": {"message": "no policy"}}


def ok(seq, head=None):
    return {"seq": seq, "head": head or f"h{seq}", "server_time": 1.0, "duplicate": False, "status": "applied"}


def resend_now(agent):
    agent.uploads.blocked = {k: 0 for k in agent.uploads.blocked}
    agent._tick()


@pytest.mark.req("K4")
def test_an_ack_past_a_missing_seq_marks_nothing_past_the_gap(agent):
    """Review H3: an ack for 3 while 2 got no answer must not mark 2 as stored."""
    agent._remember(7, "fwd", {"tab-a"}, None)
    agent.journal.append(7, [event(s) for s in range(1, 5)])
    welcome(agent)
    (batch,) = agent._app.of(P.EVENTS)
    deliver(agent, P.ACKS, {"acks": [ok(1), ok(3), ok(4)]}, ref=batch.id)  # nothing for 2
    assert agent.journal.acked(7)["tab-a"] == {"seq": 1, "head": "h1"}
    assert agent.local_attempt(7)["server"] == {"tab-a": 1}
    resend_now(agent)
    again = agent._app.of(P.EVENTS)[-1]
    assert [e["seq"] for e in again.payload["events"]] == [2, 3, 4]      # the missing seq goes again
    deliver(agent, P.ACKS, {"acks": [ok(2), ok(3), ok(4)]}, ref=again.id)
    assert agent.journal.acked(7)["tab-a"] == {"seq": 4, "head": "h4"}


@pytest.mark.req("K4")
def test_a_refused_seq_holds_the_mark_and_a_reconnect_fills_the_gap(agent):
    agent._remember(7, "fwd", {"tab-a"}, None)
    agent.journal.append(7, [event(s) for s in range(1, 4)])
    welcome(agent)
    (batch,) = agent._app.of(P.EVENTS)
    deliver(agent, P.ACKS, {"acks": [ok(1), {"seq": 2, "error": "unavailable", "message": "busy"}, ok(3)]},
            ref=batch.id)
    assert agent.journal.acked(7)["tab-a"]["seq"] == 1                  # not 3
    agent._handle(("close", agent._app, 1006, "gone"))                  # the connection drops before the retry
    assert not agent.online
    # the bridge's head means "everything up to here is stored": seq 1
    welcome(agent, heads={"7": {"tab-a": {"seq": 1, "head": "h1"}}})
    resent = agent._app.of(P.EVENTS)[-1]
    assert [e["seq"] for e in resent.payload["events"]] == [2, 3]
    deliver(agent, P.ACKS, {"acks": [ok(2), ok(3, "h3")]}, ref=resent.id)
    assert agent.journal.acked(7)["tab-a"] == {"seq": 3, "head": "h3"}
    assert agent._status(7) == "in_exam"


@pytest.mark.req("K4")
def test_the_bridges_heads_are_its_word_even_when_lower(agent):
    """A journal marked too far (an old agent, a bridge restored from a backup) follows
    welcome.heads, so the page is never told "saved" for what the bridge lacks."""
    agent._remember(7, "fwd", {"tab-a", "tab-b"}, None)
    agent.journal.append(7, [event(s) for s in range(1, 4)] + [event(1, writer="tab-b")])
    agent.journal.mark_acked(7, "tab-a", 3, "h3")
    agent.journal.mark_acked(7, "tab-b", 1, "g1")
    welcome(agent, heads={"7": {"tab-a": {"seq": 1, "head": "h1"}}})
    assert agent.local_attempt(7)["server"] == {"tab-a": 1}
    sent = {b.payload["events"][0]["writer"]: [e["seq"] for e in b.payload["events"]] for b in agent._app.of(P.EVENTS)}
    assert sent == {"tab-a": [2, 3], "tab-b": [1]}


def corrupt_line(path, index):
    lines = path.read_bytes().split(b"\n")
    lines[index] = lines[index][:10] + b"#" + lines[index][11:]
    path.write_bytes(b"\n".join(lines))


@pytest.mark.req("K4")
def test_a_damaged_journal_file_stops_only_its_own_attempt(agent, tmp_path, caplog):
    """Review H5: a garbled attempt file on disk is reported (log, report, the page) and the
    other attempts upload as usual; its sound prefix still goes."""
    from tests.kiosk.agent_helpers import Local

    for attempt_id in (7, 8):
        agent._remember(attempt_id, f"fwd{attempt_id}", {"tab-a"}, None)
        agent.journal.append(attempt_id, [event(s) for s in range(1, 4)])
    corrupt_line(agent.journal.path(7), 1)                              # seq 2 garbled on disk, seq 3 intact
    fresh = make_agent(tmp_path, client_cmd=SLEEPER, dry_run_power=True)  # reads the files from the disk
    fresh.identity.code = "ROOM-CODE"
    fresh._app = Recorder()
    try:
        with caplog.at_level("ERROR", logger="kiosk_agent"):
            welcome(fresh)
        assert "journal of attempt 7 is DAMAGED at line 2" in caplog.text
        sent = {b.payload["attempt_id"]: [e["seq"] for e in b.payload["events"]] for b in fresh._app.of(P.EVENTS)}
        assert sent == {7: [1], 8: [1, 2, 3]}                            # the prefix of 7, all of 8
        (report,) = [r for r in fresh._app.of(P.REPORT) if r.payload["kind"] == "journal_damaged"]
        detail = P.validate(report)["detail"]
        assert detail["attempt_id"] == 7 and detail["line"] == 2
        assert detail["events_after"] == [{"line": 3, "t": "event", "writer": "tab-a", "seq": 3}]
        assert fresh.local_attempt(7)["damaged"]["line"] == 2 and fresh.local_attempt(8)["damaged"] is None
        served = Local(fresh)
        try:  # the page is told to save straight to the server; the other attempt still journals
            status, _, body = served.post("/v1/events", {"attempt_id": 7, "token": "fwd7", "events": [event(4)]})
            assert status == 507 and body["error"] == "journal_damaged"
            status, _, body = served.post("/v1/events", {"attempt_id": 8, "token": "fwd8", "events": [event(4)]})
            assert status == 200 and body["journaled"] == [4]
        finally:
            served.close()
        fresh._heartbeat()                                               # heartbeats go on
        assert P.validate(fresh._app.of(P.HEARTBEAT)[-1])["attempt_id"] == 8
    finally:
        fresh.lockdown.stop()


class PowerCut(Exception):
    """The PC went down between carrying out a power command and storing its result."""


@pytest.mark.req("K6")
def test_a_restart_that_took_the_agent_down_is_reported_done_not_repeated(agent, tmp_path, monkeypatch):
    """Review M7, in dry-run mode: the result is lost with the PC; the new agent reports it."""
    welcome(agent)

    def cut(command_id, result):
        raise PowerCut()
    monkeypatch.setattr(agent.commands.store, "put", cut)
    with pytest.raises(PowerCut):
        deliver(agent, P.COMMAND, {"command_id": 30, "name": "restart", "args": {}, "issued_at": 1.0})
    power = agent.config.data_dir / "power.log"
    assert len(power.read_text().splitlines()) == 1 and agent._app.of(P.COMMAND_RESULT) == []

    after = make_agent(tmp_path, client_cmd=SLEEPER, dry_run_power=True)  # the agent after the restart
    after._app = Recorder()
    try:
        welcome(after)
        (result,) = after._app.of(P.COMMAND_RESULT)
        assert P.validate(result)["command_id"] == 30 and result.payload["outcome"] == "done"
        deliver(after, P.COMMAND, {"command_id": 30, "name": "restart", "args": {}, "issued_at": 1.0})  # sent again
        assert [r.payload["outcome"] for r in after._app.of(P.COMMAND_RESULT)] == ["done", "done"]
        assert len(power.read_text().splitlines()) == 1                 # not carried out twice
        assert not list((agent.config.data_dir / "commands").glob("*.started.json"))
    finally:
        after.lockdown.stop()
