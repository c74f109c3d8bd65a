"""The services behind the kiosk hub, called in process (no socket), on SQLite and
PostgreSQL: rooms and their enrolment codes (the service and ``exambridge room``), forward
tokens (bound to secret, attempt, epoch and time; the exam page's carries the attempt's epoch
and deadline), and kiosk commands (refused before anything is queued; a wipe carries the
bridge's own heads once the attempt has ended; a burst of results is recorded together).

The same over real WebSockets: test_hub.py.
"""
from __future__ import annotations

import datetime as dt

import pytest

from bridge.hub import issue_commands
from bridge.models.attempts import Attempt
from bridge.services.kiosks import devices
from bridge.services.delivery import forwarding
from tests.delivery import factories
from tests.kiosk.hub_helpers import kiosk_row


# --- rooms and enrolment codes --------------------------------------------------------------
@pytest.mark.req("K1")
def test_enrolment_code_is_hashed_readable_by_staff_and_rotatable(app, db_session):
    from bridge.models.devices import Room

    secret = app.config["SECRET_KEY"]
    info, code = devices.create_room(db_session, code="LAB-2", name="Lab 2", secret_key=secret)
    row = db_session.get(Room, info.id)
    assert code.replace("-", "") not in row.kiosk_enrolment_hash + row.kiosk_enrolment_sealed
    assert devices.enrolment_code(db_session, info.id, secret_key=secret) == code
    assert devices.enrolment_code(db_session, info.id, secret_key="another secret") is None
    new = devices.rotate_enrolment_code(db_session, info.id, secret_key=secret)
    assert new != code and devices.enrolment_code(db_session, info.id, secret_key=secret) == new
    with pytest.raises(devices.BadEnrolmentCode):
        devices.register_kiosk(db_session, room_code="LAB-2", code=code, public_key="k" * 43, machine="m",
                               secret_key=secret)
    made = devices.register_kiosk(db_session, room_code="LAB-2", code=new.lower(), public_key="k" * 43,
                                  machine="m", secret_key=secret)
    assert made.status == "pending"


@pytest.mark.req("K1")
def test_room_cli_creates_lists_and_shows_the_code(app):
    from tests.fixtures.cli import run_cli

    made = run_cli(app, "room", "create", "A101", "--name", "Building A, 101")
    assert made.returncode == 0, made.stderr
    code = made.stdout.strip().splitlines()[-1].split(": ")[1]
    listed = run_cli(app, "room", "list")
    assert "A101" in listed.stdout and "Building A, 101" in listed.stdout
    shown = run_cli(app, "room", "code", "A101")
    assert shown.stdout.strip().endswith(code)
    twice = run_cli(app, "room", "create", "A101")
    assert twice.returncode == 1 and "exists already" in twice.stderr
    rotated = run_cli(app, "room", "code", "A101", "--rotate")
    assert rotated.returncode == 0 and not rotated.stdout.strip().endswith(code)
    from bridge.extensions import db
    from bridge.services import audit

    with app.app_context():
        actions = [e.action for e in audit.recent(db.session, action_prefix="room.")]
        db.session.remove()
    assert actions == ["room.rotate_enrolment_code", "room.create"]


# --- forward tokens ------------------------------------------------------------------------
@pytest.mark.req("K4")
def test_forward_token_is_bound_to_secret_attempt_epoch_and_time():
    token = forwarding.forward_token("s1", 5, epoch=2, expires=2_000_000_000)
    assert forwarding.check_forward_token("s1", 5, token, now=1_900_000_000) == forwarding.ForwardGrant(2, 2_000_000_000)
    assert not forwarding.check_forward_token("s1", 6, token, now=1_900_000_000)
    assert not forwarding.check_forward_token("s2", 5, token, now=1_900_000_000)
    assert not forwarding.check_forward_token("s1", 5, None)
    assert not forwarding.check_forward_token("s1", 5, token[:-1] + "0" if token[-1] != "0" else token[:-1] + "1",
                                           now=1_900_000_000)
    assert not forwarding.check_forward_token("s1", 5, token.replace(".2.", ".3.", 1), now=1_900_000_000)  # epoch
    assert not forwarding.check_forward_token("s1", 5, token.replace("2000000000", "2100000000"), now=1_900_000_000)
    assert not forwarding.check_forward_token("s1", 5, token, now=2_000_000_000)  # expired
    assert forwarding.read_forward_token("s1", 5, token).expired(2_000_000_000)
    assert len(token) <= 100  # the agent and the protocol take up to 200 characters


