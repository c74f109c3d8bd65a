"""``/ws/kiosk`` over real WebSockets: a protocol-level kiosk client (websocket-client +
``kiosk_agent.protocol``) against the bridge served on a port-0 socket, on SQLite and
PostgreSQL. Handshake, the brake on wrong enrolment codes, heartbeat presence, answers through
the group writer (forward tokens bound to the first kiosk, the heads in the welcome), reports,
commands (and the administrators' endpoint that issues them), fencing and duplicate refusal,
and an ``error`` (never a crash) for malformed input.

Without a socket: the services behind the hub in test_hub_services.py, its queues and brakes
in test_hub_internals.py. Fixtures in tests/kiosk/conftest.py, helpers in hub_helpers.py.
"""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from bridge.bench.kiosk_client import KioskClient
from bridge.hub import get_hub, issue_commands, stop_hub
from bridge.models.attempts import AnswerEvent
from bridge.models.devices import KioskAttempt, KioskCommand, KioskReport
from bridge.services.kiosks import devices
from bridge.services.venue import seats
from bridge.services.delivery import forwarding
from kiosk_agent import protocol as P
from tests.delivery import factories
from tests.fixtures.servers import serve_wsgi
from tests.kiosk.hub_helpers import SOCKET_CLOSED, connect, kiosk_row, registered, wait_until


# --- identity -----------------------------------------------------------------------------
@pytest.mark.req("K1")
def test_register_then_hello_on_a_new_socket(live, room, clients, db_session):
    first = registered(live, clients, room)
    welcome = first.welcome
    assert welcome["status"] == "pending" and welcome["seat"] is None and welcome["room"] == "R101"
    assert welcome["heartbeat_seconds"] == 5 and welcome["heads"] == {}
    kiosk_id = first.kiosk_id
    row = kiosk_row(db_session, kiosk_id)
    assert row.public_key == first.public_key and row.status == "pending" and row.last_address == "127.0.0.1"
    first.close()

    seats.seat_kiosk(db_session, kiosk_id, 7, actor="user:1")
    db_session.commit()
    from bridge.services import audit

    assert [e.target for e in audit.recent(db_session, action_prefix="kiosk.seat")] == [f"kiosk:{kiosk_id}"]
    again = connect(live, clients, key=first.key)
    answer = again.hello(kiosk_id)
    assert answer.type == P.WELCOME and answer.payload["status"] == "seated" and answer.payload["seat"] == 7


@pytest.mark.req("K1")
def test_identity_refusals_name_what_to_fix(live, room, clients, db_session, app):
    client = connect(live, clients)
    wrong = client.request(P.REGISTER, {
        "room": "R101", "code": "WRONG-CODE", "public_key": client.public_key, "machine": client.machine,
        "signature": P.sign(client.key, client.nonce, client.public_key)})
    assert wrong.type == P.ERROR and wrong.payload["code"] == "bad_enrolment_code"
    assert "注册码" in wrong.payload["message"]  # the bridge speaks its default language, zh_CN

    forged = client.request(P.REGISTER, {
        "room": "R101", "code": room[1], "public_key": client.public_key, "machine": client.machine,
        "signature": P.sign(client.key, "another-nonce", client.public_key)})
    assert forged.payload["code"] == "bad_signature"

    unknown = client.request(P.HELLO, {"kiosk_id": 999999, "signature": P.sign(client.key, client.nonce, 999999)})
    assert unknown.payload["code"] == "unknown_kiosk"

    early = client.request(P.HEARTBEAT, {"status": "idle"})
    assert early.payload["code"] == "not_welcomed"

    # the same socket can still register properly
    assert client.register("R101", room[1]).type == P.WELCOME

    # someone else's key: a hello signed by another key is refused
    thief = connect(live, clients)
    stolen = thief.request(P.HELLO, {"kiosk_id": client.kiosk_id,
                                     "signature": P.sign(thief.key, thief.nonce, client.kiosk_id)})
    assert stolen.payload["code"] == "bad_signature"

    # the same key from another machine
    clone = connect(live, clients, key=client.key)
    clone.machine = "0" * 64
    reused = clone.register("R101", room[1])
    assert reused.type == P.ERROR and reused.payload["code"] == "key_in_use"

    # a retired kiosk must register again
    devices.retire_kiosk(db_session, client.kiosk_id)
    db_session.commit()
    late = connect(live, clients, key=client.key)
    assert late.hello(client.kiosk_id).payload["code"] == "unknown_kiosk"


