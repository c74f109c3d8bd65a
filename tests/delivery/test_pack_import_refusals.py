"""Answer packs the bridge refuses (P6, K5; P4 for the old seat), each with a clear message
and changing nothing: tampered, truncated and foreign packs; a device that is not a
registered kiosk, or a kiosk that did not carry the attempt, unless a proctor overrides with
a reason (audited). After a resume the old seat's pack is taken but stored fenced, whatever
epoch it names. SQLite and PostgreSQL (``backend``). What an accepted pack does, and the
check of its device key against the registered kiosk's: test_pack_import.py.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bridge.models.attempts import AnswerEvent
from bridge.models.audit import AuditEntry
from bridge.models.packs import PackImport
from bridge.services.delivery import answers, packs
from bridge.services.delivery import forwarding
from kiosk_agent.answer_pack import generate_bridge_key, generate_device_key, public_key_b64
from kiosk_agent.journal import Journal
from tests.delivery import factories
from tests.delivery.factories import question, sample_response
from tests.delivery.pack_helpers import add_kiosk, audits, export, flip_bit, import_via_writer, kiosk_event, stored

pytestmark = [pytest.mark.req("P6"), pytest.mark.req("K5")]


# --- broken and foreign packs ----------------------------------------------------------------
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
        data = flip_bit(data, 40)
    elif case == "tampered_events":
        data = flip_bit(data, len(data) - 80)
    elif case == "tampered_signature":
        data = flip_bit(data, len(data) - 1)
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
        import_via_writer(app, data, actor="proctor:1")
    assert fragment in caught.value.message
    assert not stored(db_session, attempt_id)
    assert db_session.scalar(select(func.count()).select_from(PackImport)) == 0
    refusal = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "pack.import")).one()
    assert refusal.outcome == "refused" and refusal.detail["message"] == caught.value.message


# --- a kiosk that may not bring it ------------------------------------------------------------
def test_an_unregistered_device_is_refused_unless_a_proctor_overrides(app, writer, db_session, sitting, attempt_id,
                                                                      journal, bridge_key):
    stranger = generate_device_key()
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    data = export(journal, attempt_id, sitting, stranger, bridge_key)
    with pytest.raises(packs.PackRejected, match="not a registered kiosk"):
        import_via_writer(app, data, actor="proctor:1")
    with pytest.raises(packs.PackRejected, match="needs a reason"):
        import_via_writer(app, data, actor="proctor:1", allow_unregistered=True, reason="  ")
    assert not stored(db_session, attempt_id)
    assert [a.outcome for a in audits(db_session, "pack.import")] == ["refused"]

    report = import_via_writer(app, data, actor="proctor:1", allow_unregistered=True,
                               reason="seat 3's PC was replaced; pack from its disk")
    assert (report.accepted, report.override) == (1, "seat 3's PC was replaced; pack from its disk")
    assert any("not registered here" in m and "override" in m for m in report.messages)
    [override] = audits(db_session, "pack.import_override")
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
    other_id = add_kiosk(db_session, public_key_b64(other), attempt_id=attempt_id)
    journal.append(attempt_id, [kiosk_event(sitting, 1)])
    data = export(journal, attempt_id, sitting, other, bridge_key)
    with pytest.raises(packs.PackRejected, match="not known to have carried this attempt") as caught:
        import_via_writer(app, data, actor="proctor:1")
    assert caught.value.detail == f"kiosk {other_id}, attempt {attempt_id}"
    report = import_via_writer(app, data, actor="proctor:2", allow_unregistered=True, reason="seat moved by hand")
    assert (report.kiosk_id, report.accepted) == (other_id, 1)
    assert [a.detail["reason"] for a in audits(db_session, "pack.import_override")] == ["seat moved by hand"]

    second = factories.attempt(db_session, sitting)[0]  # nobody forwarded for it; the kiosk's heartbeats name it
    factories.set_status(db_session, second, "in_exam")
    late_kiosk = generate_device_key()
    add_kiosk(db_session, public_key_b64(late_kiosk), attempt_id=second)
    mine = Journal(journal.directory.parent / "second")
    mine.append(second, [kiosk_event(sitting, 1)])
    pack = export(mine, second, sitting, late_kiosk, bridge_key)
    with pytest.raises(packs.PackRejected, match="not known to have carried this attempt"):
        import_via_writer(app, pack, actor="proctor:1")
    assert stored(db_session, second) == []
    assert import_via_writer(app, pack, actor="proctor:1", allow_unregistered=True,
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
    report = import_via_writer(app, export(journal, attempt_id, sitting, device, bridge_key), actor="proctor:1")
    assert report.refused == 0 and report.accepted == 3
    db_session.rollback()
    rows = db_session.execute(select(AnswerEvent.seq, AnswerEvent.status, AnswerEvent.epoch).where(
        AnswerEvent.attempt_id == attempt_id, AnswerEvent.writer == "kiosk-1:tab-1").order_by(AnswerEvent.seq)).all()
    assert [tuple(r) for r in rows] == [(1, "fenced", 1), (2, "fenced", 1), (3, "fenced", 1)]
    assert answers.current_answers(db_session, attempt_id) == {q: sample_response("single", 0)}

    new_key = generate_device_key()
    forwarding.bind_forward(db_session, attempt_id, 2, add_kiosk(db_session, public_key_b64(new_key)))
    db_session.commit()
    mine = Journal(journal.directory.parent / "new-seat")
    mine.append(attempt_id, [dict(kiosk_event(sitting, 1, writer="kiosk-2:tab-1", n=3), epoch=2)])
    assert import_via_writer(app, export(mine, attempt_id, sitting, new_key, bridge_key),
                             actor="proctor:1").accepted == 1
    assert answers.current_answers(db_session, attempt_id) == {q: sample_response("single", 3)}
