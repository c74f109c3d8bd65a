"""Importing answer packs on the bridge (P6, K5, K4): a real journal on disk exports the pack,
the bridge verifies it with its stored pack key (and the device key against the registered
kiosk's) and merges through the group writer. Replayed and older packs are harmless; the
bridge judges the offline tail from its own stream (never the kiosk's ``acked``) and the
deadline from its own clock; a large pack merges in chunks, and a caller's session takes the
whole import as one unit of work. The pack key is made once and stored sealed. SQLite and
PostgreSQL (``backend``).

Refused packs (tampered, truncated, foreign; a device that is not a registered kiosk or did
not carry the attempt, unless a proctor overrides with a reason; the old seat after a resume):
test_pack_import_refusals.py. ``exambridge pack``: test_pack_import_cli.py.
"""
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
from kiosk_agent.answer_pack import generate_device_key, open_pack, public_key_b64
from kiosk_agent.answer_pack import model as pack_model
from kiosk_agent.journal import Journal
from tests.contracts.packs import generate as golden
from tests.delivery import factories
from tests.delivery.factories import question, sample_response
from tests.delivery.pack_helpers import (app_secret, export, import_via_writer, kiosk_event, kiosk_of, log_actions,
                                         online, stored)

pytestmark = [pytest.mark.req("P6"), pytest.mark.req("K5")]


# --- merging --------------------------------------------------------------------------------
def test_an_offline_journal_is_imported_and_flagged(app, writer, db_session, sitting, attempt_id, journal, device,
                                                    bridge_key):
    events = [kiosk_event(sitting, 1), kiosk_event(sitting, 2, qtype="essay"), kiosk_event(sitting, 3)]
    journal.append(attempt_id, events)
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
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
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.duplicate, report.refused, report.flagged) == (2, 2, 0, 2)
    assert len(stored(db_session, attempt_id)) == 4
    detail = db_session.scalars(select(AttemptLog.detail).where(AttemptLog.action == "pack_offline_tail")).one()
    assert detail["writers"] == {"kiosk-1:tab-1": "3-4 (2 events)"}


def test_a_replayed_pack_is_reported_as_already_imported(app, writer, db_session, sitting, attempt_id, journal,
                                                         device, bridge_key):
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    data = export(journal, attempt_id, sitting, device, bridge_key)
    first = import_via_writer(app, data, actor="proctor:1")
    again = import_via_writer(app, data, actor="proctor:2")
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
    assert import_via_writer(app, newer, actor="proctor:1").accepted == 3
    report = import_via_writer(app, older, actor="proctor:1")
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
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
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
    assert open_pack(data, pack_keys.private_keys(db_session, app_secret()))[0]["acked"]["kiosk-1:tab-1"]["seq"] == 3
    report = import_via_writer(app, data, actor="proctor:1")
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
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.duplicate, report.refused, report.flagged) == (1, 1, 0, 1)
    assert answers.writer_heads(db_session, attempt_id)["kiosk-1:tab-1"]["head"] == \
        journal.heads(attempt_id)["kiosk-1:tab-1"]["head"]


def test_tail_events_made_after_the_deadline_are_refused(app, writer, db_session, sitting, attempt_id, journal,
                                                         device, bridge_key):
    from bridge import clock

    late = clock.timestamp() + 3 * 3600  # the attempt ends in 120 minutes
    journal.append(attempt_id, [kiosk_event(sitting, 1, client_time=clock.timestamp()),
                                kiosk_event(sitting, 2, client_time=late)])
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
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
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.refused) == (1, 0)


def test_a_submitted_attempt_refuses_new_events_with_a_reason(app, writer, db_session, sitting, attempt_id, journal,
                                                              device, bridge_key):
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    factories.set_status(db_session, attempt_id, "submitted", submitted_at=dt.datetime(2026, 1, 1),
                         submit_reason="deadline")
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.status, report.accepted, report.refused) == ("imported", 0, 1)
    assert any("submitted" in m for m in report.messages)


