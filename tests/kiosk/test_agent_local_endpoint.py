"""The local endpoint (docs/protocol.md): bridge origin only, CORS + Private Network Access,
per-start token, events journaled (fsync) before the answer, offline state for the page."""
from __future__ import annotations

import errno
import json

import pytest

from kiosk_agent.journal import Journal
from tests.kiosk.agent_helpers import ORIGIN, Local, call, event, make_agent


@pytest.fixture
def local(tmp_path):
    served = Local(make_agent(tmp_path))
    yield served
    served.close()


@pytest.mark.req("K4")
def test_listens_on_loopback_only(local):
    assert local.endpoint.httpd.server_address[0] == "127.0.0.1"


@pytest.mark.req("K4")
def test_other_origins_get_403_without_cors(local):
    for origin in ("http://evil.example", "http://127.0.0.1:9999", None):
        status, headers, body = local.get("/v1/hello", origin=origin, token=False)
        assert status == 403 and body["error"] == "origin"
        assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = call(local.url + "/v1/events", "OPTIONS", headers={"Origin": "http://evil.example"})
    assert status == 403 and "Access-Control-Allow-Private-Network" not in headers


@pytest.mark.req("K4")
def test_preflight_allows_the_bridge_origin_and_private_network(local):
    status, headers, _ = call(local.url + "/v1/events", "OPTIONS", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Private-Network": "true"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Private-Network"] == "true"
    assert "X-Kiosk-Token" in headers["Access-Control-Allow-Headers"]


@pytest.mark.req("K4", "K6")
def test_hello_gives_the_token_seat_and_display(local):
    status, headers, body = local.get("/v1/hello", token=False)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ORIGIN
    assert body["token"] == local.endpoint.token and len(body["token"]) >= 24
    assert body["display"] == {"show_seat": False, "seat": None, "locked": False, "lock_message": None,
                               "online": False}
    assert set(body) >= {"agent_version", "kiosk_id", "seat", "token"}


@pytest.mark.req("K4")
def test_every_other_request_needs_the_token(local):
    status, _, body = local.post("/v1/events", {"attempt_id": 1, "token": "t", "events": [event(1)]}, token=False)
    assert status == 401 and body["error"] == "token"
    status, _, body = local.get("/v1/attempts/1", token=False)
    assert status == 401
    assert local.agent.journal.attempts() == []


@pytest.mark.req("K4")
def test_events_are_journaled_before_the_answer_and_the_page_sees_offline(local):
    status, _, body = local.post("/v1/events", {"attempt_id": 7, "token": "fwd", "events": [event(1), event(2)]})
    assert status == 200, body
    assert body == {"journaled": [1, 2], "server": {}, "online": False}
    # durable: a fresh Journal on the same directory (another process would see the same) reads them
    again = Journal(local.agent.config.data_dir / "journal")
    assert again.high_water(7) == {"tab-a": 2}
    assert [e["seq"] for e in again.pending(7, "tab-a", 0)] == [1, 2]
    status, _, body = local.get("/v1/attempts/7")
    assert status == 200 and body["journal"] == {"tab-a": 2} and body["server"] == {} and body["online"] is False
    # the forward token is kept for the upload, on disk
    tokens = json.loads((local.agent.config.data_dir / "tokens.json").read_text())
    assert tokens == {"7": {"tab-a": "fwd"}}
    assert local.agent.queue.get_nowait() == ("upload",)


@pytest.mark.req("K4")
@pytest.mark.parametrize("body, code", [
    ({"token": "t", "events": [event(1)]}, "attempt_id"),
    ({"attempt_id": 1, "events": [event(1)]}, "token"),
    ({"attempt_id": 1, "token": "t", "events": []}, "events"),
    ({"attempt_id": 1, "token": "t", "events": [{"writer": "w", "seq": "x"}]}, "invalid"),
    ({"attempt_id": 1, "token": "t", "events": [{**event(1), "response": "not an object"}]}, "invalid"),
])
def test_malformed_events_are_refused_with_a_reason(local, body, code):
    status, _, answer = local.post("/v1/events", body)
    assert status == 400 and answer["error"] == code and answer["message"]


@pytest.mark.req("K4")
def test_not_json_and_unknown_paths(local):
    status, _, body = local.post("/v1/events", b"{not json")
    assert status == 400 and body["error"] == "json"
    status, _, body = local.get("/v1/nothing")
    assert status == 404


@pytest.mark.req("K4")
def test_a_reused_seq_with_another_answer_is_a_conflict(local):
    assert local.post("/v1/events", {"attempt_id": 3, "token": "t", "events": [event(1, value="A")]})[0] == 200
    status, _, body = local.post("/v1/events", {"attempt_id": 3, "token": "t", "events": [event(1, value="B")]})
    assert status == 409 and body["error"] == "conflict"
    assert local.post("/v1/events", {"attempt_id": 3, "token": "t", "events": [event(1, value="A")]})[0] == 200