@pytest.mark.req("K1", "K2")
@pytest.mark.parametrize("raw, fragment", [
    ("not json", "not JSON"),
    (json.dumps({"v": 9, "type": "heartbeat", "id": "1", "ts": 1}), "version 9"),
    (json.dumps({"v": 1, "type": "heartbeat", "id": "1", "ts": 1, "payload": {"status": "dancing"}}),
     "payload.status"),
    (json.dumps({"v": 1, "type": "teleport", "id": "1", "ts": 1}), "unknown message type"),
    (json.dumps({"v": 1, "type": "events", "id": "1", "ts": 1, "payload": {"attempt_id": 1, "token": "x",
                                                                         "events": []}}), "1 to 100"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_messages_get_an_error_and_the_socket_lives_on(live, room, clients, raw, fragment):
    client = registered(live, clients, room)
    client.send_raw(raw)
    error = client.wait_for(lambda e: e.type == P.ERROR, "error")
    assert error.payload["code"] in ("bad_message", "unexpected") and fragment in error.payload["message"]
    assert client.heartbeat().type == P.HEARTBEAT_ACK


@pytest.mark.req("K1")
def test_silence_before_the_handshake_is_closed(live, room, clients, monkeypatch):
    from bridge.hub import routes

    monkeypatch.setattr(routes, "HANDSHAKE_SECONDS", 0.5)
    client = connect(live, clients)
    error = client.wait_for(lambda e: e.type == P.ERROR, "timeout error", timeout=5)
    assert error.payload["code"] == "timeout"
    with pytest.raises(SOCKET_CLOSED):
        client.recv(timeout=5)


@pytest.mark.req("K1")
def test_wrong_enrolment_codes_never_reach_the_writer_and_are_braked_per_address(live, room, clients, app,
                                                                                monkeypatch):
    """Review M5: a register with a wrong code is refused from a plain read (the group writer
    sees no job), and after 10 wrong codes from one address within 5 minutes that address is
    refused outright (``too_many_attempts``, socket closed), even with the right code."""
    from bridge.runtime.writer import get_writer

    writer = get_writer(app)
    jobs = []
    real_submit = writer.submit
    monkeypatch.setattr(writer, "submit", lambda fn, *a: (jobs.append(fn), real_submit(fn, *a))[1])
    for n in range(10):
        client = connect(live, clients)
        wrong = client.request(P.REGISTER, {
            "room": "R101", "code": f"WRONG-{n:04d}", "public_key": client.public_key, "machine": client.machine,
            "signature": P.sign(client.key, client.nonce, client.public_key)})
        assert wrong.payload["code"] == "bad_enrolment_code"
    assert not [fn for fn in jobs if "register" in getattr(fn, "func", fn).__name__]
    braked = connect(live, clients)
    answer = braked.register("R101", room[1])
    assert answer.type == P.ERROR and answer.payload["code"] == "too_many_attempts"
    with pytest.raises(SOCKET_CLOSED):
        braked.recv(timeout=5)
    get_hub(app).enrolment_failures._failures.clear()  # the window passing
    assert connect(live, clients).register("R101", room[1]).type == P.WELCOME


# --- presence -----------------------------------------------------------------------------
@pytest.mark.req("K2")
def test_heartbeats_persist_only_changes(live, room, clients, db_session, app, monkeypatch):
    sitting = factories.sitting(db_session)
    attempt_id, _user = factories.attempt(db_session, sitting)
    client = registered(live, clients, room)
    ack = client.heartbeat()
    assert ack.type == P.HEARTBEAT_ACK and abs(ack.payload["server_time"] - time.time()) < 5
    assert get_hub(app).online([client.kiosk_id]) == {client.kiosk_id: True}

    client.heartbeat(status="in_exam", candidate="2026000107", attempt_id=attempt_id, seat=3)
    row = wait_until(lambda: (r := kiosk_row(db_session, client.kiosk_id)).agent_status == "in_exam" and r,
                     "persisted status")
    assert row.candidate == "2026000107" and row.attempt_id == attempt_id
    seen = row.last_seen_at
    for _ in range(3):  # unchanged: no write
        client.heartbeat(status="in_exam", candidate="2026000107", attempt_id=attempt_id, seat=3)
    time.sleep(0.3)
    assert kiosk_row(db_session, client.kiosk_id).last_seen_at == seen

    client.close()
    wait_until(lambda: not get_hub(app).online([client.kiosk_id])[client.kiosk_id], "presence released")


# --- answers ------------------------------------------------------------------------------
def _event(sitting, seq: int, n: int = 0) -> dict:
    qid, qtype = sitting.questions[0]
    return {"writer": "kiosk-7", "seq": seq, "question_id": qid, "response": factories.sample_response(qtype, n),
            "client_time": time.time(), "epoch": 1}


@pytest.mark.req("K4", "C5")
def test_events_are_stored_through_the_writer_and_acked(live, room, clients, db_session, app):
    sitting = factories.sitting(db_session)
    attempt_id, _user = factories.attempt(db_session, sitting)
    token = forwarding.forward_token(app.config["SECRET_KEY"], attempt_id)
    client = registered(live, clients, room)

    acks = client.request(P.EVENTS, {"attempt_id": attempt_id, "token": token,
                                     "events": [_event(sitting, 1), _event(sitting, 2, 1)]})
    assert acks.type == P.ACKS
    assert [a["seq"] for a in acks.payload["acks"]] == [1, 2]
    assert all(a["duplicate"] is False and a["status"] == "applied" for a in acks.payload["acks"])
    head = acks.payload["acks"][-1]["head"]

    again = client.request(P.EVENTS, {"attempt_id": attempt_id, "token": token, "events": [_event(sitting, 2, 1)]})
    assert again.payload["acks"][0]["duplicate"] is True and again.payload["acks"][0]["head"] == head
    stored = db_session.scalar(select(func.count()).select_from(AnswerEvent).where(AnswerEvent.attempt_id == attempt_id))
    assert stored == 2

    mixed = client.request(P.EVENTS, {"attempt_id": attempt_id, "token": token,
                                      "events": [{"writer": "kiosk-7", "seq": 3, "bogus": 1},
                                                 dict(_event(sitting, 4), question_id=10**9)]})
    assert [a.get("error") for a in mixed.payload["acks"]] == ["invalid", "invalid"]

    forged = client.request(P.EVENTS, {"attempt_id": attempt_id, "token": "0" * 64, "events": [_event(sitting, 5)]})
    assert forged.type == P.ERROR and forged.payload["code"] == "bad_token"
    other = client.request(P.EVENTS, {"attempt_id": attempt_id + 1, "token": token, "events": [_event(sitting, 5)]})
    assert other.payload["code"] == "bad_token"

    # after a reconnect the welcome carries the heads of the kiosk's attempt
    client.heartbeat(status="in_exam", attempt_id=attempt_id)
    wait_until(lambda: kiosk_row(db_session, client.kiosk_id).attempt_id == attempt_id, "attempt persisted")
    client.close()
    back = connect(live, clients, key=client.key)
    back.hello(client.kiosk_id)
    assert back.welcome["heads"] == {str(attempt_id): {"kiosk-7": {"seq": 2, "head": head}}}


@pytest.mark.req("K4")
def test_the_first_kiosk_to_forward_carries_the_attempt_and_epoch(live, room, clients, db_session, app, monkeypatch):
    """A forward token binds (attempt, epoch) to the first kiosk that forwards with it: another
    kiosk with the same token is refused (``wrong_kiosk``, nothing stored); the next epoch (a
    resume) binds anew. The binding is written once per process, not per message."""
    secret = app.config["SECRET_KEY"]
    sitting = factories.sitting(db_session)
    attempt_id, _user = factories.attempt(db_session, sitting)
    token = forwarding.mint_forward_token(db_session, secret, attempt_id)
    first, second = registered(live, clients, room), registered(live, clients, room)
    binds = []
    real_bind = forwarding.bind_forward
    monkeypatch.setattr(forwarding, "bind_forward", lambda *a: binds.append(a[1:]) or real_bind(*a))

    for seq in (1, 2, 3):
        acks = first.request(P.EVENTS, {"attempt_id": attempt_id, "token": token, "events": [_event(sitting, seq)]})
        assert acks.type == P.ACKS and "error" not in acks.payload["acks"][0], acks
    assert binds == [(attempt_id, 1, first.kiosk_id)]  # one write, then the process's cache

    stolen = second.request(P.EVENTS, {"attempt_id": attempt_id, "token": token,
                                       "events": [dict(_event(sitting, 1), writer="kiosk-8")]})
    assert stolen.type == P.ERROR and stolen.payload["code"] == "wrong_kiosk"
    assert db_session.scalar(select(func.count()).select_from(AnswerEvent)
                             .where(AnswerEvent.attempt_id == attempt_id, AnswerEvent.writer == "kiosk-8")) == 0

    factories.set_status(db_session, attempt_id, "in_exam", epoch=2)  # a resume moved the candidate
    resumed = forwarding.mint_forward_token(db_session, secret, attempt_id)
    moved = second.request(P.EVENTS, {"attempt_id": attempt_id, "token": resumed,
                                      "events": [dict(_event(sitting, 1), writer="kiosk-8", epoch=2)]})
    assert moved.type == P.ACKS and moved.payload["acks"][0]["status"] == "applied", moved
    db_session.expire_all()
    bound = db_session.execute(select(KioskAttempt.epoch, KioskAttempt.kiosk_id)
                               .where(KioskAttempt.attempt_id == attempt_id).order_by(KioskAttempt.epoch)).all()
    assert [tuple(b) for b in bound] == [(1, first.kiosk_id), (2, second.kiosk_id)]
    old_seat = first.request(P.EVENTS, {"attempt_id": attempt_id, "token": resumed, "events": [_event(sitting, 4)]})
    assert old_seat.payload["code"] == "wrong_kiosk"

    expired = forwarding.forward_token(secret, attempt_id, epoch=1, expires=time.time() - 1)
    late = first.request(P.EVENTS, {"attempt_id": attempt_id, "token": expired, "events": [_event(sitting, 4)]})
    assert late.type == P.ERROR and late.payload["code"] == "bad_token" and late.payload["message"]


@pytest.mark.req("K4")
def test_welcome_heads_end_where_the_stream_has_a_hole(live, room, clients, db_session, app):
    """A lost message, then a later one stored: the heads stop before the hole, so the agent
    resends from there (everything up to ``seq`` is stored, ``head`` is the hash at ``seq``)."""
    from bridge.services.delivery import answers

    sitting = factories.sitting(db_session)
    attempt_id, _user = factories.attempt(db_session, sitting)
    qid, qtype = sitting.questions[0]

    def put(writer, seq):
        return answers.append(db_session, attempt_id, writer=writer, seq=seq, question_id=qid,
                              response=factories.sample_response(qtype, seq), client_time=None, epoch=1)

    acks = {(w, s): put(w, s) for w, seqs in (("holed", (1, 2, 4, 5)), ("whole", (1, 2, 3)), ("late", (2, 3)))
            for s in seqs}
    db_session.commit()
    expected = {"holed": {"seq": 2, "head": acks[("holed", 2)].head},
                "whole": {"seq": 3, "head": acks[("whole", 3)].head}}  # "late": seq 1 is missing
    assert forwarding.stored_heads(db_session, attempt_id) == expected

    client = registered(live, clients, room)
    client.heartbeat(status="in_exam", attempt_id=attempt_id)
    wait_until(lambda: kiosk_row(db_session, client.kiosk_id).attempt_id == attempt_id, "attempt persisted")
    client.close()
    back = connect(live, clients, key=client.key)
    back.hello(client.kiosk_id)
    assert back.welcome["heads"] == {str(attempt_id): expected}


# --- reports ------------------------------------------------------------------------------
@pytest.mark.req("K3", "K7")
def test_reports_are_stored_and_env_check_kept(live, room, clients, db_session):
    client = registered(live, clients, room)
    ack = client.request(P.REPORT, {"kind": "focus_lost", "detail": {"window": "Calculator"}})
    assert ack.type == P.REPORT_ACK
    env = {"cpu_cores": 4, "memory_mb": 8192, "passed": True}
    assert client.request(P.REPORT, {"kind": "env_check", "detail": env}).type == P.REPORT_ACK
    kinds = db_session.scalars(select(KioskReport.kind).where(KioskReport.kiosk_id == client.kiosk_id)).all()
    assert kinds == ["focus_lost", "env_check"]
    row = kiosk_row(db_session, client.kiosk_id)
    assert row.env_check == env and row.env_checked_at is not None


# --- commands -----------------------------------------------------------------------------
@pytest.mark.req("K6", "P13")
def test_commands_reach_the_kiosk_and_results_are_stored_once(live, room, clients, db_session, app):
    client = registered(live, clients, room)
    seats.seat_kiosk(db_session, client.kiosk_id, 12)
    db_session.commit()
    [command_id] = issue_commands(app, [client.kiosk_id], "show_seat", issued_by="test")
    command = client.command()
    assert command.payload["command_id"] == command_id and command.payload["name"] == "show_seat"
    assert command.payload["args"] == {"seat": 12} and abs(command.payload["issued_at"] - time.time()) < 5
    wait_until(lambda: db_session.get(KioskCommand, command_id, populate_existing=True).status == "sent",
               "command marked sent")

    ack = client.request(P.COMMAND_RESULT, {"command_id": command_id, "outcome": "done", "detail": {"shown": True}})
    assert ack.type == P.COMMAND_RESULT_ACK and ack.payload["status"] == "done"
    repeat = client.request(P.COMMAND_RESULT, {"command_id": command_id, "outcome": "failed", "detail": {}})
    assert repeat.payload["status"] == "done"
    row = db_session.get(KioskCommand, command_id, populate_existing=True)
    assert row.status == "done" and row.result == {"shown": True} and row.finished_at is not None

    missing = client.request(P.COMMAND_RESULT, {"command_id": 10**6, "outcome": "done", "detail": {}})
    assert missing.type == P.ERROR and missing.payload["code"] == "not_found"


@pytest.mark.req("K6")
def test_unfinished_commands_are_sent_again_after_welcome(live, room, clients, db_session, app):
    client = registered(live, clients, room)
    client.close()
    ids = issue_commands(app, [client.kiosk_id], "lock", {"message": "Hands off"}, issued_by="test")
    ids += issue_commands(app, [client.kiosk_id], "unlock", issued_by="test")
    back = connect(live, clients, key=client.key)
    back.hello(client.kiosk_id)
    got = [back.command().payload for _ in ids]
    assert [c["command_id"] for c in got] == ids and got[0]["args"] == {"message": "Hands off"}


@pytest.mark.req("P13", "K6")
def test_command_endpoint_is_for_administrators_and_says_what_is_wrong(app, db_session, room, live, clients):
    from bridge.bench.seed import SESSION_COOKIE, session_cookie
    from bridge.models.users import User

    client = registered(live, clients, room)
    admin = User(name="Admin", username="hub-admin", is_admin=True)
    teacher = User(name="Teacher", username="hub-teacher")
    db_session.add_all([admin, teacher])
    db_session.commit()

    http = app.test_client()
    body = {"kiosks": [client.kiosk_id], "name": "lock", "args": {"message": "Eyes on your screen"}}
    assert http.post("/hub/commands", json=body).status_code in (400, 401)  # no session (and no CSRF token)

    def as_user(user_id):
        cookie, csrf = session_cookie(app, user_id)
        http.set_cookie(SESSION_COOKIE, cookie, domain="localhost")
        return {"X-CSRF-Token": csrf}

    assert http.post("/hub/commands", json=body, headers=as_user(teacher.id)).status_code == 403
    headers = as_user(admin.id)
    bad = http.post("/hub/commands", json={"kiosks": "all", "name": "lock"}, headers=headers)
    assert bad.status_code == 422
    unknown = http.post("/hub/commands", json={"kiosks": [client.kiosk_id], "name": "format"}, headers=headers)
    assert unknown.status_code == 422
    done = http.post("/hub/commands", json=body, headers=headers)
    assert done.status_code == 200, done.get_data(as_text=True)
    [command_id] = done.get_json()["commands"]
    command = client.command()
    assert command.payload["command_id"] == command_id and command.payload["args"] == body["args"]
    assert db_session.get(KioskCommand, command_id).issued_by == f"user:{admin.id}"
    from bridge.services import audit

    [entry] = audit.recent(db_session, action_prefix="kiosk.command")
    assert entry.actor == f"user:{admin.id}" and entry.detail["name"] == "lock"
    assert entry.detail["kiosks"] == [client.kiosk_id]


# --- one key, one socket ------------------------------------------------------------------
@pytest.mark.req("K1", "K2")
def test_a_newer_hello_from_the_same_address_fences_the_older_socket(live, room, clients, app):
    first = registered(live, clients, room)
    second = connect(live, clients, key=first.key)
    assert second.hello(first.kiosk_id).type == P.WELCOME
    fenced = first.wait_for(lambda e: e.type == P.ERROR, "fence")
    assert fenced.payload["code"] == "fenced"
    with pytest.raises(SOCKET_CLOSED):
        first.recv(timeout=5)
    assert second.heartbeat().type == P.HEARTBEAT_ACK
    [command_id] = issue_commands(app, [first.kiosk_id], "hide_seat")
    assert second.command().payload["command_id"] == command_id


@pytest.fixture
def proxied_app(make_app):
    return make_app(PROXY_HOPS=1)


@pytest.mark.req("K1")
def test_the_same_key_from_a_second_address_is_refused(proxied_app, clients):
    from bridge.extensions import db
    from bridge.runtime.writer import stop_writer

    app = proxied_app
    with app.app_context():
        info, code = devices.create_room(db.session, code="R2", name="", secret_key=app.config["SECRET_KEY"])
        db.session.commit()
        db.session.remove()
    with serve_wsgi(app) as server:
        url = server.url.replace("http://", "ws://") + "/ws/kiosk"
        first = KioskClient(url, headers=["X-Forwarded-For: 10.0.0.7"])
        clients.append(first)
        assert first.register("R2", code).type == P.WELCOME
        second = KioskClient(url, key=first.key, headers=["X-Forwarded-For: 10.0.0.99"])
        clients.append(second)
        refused = second.hello(first.kiosk_id)
        assert refused.type == P.ERROR and refused.payload["code"] == "duplicate_connection"
        assert "10.0.0.7" in refused.payload["message"]
        with pytest.raises(SOCKET_CLOSED):
            second.recv(timeout=5)
        assert first.heartbeat().type == P.HEARTBEAT_ACK  # the first socket is untouched
    stop_hub(app)
    stop_writer(app)
