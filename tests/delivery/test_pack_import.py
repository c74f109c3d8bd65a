"""Importing answer packs on the bridge (P6, K5, K4): a real journal on disk exports the pack,
the bridge verifies it with its stored pack key and merges through the group writer.
Replayed and older packs are harmless; tampered, truncated and foreign packs are refused
with a clear message and change nothing; the bridge judges the offline tail from its own
stream (never the kiosk's ``acked``), and takes packs only from a registered kiosk that
carried the attempt, unless a proctor overrides with a reason. SQLite and PostgreSQL
(``backend``)."""
from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bridge.models.attempts import AnswerEvent, AttemptLog
from bridge.models.audit import AuditEntry
from bridge.models.packs import PackImport, PackKey
from bridge.services.delivery import answers, pack_keys, packs
from bridge.services.kiosks import devices
from bridge.services.delivery import forwarding
from kiosk_agent.answer_pack import generate_bridge_key, generate_device_key, open_pack, public_key_b64
from kiosk_agent.answer_pack import model as pack_model
from kiosk_agent.journal import Journal
from tests.contracts.packs import generate as golden
from tests.delivery import factories
from tests.delivery.factories import question, sample_response
from tests.fixtures.cli import run_cli

pytestmark = [pytest.mark.req("P6"), pytest.mark.req("K5")]


# --- helpers ------------------------------------------------------------------------------
def _import(app, data, **kw):
    """The pack through the app's group writer, as the console and the CLI import it."""
    from bridge.runtime.writer import get_writer

    return packs.import_pack(get_writer(app), data, secret_key=app.config["SECRET_KEY"], **kw)


def _secret() -> str:
    from flask import current_app

    return current_app.config["SECRET_KEY"]


@pytest.fixture
def bridge_key(db_session):
    key = pack_keys.public_key_b64(db_session, _secret())
    db_session.commit()
    return key


@pytest.fixture
def device(db_session, attempt_id):
    """The key of a registered kiosk that carried the attempt (it forwarded events for it)."""
    key = generate_device_key()
    kiosk_id = _kiosk(db_session, public_key_b64(key))
    forwarding.bind_forward(db_session, attempt_id, 1, kiosk_id)
    db_session.commit()
    return key


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "journal")


def kiosk_event(sitting, seq, *, writer="kiosk-1:tab-1", n=None, qtype="single", client_time=None):
    return {"writer": writer, "seq": seq, "question_id": question(sitting, qtype),
            "response": sample_response(qtype, seq if n is None else n), "client_time": client_time, "epoch": 1}


def online(writer, journal, attempt_id, events):
    """What the agent does while connected: journal, forward through the bridge's append, mark acked."""
    journal.append(attempt_id, events)
    for event in events:
        ack = writer.submit(functools.partial(answers.append, **event), attempt_id)
        journal.mark_acked(attempt_id, event["writer"], ack.seq, ack.head)


def export(journal, attempt_id, sitting, device, bridge_key, **meta):
    journal.set_meta(attempt_id, {"exam_id": sitting.exam_id, "session_id": sitting.session_id,
                                  "admission_number": "2026-0001", "seat": 3, **meta})
    return journal.export_pack(attempt_id, device_private_key=device, bridge_public_key=bridge_key, kiosk_id=None)


def stored(db_session, attempt_id):
    db_session.rollback()
    return db_session.execute(select(AnswerEvent.writer, AnswerEvent.seq, AnswerEvent.hash)
                              .where(AnswerEvent.attempt_id == attempt_id).order_by(AnswerEvent.id)).all()


def log_actions(db_session, attempt_id):
    db_session.rollback()
    return [a for (a,) in db_session.execute(select(AttemptLog.action).where(AttemptLog.attempt_id == attempt_id)
                                             .order_by(AttemptLog.id))]