@pytest.mark.req("K1", "K4")
def test_full_disk_says_the_answer_is_not_saved(tmp_path):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    agent = make_agent(tmp_path, journal=Journal(tmp_path / "j", write=full))
    served = Local(agent)
    try:
        status, _, body = served.post("/v1/events", {"attempt_id": 1, "token": "t", "events": [event(1)]})
        assert status == 507 and body["error"] == "disk_full" and "NOT saved" in body["message"]
        assert agent._reports and agent._reports[0][0] == "disk_low"
    finally:
        served.close()


@pytest.mark.req("K4")
def test_meta_for_the_answer_pack_is_kept(local):
    body = {"attempt_id": 5, "token": "t", "events": [event(1)],
            "meta": {"exam_id": 2, "session_id": 3, "seat": 4, "ignored": "x"}}
    assert local.post("/v1/events", body)[0] == 200
    assert local.agent.journal.meta(5) == {"exam_id": 2, "session_id": 3, "seat": 4}


@pytest.mark.req("K4")
def test_a_rebound_host_name_is_refused(local):
    status, headers, body = call(local.url + "/v1/hello", headers={"Origin": ORIGIN, "Host": "evil.example"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, _, body = call(local.url + "/v1/hello", headers={"Origin": ORIGIN,
                                                              "Host": f"localhost:{local.endpoint.port}"})
    assert status == 200


# --- review M6: only the candidate client the agent started gets the token -----------------
CLIENT_SCRIPT = r"""
import json, subprocess, sys, urllib.error, urllib.request
url, origin, nested = sys.argv[1], sys.argv[2], sys.argv[3] == "nested"
if nested:  # the browser's network service is a child of the browser: ask from a grandchild
    sys.exit(subprocess.run([sys.executable, __file__, url, origin, "direct"]).returncode)
request = urllib.request.Request(url + "/v1/hello", headers={"Origin": origin})
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        print(json.dumps({"status": response.status, "body": json.loads(response.read())}))
except urllib.error.HTTPError as exc:
    print(json.dumps({"status": exc.code, "body": json.loads(exc.read())}))
"""


@pytest.fixture
def strict(tmp_path):
    agent = make_agent(tmp_path, lockdown="linux-chromium")
    assert agent.config.local_clients == "started"       # the default of the backend that starts the browser
    served = Local(agent, clients="started")
    yield served
    served.close()


def run_client(strict, tmp_path, mode):
    """A real process asking for /v1/hello; the agent counts it as its candidate client."""
    import subprocess
    import sys
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), strict.url, ORIGIN, mode], stdout=subprocess.PIPE)
    strict.agent.lockdown._client = proc                 # as start_client would have set it
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        strict.agent.lockdown._client = None
    return json.loads(out)


@pytest.mark.req("K4", "K3")
def test_a_local_process_other_than_the_client_gets_no_token(strict):
    status, headers, body = strict.get("/v1/hello", token=False)   # this test process: not the client
    assert status == 403 and body["error"] == "peer" and "token" not in body
    assert "Access-Control-Allow-Origin" not in headers
    status, _, body = strict.post("/v1/events", {"attempt_id": 1, "token": "t", "events": [event(1)]})
    assert status == 403 and body["error"] == "peer"               # even with the token
    assert strict.agent.journal.attempts() == []
    status, _, _ = call(strict.url + "/v1/events", "OPTIONS", headers={"Origin": ORIGIN})
    assert status == 403


@pytest.mark.req("K4", "K3")
@pytest.mark.parametrize("mode", ["direct", "nested"])
def test_the_started_client_and_its_children_get_the_token(strict, tmp_path, mode):
    answer = run_client(strict, tmp_path, mode)
    assert answer["status"] == 200 and answer["body"]["token"] == strict.endpoint.token


@pytest.mark.req("K4")
def test_a_client_started_by_an_earlier_run_of_the_agent_is_still_recognised(strict, tmp_path):
    import subprocess
    import sys
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        strict.agent.client_started(sleeper.pid)                    # recorded in state.json by start_client
        again = make_agent(tmp_path, lockdown="linux-chromium")     # the agent after a restart
        assert again.lockdown.client_pid is None and again.local_client_pid() == sleeper.pid
        again.update_state(client={"pid": sleeper.pid, "start": 1})  # another process with that pid: not it
        assert again.local_client_pid() is None
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.req("K4")
def test_monitor_keeps_the_origin_check_only_and_any_is_explicit(tmp_path):
    assert make_agent(tmp_path).config.local_clients == "any"
    assert make_agent(tmp_path, lockdown="linux-chromium", local_clients="any").config.local_clients == "any"