def test_a_large_pack_is_merged_in_chunks_with_the_same_result(app, writer, db_session, sitting, attempt_id,
                                                               journal, device, bridge_key, monkeypatch):
    monkeypatch.setattr(packs, "CHUNK_EVENTS", 2)
    online(writer, journal, attempt_id, [kiosk_event(sitting, s) for s in (1, 2, 3)])
    journal.append(attempt_id, [kiosk_event(sitting, s) for s in (4, 5, 6, 7, 8)])
    journal.append(attempt_id, [kiosk_event(sitting, 1, writer="kiosk-1:tab-2", qtype="essay")])
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert (report.accepted, report.duplicate, report.refused, report.flagged) == (6, 3, 0, 6)
    assert report.tail == {"kiosk-1:tab-1": [4, 5, 6, 7, 8], "kiosk-1:tab-2": [1]}
    heads = journal.heads(attempt_id)
    bridge_heads = answers.writer_heads(db_session, attempt_id)
    assert {w: h["head"] for w, h in heads.items()} == {w: h["head"] for w, h in bridge_heads.items()}


def test_a_session_runs_the_whole_import_as_one_unit_of_work(app, db_session, sitting, attempt_id, journal, device,
                                                             bridge_key):
    journal.append(attempt_id, [kiosk_event(sitting, 1), kiosk_event(sitting, 2)])
    data = export(journal, attempt_id, sitting, device, bridge_key)
    report = packs.import_pack(db_session, data, actor="proctor:1", secret_key=app_secret())
    db_session.rollback()  # the caller owns the transaction: nothing stayed
    assert report.accepted == 2 and not stored(db_session, attempt_id)
    packs.import_pack(db_session, data, actor="proctor:1", secret_key=app_secret())
    db_session.commit()
    assert len(stored(db_session, attempt_id)) == 2
    assert packs.import_pack(db_session, data, actor="proctor:1", secret_key=app_secret()).status == "already_imported"


# --- the registered kiosk --------------------------------------------------------------------
def test_the_device_key_must_be_the_registered_kiosks(app, writer, db_session, sitting, attempt_id, journal, device,
                                                       bridge_key):
    kiosk_id = kiosk_of(db_session, device)
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    journal.set_meta(attempt_id, {"exam_id": sitting.exam_id, "session_id": sitting.session_id})
    forged = journal.export_pack(attempt_id, device_private_key=generate_device_key(), bridge_public_key=bridge_key,
                                 kiosk_id=kiosk_id)
    with pytest.raises(packs.PackRejected, match="signed by another device"):
        import_via_writer(app, forged, actor="proctor:1")
    genuine = journal.export_pack(attempt_id, device_private_key=device, bridge_public_key=bridge_key,
                                  kiosk_id=kiosk_id)
    report = import_via_writer(app, genuine, actor="proctor:1")
    assert (report.kiosk_id, report.accepted) == (kiosk_id, 1)


# --- the pack key ----------------------------------------------------------------------------
def test_the_pack_key_is_made_once_and_stored_sealed(app, db_session):
    first = pack_keys.public_key_b64(db_session, app_secret())
    db_session.commit()
    assert pack_keys.public_key_b64(db_session, app_secret()) == first
    row = db_session.scalars(select(PackKey)).one()
    (kid, private), = pack_keys.private_keys(db_session, app_secret()).items()
    raw = private.private_bytes_raw()
    assert kid == row.key_id and public_key_b64(private) == first
    assert raw.hex() not in row.private_sealed and public_key_b64(raw) not in row.private_sealed
    with pytest.raises(pack_keys.PackKeyUnavailable, match="SECRET_KEY"):
        pack_keys.private_keys(db_session, secret_key="another secret")


def test_golden_packs_open_with_a_key_stored_in_the_database(app, writer, db_session):
    here = Path(golden.__file__).resolve().parent
    keys = json.loads((here / "keys.json").read_text())
    pack_keys.import_key(db_session, bytes.fromhex(keys["bridge_private"]), app_secret())
    db_session.commit()
    data = (here / "v1-basic.epack").read_bytes()
    expected = json.loads((here / "v1-basic.expected.json").read_text(encoding="utf-8"))
    assert open_pack(data, pack_keys.private_keys(db_session, app_secret())) == \
        (expected["manifest"], expected["events"])
    with pytest.raises(packs.PackRejected, match="does not have"):  # attempt 41 is not on this bridge
        import_via_writer(app, data, actor="proctor:1")