# --- merging --------------------------------------------------------------------------------
def test_an_offline_journal_is_imported_and_flagged(app, writer, db_session, sitting, attempt_id, journal, device,
                                                    bridge_key):
    events = [kiosk_event(sitting, 1), kiosk_event(sitting, 2, qtype="essay"), kiosk_event(sitting, 3)]
    journal.append(attempt_id, events)
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.status, report.accepted, report.duplicate, report.refused, report.flagged) == \
        ("imported", 3, 0, 0, 3)
    assert [(w, s) for w, s, _h in stored(db_session, attempt_id)] == [("kiosk-1:tab-1", 1), ("kiosk-1:tab-1", 2),
                                                                       ("kiosk-1:tab-1", 3)]
    # the bridge's chain is the kiosk's chain
    assert stored(db_session, attempt_id)[-1][2] == journal.heads(attempt_id)["kiosk-1:tab-1"]["head"]
    assert answers.current_answers(db_session, attempt_id) == {
        question(sitting, "single"): sample_response("single", 3),
        question(sitting, "essay"): sample_response("essay", 2)}
    assert log_actions(db_session, attempt_id) == ["pack_import", "pack_offline_tail"]
    row = db_session.scalars(select(PackImport)).one()
    assert (row.attempt_id, row.accepted, row.flagged, row.actor, row.manifest["seat"]) == (attempt_id, 3, 3,
                                                                                            "proctor:1", 3)
    assert db_session.scalars(select(AuditEntry).where(AuditEntry.action == "pack.import")).one().outcome == "ok"


def test_acknowledged_events_are_duplicates_and_only_the_tail_is_flagged(app, writer, db_session, sitting,
                                                                          attempt_id, journal, device, bridge_key):
    online(writer, journal, attempt_id, [kiosk_event(sitting, 1), kiosk_event(sitting, 2)])
    journal.append(attempt_id, [kiosk_event(sitting, 3), kiosk_event(sitting, 4)])  # the network is down
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.duplicate, report.refused, report.flagged) == (2, 2, 0, 2)
    assert len(stored(db_session, attempt_id)) == 4
    detail = db_session.scalars(select(AttemptLog.detail).where(AttemptLog.action == "pack_offline_tail")).one()
    assert detail["writers"] == {"kiosk-1:tab-1": "3-4 (2 events)"}


def test_a_replayed_pack_is_reported_as_already_imported(app, writer, db_session, sitting, attempt_id, journal,
                                                         device, bridge_key):
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    data = export(journal, attempt_id, sitting, device, bridge_key)
    first = _import(app, data, actor="proctor:1")
    again = _import(app, data, actor="proctor:2")
    assert (first.status, again.status) == ("imported", "already_imported")
    assert "imported on" in again.messages[0] and again.accepted == 0
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(PackImport)) == 1
    assert len(stored(db_session, attempt_id)) == 1


def test_an_older_pack_after_a_newer_one_changes_nothing(app, writer, db_session, sitting, attempt_id, journal,
                                                         device, bridge_key):
    journal.append(attempt_id, [kiosk_event(sitting, 1, n=0), kiosk_event(sitting, 2, n=1)])
    older = export(journal, attempt_id, sitting, device, bridge_key)
    journal.append(attempt_id, [kiosk_event(sitting, 3, n=2)])  # the candidate changed the answer again
    newer = export(journal, attempt_id, sitting, device, bridge_key)
    assert _import(app, newer, actor="proctor:1").accepted == 3
    report = _import(app, older, actor="proctor:1")
    assert (report.status, report.older, report.accepted, report.duplicate) == ("imported", True, 0, 2)
    assert any("not newer" in m for m in report.messages)
    assert answers.current_answers(db_session, attempt_id) == {
        question(sitting, "single"): sample_response("single", 2)}


def test_a_tail_that_does_not_continue_the_bridges_chain_is_refused(app, writer, db_session, sitting, attempt_id,
                                                                     journal, device, bridge_key):
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    writer.submit(functools.partial(answers.append, **kiosk_event(sitting, 1, n=2)), attempt_id)  # another answer
    journal.mark_acked(attempt_id, "kiosk-1:tab-1", 1, journal.heads(attempt_id)["kiosk-1:tab-1"]["head"])
    journal.append(attempt_id, [kiosk_event(sitting, 2), kiosk_event(sitting, 3)])
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.duplicate, report.refused, report.flagged) == (0, 0, 3, 0)  # seq 1: a conflict
    assert any("does not continue the chain the bridge stores" in m and "2-3" in m for m in report.messages)
    assert len(stored(db_session, attempt_id)) == 1
    assert "answer_conflict" in log_actions(db_session, attempt_id)