@pytest.mark.req("K4")
def test_the_exam_page_token_carries_the_attempts_epoch_and_deadline(app, db_session):
    sitting = factories.sitting(db_session)
    attempt_id, _user = factories.attempt(db_session, sitting)
    factories.set_status(db_session, attempt_id, "in_exam", epoch=3)
    row = db_session.get(Attempt, attempt_id)
    grant = forwarding.check_forward_token(app.config["SECRET_KEY"], attempt_id,
                                        forwarding.mint_forward_token(db_session, app.config["SECRET_KEY"], attempt_id))
    deadline = row.deadline_at.replace(tzinfo=dt.timezone.utc).timestamp()
    assert grant == forwarding.ForwardGrant(3, int(deadline + forwarding.FORWARD_GRACE_SECONDS))


# --- commands -----------------------------------------------------------------------------
@pytest.mark.req("K6")
def test_bad_commands_are_refused_before_anything_is_queued(app, db_session, room):
    from bridge.errors import Invalid, NotFound

    with pytest.raises(Invalid):
        issue_commands(app, [1], "format_disk")
    with pytest.raises(Invalid):
        issue_commands(app, [1], "lock", {"colour": "red"})
    with pytest.raises(NotFound):
        issue_commands(app, [424242], "unlock")
    from bridge.runtime.writer import stop_writer

    stop_writer(app)


@pytest.mark.req("K6")
def test_wipe_carries_the_bridges_own_heads_and_waits_for_the_end_of_the_attempt(db_session):
    from bridge.errors import InvalidState
    from bridge.services.delivery import answers
    from bridge.services.kiosks import kiosk_commands

    sitting = factories.sitting(db_session)
    attempt_id, _user = factories.attempt(db_session, sitting)
    qid, qtype = sitting.questions[0]
    for seq in (1, 2, 3):
        last = answers.append(db_session, attempt_id, writer="tab-1", seq=seq, question_id=qid,
                              response=factories.sample_response(qtype, seq), client_time=None, epoch=1)
    room_info, code = devices.create_room(db_session, code="R-WIPE", name="", secret_key="s")
    kiosk_id = devices.register_kiosk(db_session, room_code="R-WIPE", code=code, public_key="w" * 43, machine="m",
                                      secret_key="s").id
    forged = {"attempt_id": attempt_id, "heads": {"tab-1": {"seq": 99, "head": "x"}}}
    with pytest.raises(InvalidState, match="submitted or closed"):
        kiosk_commands.issue(db_session, [kiosk_id], "wipe", forged, issued_by="user:1")
    db_session.commit()
    factories.set_status(db_session, attempt_id, "submitted", submitted_at=dt.datetime(2026, 1, 1),
                         submit_reason="candidate")
    [command_id] = kiosk_commands.issue(db_session, [kiosk_id], "wipe", forged, issued_by="user:1")
    assert kiosk_commands.get(db_session, command_id).args == {
        "attempt_id": attempt_id, "heads": {"tab-1": {"seq": 3, "head": last.head}}}


@pytest.mark.req("K6")
def test_results_of_a_burst_are_recorded_together_first_answer_wins(app, db_session, room):
    from bridge.errors import Invalid, NotFound
    from bridge.services.kiosks import kiosk_commands

    secret = app.config["SECRET_KEY"]
    kiosks = [devices.register_kiosk(db_session, room_code="R101", code=room[1], public_key=f"{n}" * 43,
                                     machine=f"m{n}", secret_key=secret).id for n in range(3)]
    ids = kiosk_commands.issue(db_session, kiosks, "env_check", issued_by="test")
    results = kiosk_commands.record_results(db_session, [
        (kiosks[0], ids[0], "done", {"ok": 1}), (kiosks[1], ids[1], "refused", {"why": "policy"}),
        (kiosks[0], ids[0], "failed", {}),           # a repeat in the same burst: the first wins
        (kiosks[2], ids[1], "done", {}),             # not this kiosk's command
        (kiosks[2], ids[2], "exploded", {})])        # no such outcome
    assert [r.status if not isinstance(r, Exception) else type(r) for r in results] == \
        ["done", "refused", "done", NotFound, Invalid]
    again = kiosk_commands.record_results(db_session, [(kiosks[1], ids[1], "done", {})])
    assert again[0].status == "refused" and again[0].result == {"why": "policy"}
    assert [c.id for c in kiosk_commands.unfinished(db_session, kiosks[2])] == [ids[2]]
    kiosk_commands.mark_sent(db_session, ids)
    devices.record_presences(db_session, [(kiosks[0], {"agent_status": "ready", "attempt_id": 10**6}),
                                          (kiosks[1], {"address": "10.0.0.1"}), (kiosks[2], {})])
    rows = {k: kiosk_row(db_session, k) for k in kiosks}
    assert rows[kiosks[0]].agent_status == "ready" and rows[kiosks[0]].attempt_id is None
    assert rows[kiosks[1]].last_address == "10.0.0.1" and rows[kiosks[2]].last_seen_at is not None
