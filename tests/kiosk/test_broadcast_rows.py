"""A broadcast's database side, on SQLite and PostgreSQL: ``kiosk_commands.issue_batch``
(one ``INSERT … SELECT`` for any number of kiosks), ``bridge.db.in_many`` and
``fetch_rows`` (thousands of ids / rows without a parameter or a step each), and
``bridge.runtime.gcpause`` (the collector held off during a burst, nesting counted)."""
from __future__ import annotations

import gc
import threading

import pytest
from sqlalchemy import select

from bridge.db import fetch_rows, in_many
from bridge.errors import NotFound
from bridge.runtime.gcpause import gc_paused
from bridge.models.devices import Kiosk, KioskCommand
from bridge.services.kiosks import devices, kiosk_commands


@pytest.fixture
def kiosks(app, db_session):
    _info, code = devices.create_room(db_session, code="B1", name="Broadcast room", secret_key=app.config["SECRET_KEY"])
    made = [devices.register_kiosk(db_session, room_code="B1", code=code, public_key=f"{n:043d}", machine=f"m{n}",
                                   secret_key=app.config["SECRET_KEY"]).id for n in range(1, 1201)]
    for n, kiosk_id in enumerate(made[:1100], start=1):  # 100 without a seat
        db_session.get(Kiosk, kiosk_id).seat = n
    db_session.flush()
    return made


def stored(db_session, ids):
    return {r.kiosk_id: r for r in db_session.scalars(select(KioskCommand).where(KioskCommand.id.in_(ids)))}


@pytest.mark.req("P13", "K6")
def test_show_seat_to_every_kiosk_stores_and_carries_each_ones_own_seat(db_session, kiosks):
    batch = kiosk_commands.issue_batch(db_session, kiosks, "show_seat", issued_by="user:7")
    assert batch.kiosk_ids == tuple(kiosks) and len(set(batch.command_ids)) == len(kiosks)
    rows = stored(db_session, batch.command_ids)
    payloads = batch.payloads()
    for payload in payloads:
        row = rows[payload["kiosk_id"]]
        assert row.id == payload["command_id"] and row.name == "show_seat" and row.status == "queued"
        assert row.args == payload["args"]  # what the database built is what the bus carries
        assert row.issued_by == "user:7"
        assert abs(kiosk_commands.epoch_seconds(row.issued_at) - payload["issued_at"]) < 1e-3
    seats = {p["kiosk_id"]: p["args"]["seat"] for p in payloads}
    assert seats[kiosks[0]] == 1 and seats[kiosks[1099]] == 1100 and seats[kiosks[1100]] is None


@pytest.mark.req("P13", "K6")
def test_the_same_arguments_for_all_are_stored_as_given(db_session, kiosks):
    message = '考试暂停 "请等待" \\ 10%'
    batch = kiosk_commands.issue_batch(db_session, kiosks[:300], "lock", {"message": message})
    rows = stored(db_session, batch.command_ids)
    assert {r.kiosk_id for r in rows.values()} == set(kiosks[:300])
    assert all(r.args == {"message": message} for r in rows.values())
    assert all(p["args"] == {"message": message} for p in batch.payloads())
    # a second batch right after gets its own rows, and ids map to the right kiosks
    again = kiosk_commands.issue_batch(db_session, list(reversed(kiosks[:5])), "unlock")
    assert [rows_.kiosk_id for rows_ in map(lambda i: db_session.get(KioskCommand, i), again.command_ids)] == \
        list(reversed(kiosks[:5]))


@pytest.mark.req("P13")
def test_one_retired_or_unknown_kiosk_refuses_the_whole_batch(db_session, kiosks):
    before = db_session.scalar(select(KioskCommand.id).order_by(KioskCommand.id.desc()).limit(1))
    db_session.get(Kiosk, kiosks[7]).status = "retired"
    db_session.flush()
    with pytest.raises(NotFound):
        kiosk_commands.issue_batch(db_session, kiosks, "show_seat")
    with pytest.raises(NotFound):
        kiosk_commands.issue_batch(db_session, [kiosks[0], 10**9], "hide_seat")
    assert db_session.scalar(select(KioskCommand.id).order_by(KioskCommand.id.desc()).limit(1)) == before


@pytest.mark.req("K6")
def test_results_of_a_broadcast_are_recorded_and_a_repeat_read_back(db_session, kiosks):
    batch = kiosk_commands.issue_batch(db_session, kiosks, "show_seat")
    pairs = list(zip(batch.kiosk_ids, batch.command_ids))
    first = kiosk_commands.record_results(db_session, [(k, c, "done", {"n": i}) for i, (k, c) in enumerate(pairs)])
    assert [r.status for r in first] == ["done"] * len(pairs)
    again = kiosk_commands.record_results(db_session, [(pairs[3][0], pairs[3][1], "failed", {})])
    assert again[0].status == "done" and again[0].result == {"n": 3}
    kiosk_commands.mark_sent(db_session, list(batch.command_ids))
    db_session.expire_all()
    assert all(r.status == "done" and r.sent_at is not None for r in stored(db_session, batch.command_ids).values())


def test_in_many_and_fetch_rows_match_the_plain_forms(db_session, kiosks):
    chosen = kiosks[::3] + [10**9]
    plain = set(db_session.scalars(select(Kiosk.id).where(Kiosk.id.in_(chosen))))
    assert set(db_session.scalars(select(Kiosk.id).where(in_many(db_session, Kiosk.id, chosen)))) == plain
    assert list(db_session.scalars(select(Kiosk.id).where(in_many(db_session, Kiosk.id, [])))) == []
    statement = select(Kiosk.id, Kiosk.seat, Kiosk.status).where(Kiosk.id.in_(chosen)).order_by(Kiosk.id)
    assert fetch_rows(db_session, statement) == [tuple(r) for r in db_session.execute(statement)]
    assert fetch_rows(db_session, select(Kiosk.id).where(Kiosk.id < 0)) == []


def test_gc_paused_nests_and_restores_the_collector_as_it_was():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the outer pause still holds"
    assert gc.isenabled()
    # two threads overlapping: enabled again only when the last one leaves
    inside, leave = threading.Event(), threading.Event()

    def other():
        with gc_paused():
            inside.set()
            leave.wait(5)
    worker = threading.Thread(target=other)
    worker.start()
    inside.wait(5)
    with gc_paused():
        pass
    assert not gc.isenabled()
    leave.set()
    worker.join(5)
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled(), "a collector that was off stays off"
    finally:
        gc.enable()