def test_the_kiosks_acked_grants_nothing(app, writer, db_session, sitting, attempt_id, journal, device, bridge_key):
    """A pack claiming the bridge acknowledged events it never stored: they are offline tail
    all the same (flagged, held to the deadline), whatever ``manifest.acked`` says."""
    from bridge import clock

    late = clock.timestamp() + 3 * 3600  # the attempt ends in 120 minutes
    online(writer, journal, attempt_id, [kiosk_event(sitting, 1)])
    journal.append(attempt_id, [kiosk_event(sitting, 2, client_time=clock.timestamp()),
                                kiosk_event(sitting, 3, client_time=late)])
    heads = journal.heads(attempt_id)["kiosk-1:tab-1"]
    journal.mark_acked(attempt_id, "kiosk-1:tab-1", heads["seq"], heads["head"])  # forged: never acknowledged
    data = export(journal, attempt_id, sitting, device, bridge_key)
    assert open_pack(data, pack_keys.private_keys(db_session, _secret()))[0]["acked"]["kiosk-1:tab-1"]["seq"] == 3
    report = _import(app, data, actor="proctor:1")
    assert (report.accepted, report.duplicate, report.refused, report.flagged) == (1, 1, 1, 1)
    assert report.tail == {"kiosk-1:tab-1": [2]}
    assert any("seq 3 were made after the deadline" in m for m in report.messages)
    assert log_actions(db_session, attempt_id)[-2:] == ["pack_import", "pack_offline_tail"]


def test_an_event_without_epoch_chains_alike_on_the_bridge_and_in_the_pack(app, writer, db_session, sitting,
                                                                           attempt_id, journal, device, bridge_key):
    """Epoch null counts as 1 on both sides (docs/answer-pack.md), even when the attempt's
    epoch is 2 by now: the kiosk's acked head is the bridge's, and its offline tail continues."""
    factories.set_status(db_session, attempt_id, "in_exam", epoch=2)
    first = dict(kiosk_event(sitting, 1), epoch=None)
    online(writer, journal, attempt_id, [first])
    bridge_head = answers.writer_heads(db_session, attempt_id)["kiosk-1:tab-1"]["head"]
    assert bridge_head == pack_model.chain_event(None, attempt_id, first) == \
        journal.heads(attempt_id)["kiosk-1:tab-1"]["head"]
    db_session.rollback()
    assert db_session.scalars(select(AnswerEvent.status).where(AnswerEvent.attempt_id == attempt_id)).one() == \
        "applied"  # applied in the attempt's epoch, hashed as the event carries it
    journal.append(attempt_id, [dict(kiosk_event(sitting, 2), epoch=None)])
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.duplicate, report.refused, report.flagged) == (1, 1, 0, 1)
    assert answers.writer_heads(db_session, attempt_id)["kiosk-1:tab-1"]["head"] == \
        journal.heads(attempt_id)["kiosk-1:tab-1"]["head"]


def test_tail_events_made_after_the_deadline_are_refused(app, writer, db_session, sitting, attempt_id, journal,
                                                         device, bridge_key):
    from bridge import clock

    late = clock.timestamp() + 3 * 3600  # the attempt ends in 120 minutes
    journal.append(attempt_id, [kiosk_event(sitting, 1, client_time=clock.timestamp()),
                                kiosk_event(sitting, 2, client_time=late)])
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.refused) == (1, 1)
    assert any("after the deadline" in m for m in report.messages)


def test_the_bridge_clock_estimate_rules_over_the_kiosk_wall_clock(app, writer, db_session, sitting, attempt_id,
                                                                    tmp_path, device, bridge_key):
    """``at`` (the bridge's time carried by the agent's monotonic clock) wins over a kiosk
    wall clock set wrong: here the kiosk's wall clock says "late", the anchor says "in time"."""
    from bridge import clock

    ticks = iter([0.0, 10.0])
    journal = Journal(tmp_path / "j", monotonic=lambda: next(ticks))
    journal.note_server_time(attempt_id, clock.timestamp())
    journal.append(attempt_id, [kiosk_event(sitting, 1, client_time=clock.timestamp() + 10 * 3600)])
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.refused) == (1, 0)


def test_a_submitted_attempt_refuses_new_events_with_a_reason(app, writer, db_session, sitting, attempt_id, journal,
                                                              device, bridge_key):
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    factories.set_status(db_session, attempt_id, "submitted", submitted_at=dt.datetime(2026, 1, 1),
                         submit_reason="deadline")
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.status, report.accepted, report.refused) == ("imported", 0, 1)
    assert any("submitted" in m for m in report.messages)


