"""Helpers of the answer-pack import tests (tests/delivery/test_pack_import*.py): import a
pack as the console and the CLI do, write a kiosk's journal (online, or offline) and export it
as a pack, register a kiosk, and read what the bridge stored, logged and audited. Their
fixtures (``bridge_key``, ``device``, ``journal``) are in tests/delivery/conftest.py.
"""
from __future__ import annotations

import functools

from sqlalchemy import select

from bridge.models.attempts import AnswerEvent, AttemptLog
from bridge.models.audit import AuditEntry
from bridge.services.delivery import answers, packs
from kiosk_agent.answer_pack import public_key_b64
from tests.delivery.factories import question, sample_response


def import_via_writer(app, data, **kw):
    """The pack through the app's group writer, as the console and the CLI import it."""
    from bridge.runtime.writer import get_writer

    return packs.import_pack(get_writer(app), data, secret_key=app.config["SECRET_KEY"], **kw)


def app_secret() -> str:
    from flask import current_app

    return current_app.config["SECRET_KEY"]


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


def add_kiosk(db_session, public_key: str, attempt_id: int | None = None) -> int:
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


def kiosk_of(db_session, key) -> int:
    from bridge.models.devices import Kiosk

    return db_session.scalars(select(Kiosk.id).where(Kiosk.public_key == public_key_b64(key))).one()


def audits(db_session, action):
    db_session.rollback()
    return list(db_session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def flip_bit(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)