# --- refusals -------------------------------------------------------------------------------
def _flip(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize("case, fragment", [
    ("tampered_manifest", "changed after the kiosk made it"),
    ("tampered_events", "changed after the kiosk made it"),
    ("tampered_signature", "changed after the kiosk made it"),
    ("truncated", "truncated"),
    ("not_a_pack", "not an answer pack"),
    ("other_bridge", "another bridge's key"),
    ("other_session", "another exam session"),
    ("unknown_attempt", "does not have"),
    ("voided", "voided attempt"),
])
def test_bad_packs_are_refused_and_change_nothing(app, writer, db_session, sitting, attempt_id, journal, device,
                                                  bridge_key, case, fragment):
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    data = export(journal, attempt_id, sitting, device, bridge_key)
    if case == "tampered_manifest":
        data = _flip(data, 40)
    elif case == "tampered_events":
        data = _flip(data, len(data) - 80)
    elif case == "tampered_signature":
        data = _flip(data, len(data) - 1)
    elif case == "truncated":
        data = data[: len(data) // 2]
    elif case == "not_a_pack":
        data = b"%PDF-1.7 not a pack"
    elif case == "other_bridge":
        data = export(journal, attempt_id, sitting, device, public_key_b64(generate_bridge_key()))
    elif case == "other_session":
        data = export(journal, attempt_id, sitting, device, bridge_key, session_id=sitting.session_id + 1000)
    elif case == "unknown_attempt":
        other = Journal(journal.directory.parent / "other")
        other.append(attempt_id + 1000, [kiosk_event(sitting, 1)])
        data = export(other, attempt_id + 1000, sitting, device, bridge_key)
    elif case == "voided":
        factories.set_status(db_session, attempt_id, "voided")
    with pytest.raises(packs.PackRejected) as caught:
        _import(app, data, actor="proctor:1")
    assert fragment in caught.value.message
    assert not stored(db_session, attempt_id)
    assert db_session.scalar(select(func.count()).select_from(PackImport)) == 0
    refusal = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "pack.import")).one()
    assert refusal.outcome == "refused" and refusal.detail["message"] == caught.value.message


def _kiosk(db_session, public_key: str, attempt_id: int | None = None) -> int:
    """A registered kiosk; ``attempt_id``: the attempt its heartbeats name."""
    from bridge.models.devices import Kiosk, Room

    room = db_session.scalars(select(Room).where(Room.code == "R-PACK")).first()
    if room is None:
        room = Room(code="R-PACK", kiosk_enrolment_hash="0" * 64, kiosk_enrolment_sealed="00")
        db_session.add(room)
        db_session.flush()
    kiosk = Kiosk(room_id=room.id, public_key=public_key, attempt_id=attempt_id)
    db_session.add(kiosk)
    db_session.commit()
    return kiosk.id


def _kiosk_of(db_session, key) -> int:
    from bridge.models.devices import Kiosk

    return db_session.scalars(select(Kiosk.id).where(Kiosk.public_key == public_key_b64(key))).one()


def test_the_device_key_must_be_the_registered_kiosks(app, writer, db_session, sitting, attempt_id, journal, device,
                                                       bridge_key):
    kiosk_id = _kiosk_of(db_session, device)
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    journal.set_meta(attempt_id, {"exam_id": sitting.exam_id, "session_id": sitting.session_id})
    forged = journal.export_pack(attempt_id, device_private_key=generate_device_key(), bridge_public_key=bridge_key,
                                 kiosk_id=kiosk_id)
    with pytest.raises(packs.PackRejected, match="signed by another device"):
        _import(app, forged, actor="proctor:1")
    genuine = journal.export_pack(attempt_id, device_private_key=device, bridge_public_key=bridge_key,
                                  kiosk_id=kiosk_id)
    report = _import(app, genuine, actor="proctor:1")
    assert (report.kiosk_id, report.accepted) == (kiosk_id, 1)


def _audits(db_session, action):
    db_session.rollback()
    return list(db_session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_an_unregistered_device_is_refused_unless_a_proctor_overrides(app, writer, db_session, sitting, attempt_id,
                                                                      journal, bridge_key):
    stranger = generate_device_key()
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    data = export(journal, attempt_id, sitting, stranger, bridge_key)
    with pytest.raises(packs.PackRejected, match="not a registered kiosk"):
        _import(app, data, actor="proctor:1")
    with pytest.raises(packs.PackRejected, match="needs a reason"):
        _import(app, data, actor="proctor:1", allow_unregistered=True, reason="  ")
    assert not stored(db_session, attempt_id)
    assert [a.outcome for a in _audits(db_session, "pack.import")] == ["refused"]

    report = _import(app, data, actor="proctor:1", allow_unregistered=True,
                               reason="seat 3's PC was replaced; pack from its disk")
    assert (report.accepted, report.override) == (1, "seat 3's PC was replaced; pack from its disk")
    assert any("not registered here" in m and "override" in m for m in report.messages)
    [override] = _audits(db_session, "pack.import_override")
    assert (override.actor, override.detail["reason"], override.detail["device_key"]) == \
        ("proctor:1", "seat 3's PC was replaced; pack from its disk", public_key_b64(stranger))
    assert db_session.scalars(select(PackImport.device_key)).one() == public_key_b64(stranger)


def test_a_kiosk_that_did_not_carry_the_attempt_is_refused(app, writer, db_session, sitting, attempt_id, journal,
                                                           device, bridge_key):
    """``device``'s kiosk forwarded for the attempt. Another registered kiosk, even one whose
    heartbeats name the attempt, did not carry it: refused without the override. A heartbeat's
    attempt id is the kiosk's own word: a kiosk whose heartbeats name an attempt nobody
    forwarded for is refused too (only a forward binding, which proved the token, carries)."""
    other = generate_device_key()
    other_id = _kiosk(db_session, public_key_b64(other), attempt_id=attempt_id)
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    data = export(journal, attempt_id, sitting, other, bridge_key)
    with pytest.raises(packs.PackRejected, match="not known to have carried this attempt") as caught:
        _import(app, data, actor="proctor:1")
    assert caught.value.detail == f"kiosk {other_id}, attempt {attempt_id}"
    report = _import(app, data, actor="proctor:2", allow_unregistered=True, reason="seat moved by hand")
    assert (report.kiosk_id, report.accepted) == (other_id, 1)
    assert [a.detail["reason"] for a in _audits(db_session, "pack.import_override")] == ["seat moved by hand"]

    second = factories.attempt(db_session, sitting)[0]  # nobody forwarded for it; the kiosk's heartbeats name it
    factories.set_status(db_session, second, "in_exam")
    late_kiosk = generate_device_key()
    _kiosk(db_session, public_key_b64(late_kiosk), attempt_id=second)
    mine = Journal(journal.directory.parent / "second")
    mine.append(second, [kiosk_event(sitting, 1)])
    pack = export(mine, second, sitting, late_kiosk, bridge_key)
    with pytest.raises(packs.PackRejected, match="not known to have carried this attempt"):
        _import(app, pack, actor="proctor:1")
    assert stored(db_session, second) == []
    assert _import(app, pack, actor="proctor:1", allow_unregistered=True,
                             reason="PC never reached the bridge").accepted == 1


@pytest.mark.req("P4")
def test_the_old_seats_pack_after_a_resume_is_fenced_whatever_epoch_it_names(app, writer, db_session, sitting,
                                                                              attempt_id, journal, device, bridge_key):
    """``device``'s kiosk proved epoch 1 (its forward binding). After a resume (epoch 2) its
    pack is still accepted as carried, but stamped with the epoch it proved: events naming
    epoch 1, none or a forged 2 are stored fenced, never the answer; the new seat's answer
    stands. A pack from the new seat's kiosk (bound in epoch 2) applies."""
    q = question(sitting, "single")
    factories.set_status(db_session, attempt_id, "in_exam", epoch=2)
    answers.append(db_session, attempt_id, writer="new-tab", seq=1, question_id=q,
                   response=sample_response("single", 0), client_time=None, epoch=2)
    db_session.commit()
    journal.append(attempt_id, [kiosk_event(sitting, 1, n=1), dict(kiosk_event(sitting, 2, n=2), epoch=None),
                                dict(kiosk_event(sitting, 3, n=3), epoch=2)])
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert report.refused == 0 and report.accepted == 3
    db_session.rollback()
    rows = db_session.execute(select(AnswerEvent.seq, AnswerEvent.status, AnswerEvent.epoch).where(
        AnswerEvent.attempt_id == attempt_id, AnswerEvent.writer == "kiosk-1:tab-1").order_by(AnswerEvent.seq)).all()
    assert [tuple(r) for r in rows] == [(1, "fenced", 1), (2, "fenced", 1), (3, "fenced", 1)]
    assert answers.current_answers(db_session, attempt_id) == {q: sample_response("single", 0)}

    new_key = generate_device_key()
    forwarding.bind_forward(db_session, attempt_id, 2, _kiosk(db_session, public_key_b64(new_key)))
    db_session.commit()
    mine = Journal(journal.directory.parent / "new-seat")
    mine.append(attempt_id, [dict(kiosk_event(sitting, 1, writer="kiosk-2:tab-1", n=3), epoch=2)])
    assert _import(app, export(mine, attempt_id, sitting, new_key, bridge_key),
                             actor="proctor:1").accepted == 1
    assert answers.current_answers(db_session, attempt_id) == {q: sample_response("single", 3)}


# --- the pack key ----------------------------------------------------------------------------
def test_the_pack_key_is_made_once_and_stored_sealed(app, db_session):
    first = pack_keys.public_key_b64(db_session, _secret())
    db_session.commit()
    assert pack_keys.public_key_b64(db_session, _secret()) == first
    row = db_session.scalars(select(PackKey)).one()
    (kid, private), = pack_keys.private_keys(db_session, _secret()).items()
    raw = private.private_bytes_raw()
    assert kid == row.key_id and public_key_b64(private) == first
    assert raw.hex() not in row.private_sealed and public_key_b64(raw) not in row.private_sealed
    with pytest.raises(pack_keys.PackKeyUnavailable, match="SECRET_KEY"):
        pack_keys.private_keys(db_session, secret_key="another secret")


def test_golden_packs_open_with_a_key_stored_in_the_database(app, writer, db_session):
    here = Path(golden.__file__).resolve().parent
    keys = json.loads((here / "keys.json").read_text())
    pack_keys.import_key(db_session, bytes.fromhex(keys["bridge_private"]), _secret())
    db_session.commit()
    data = (here / "v1-basic.epack").read_bytes()
    expected = json.loads((here / "v1-basic.expected.json").read_text(encoding="utf-8"))
    assert open_pack(data, pack_keys.private_keys(db_session, _secret())) == (expected["manifest"], expected["events"])
    with pytest.raises(packs.PackRejected, match="does not have"):  # attempt 41 is not on this bridge
        _import(app, data, actor="proctor:1")


# --- the command line -----------------------------------------------------------------------
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
    bad.write_bytes(_flip(pack_file.read_bytes(), 60))
    refused = run_cli(app, "pack", "import", str(bad))
    assert refused.returncode == 1 and "refused: The answer pack was changed" in refused.stderr


def test_a_large_pack_is_merged_in_chunks_with_the_same_result(app, writer, db_session, sitting, attempt_id,
                                                               journal, device, bridge_key, monkeypatch):
    monkeypatch.setattr(packs, "CHUNK_EVENTS", 2)
    online(writer, journal, attempt_id, [kiosk_event(sitting, s) for s in (1, 2, 3)])
    journal.append(attempt_id, [kiosk_event(sitting, s) for s in (4, 5, 6, 7, 8)])
    journal.append(attempt_id, [kiosk_event(sitting, 1, writer="kiosk-1:tab-2", qtype="essay")])
    report = _import(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.duplicate, report.refused, report.flagged) == (6, 3, 0, 6)
    assert report.tail == {"kiosk-1:tab-1": [4, 5, 6, 7, 8], "kiosk-1:tab-2": [1]}
    heads = journal.heads(attempt_id)
    bridge_heads = answers.writer_heads(db_session, attempt_id)
    assert {w: h["head"] for w, h in heads.items()} == {w: h["head"] for w, h in bridge_heads.items()}


def test_a_session_runs_the_whole_import_as_one_unit_of_work(app, db_session, sitting, attempt_id, journal, device,
                                                             bridge_key):
    journal.append(attempt_id, [kiosk_event(sitting, 1), kiosk_event(sitting, 2)])
    data = export(journal, attempt_id, sitting, device, bridge_key)
    report = packs.import_pack(db_session, data, actor="proctor:1", secret_key=_secret())
    db_session.rollback()  # the caller owns the transaction: nothing stayed
    assert report.accepted == 2 and not stored(db_session, attempt_id)
    packs.import_pack(db_session, data, actor="proctor:1", secret_key=_secret())
    db_session.commit()
    assert len(stored(db_session, attempt_id)) == 2
    assert packs.import_pack(db_session, data, actor="proctor:1", secret_key=_secret()).status == "already_imported"


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
    [entry] = _audits(db_session, "pack.import_override")
    assert entry.actor.startswith("cli:") and entry.detail["reason"] == "PC replaced"
