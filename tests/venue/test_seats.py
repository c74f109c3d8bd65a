"""Sites, rooms and the seat plan (V1, V2) through the services, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.errors import Conflict, Invalid, NotFound
from bridge.models.devices import Kiosk
from bridge.services import audit
from bridge.services.kiosks import devices
from bridge.services.venue import seats, venues


@pytest.fixture
def site(db_session):
    return venues.create_site(db_session, code="1450301", name="第一考点", mode="formal", actor="user:1")


@pytest.fixture
def room(app, db_session, site):
    summary, code = venues.add_room(db_session, site.id, code="1450301001", name="第一考场", capacity=40,
                                    secret_key=app.config["SECRET_KEY"], actor="user:1")
    return summary, code


def announce(app, db_session, room, n: int, address: str, hostname: str) -> int:
    return devices.register_kiosk(db_session, room_code=room[0].code, code=room[1], public_key=f"{n:043d}",
                                  machine=f"m{n}", hostname=hostname, address=address,
                                  secret_key=app.config["SECRET_KEY"]).id


def numbers(db_session, room):
    return [(r.number, r.address, r.hostname, r.kiosk_id) for r in seats.plan(db_session, room[0].id)]


@pytest.mark.req("V1")
def test_a_site_keeps_its_code_and_says_its_mode(db_session, site, room):
    assert (site.code, site.mode) == ("1450301", "formal")
    with pytest.raises(Conflict):
        venues.create_site(db_session, code="1450301", name="again")
    for bad in ("", "a b", "x" * 33):
        with pytest.raises(Invalid):
            venues.create_site(db_session, code=bad, name="n")
    with pytest.raises(Invalid):
        venues.create_site(db_session, code="9", name="n", mode="practice")
    changed = venues.update_site(db_session, site.id, name="第一考点（北）", mode="mock",
                                 address="  北京市  海淀区 学院路 1 号 ", actor="user:2")
    assert (changed.code, changed.name, changed.mode, changed.rooms) == ("1450301", "第一考点（北）", "mock", 1)
    assert changed.address == "北京市 海淀区 学院路 1 号"  # printed on admission tickets
    [entry] = audit.recent(db_session, action_prefix="site.update")
    assert entry.detail == {"before": {"name": "第一考点", "mode": "formal", "address": ""},
                            "after": {"name": "第一考点（北）", "mode": "mock", "address": "北京市 海淀区 学院路 1 号"}}
    assert venues.update_site(db_session, site.id, name="第一考点（北）", mode="mock").address == changed.address
    assert [s.code for s in venues.list_sites(db_session)] == ["1450301"]


@pytest.mark.req("V1")
def test_rooms_have_code_capacity_and_an_enrolment_code(app, db_session, site, room):
    summary, code = room
    assert (summary.code, summary.capacity, summary.seats) == ("1450301001", 40, 0)
    assert devices.enrolment_code(db_session, summary.id, secret_key=app.config["SECRET_KEY"]) == code
    with pytest.raises(Invalid):
        venues.add_room(db_session, site.id, code="R2", name="x", capacity=-1, secret_key="s")
    with pytest.raises(Conflict):
        venues.add_room(db_session, site.id, code="1450301001", name="x", capacity=1, secret_key="s")
    with pytest.raises(NotFound):
        venues.add_room(db_session, "no-such-site", code="R3", name="x", capacity=1, secret_key="s")
    assert venues.update_room(db_session, summary.id, name="第一考场", capacity=30).capacity == 30
    assert [r.code for r in venues.site_rooms(db_session, site.id)] == ["1450301001"]


@pytest.mark.req("V2")
@pytest.mark.parametrize("order, expected", [
    ("address", ["10.0.0.2", "10.0.0.10", "10.0.1.1"]),       # numerically, not as text
    ("name", ["10.0.1.1", "10.0.0.10", "10.0.0.2"]),           # PC-A, pc-b, PC-C
    ("announced", ["10.0.0.10", "10.0.0.2", "10.0.1.1"]),
])
def test_auto_scan_numbers_the_announced_kiosks_by_the_chosen_rule(app, db_session, room, order, expected):
    announce(app, db_session, room, 1, "10.0.0.10", "pc-b")
    announce(app, db_session, room, 2, "10.0.0.2", "PC-C")
    announce(app, db_session, room, 3, "10.0.1.1", "PC-A")
    assigned = seats.auto_scan(db_session, room[0].id, order=order, actor="user:1")
    assert [s.number for s in assigned] == [1, 2, 3]
    assert [a for _n, a, _h, _k in numbers(db_session, room)] == expected
    assert seats.unassigned(db_session, room[0].id) == []
    kiosk_rows = {k.last_address: k for k in db_session.scalars(select(Kiosk))}
    assert all(k.status == "seated" for k in kiosk_rows.values())
    assert [kiosk_rows[a].seat for a in expected] == [1, 2, 3]  # the hub's copy agrees
    assert seats.auto_scan(db_session, room[0].id, order=order) == []  # nothing left to seat


@pytest.mark.req("V2")
def test_planned_seats_take_their_pc_by_address_then_by_name(app, db_session, room):
    report = seats.import_csv(db_session, room[0].id, "seat,address,computer_name,note\n"
                                                     "5,10.0.0.5,,窗边\n7,,EXAM-07,\n")
    assert report.ok and report.added == 2
    by_name = announce(app, db_session, room, 1, "10.9.9.9", "exam-07")
    by_address = announce(app, db_session, room, 2, "10.0.0.5", "whatever")
    stranger = announce(app, db_session, room, 3, "10.0.0.99", "other")
    seats.auto_scan(db_session, room[0].id, order="address")
    assert numbers(db_session, room) == [(5, "10.0.0.5", "", by_address), (7, "", "EXAM-07", by_name),
                                         (8, "10.0.0.99", "other", stranger)]


@pytest.mark.req("V2")
def test_add_edit_move_and_delete(app, db_session, room):
    rid = room[0].id
    first = seats.add_seat(db_session, rid, address="10.0.0.1", hostname="PC1")
    second = seats.add_seat(db_session, rid, address="10.0.0.2", hostname="PC2", note="备用")
    assert (first.number, second.number) == (1, 2)  # the next number: highest + 1
    with pytest.raises(Invalid):
        seats.add_seat(db_session, rid, address="", hostname="")
    kiosk = announce(app, db_session, room, 1, "10.0.0.2", "PC2")
    seats.auto_scan(db_session, rid)
    moved = seats.move_seat(db_session, second.id, "up", room_id=rid)
    assert moved.number == 1 and moved.kiosk_id == kiosk
    assert db_session.get(Kiosk, kiosk).seat == 1
    assert [n for n, *_ in numbers(db_session, room)] == [1, 2]
    with pytest.raises(Invalid):
        seats.move_seat(db_session, second.id, "up", room_id=rid)  # first already
    with pytest.raises(Conflict):
        seats.edit_seat(db_session, second.id, number=2, address="10.0.0.2", hostname="PC2", note="", room_id=rid)
    edited = seats.edit_seat(db_session, second.id, number="12", address="10.0.0.2", hostname="PC2", note="前排",
                             room_id=rid)
    assert edited.number == 12 and db_session.get(Kiosk, kiosk).seat == 12
    seats.delete_seat(db_session, second.id, room_id=rid, actor="user:1")
    row = db_session.get(Kiosk, kiosk)
    assert (row.status, row.seat) == ("pending", None)  # back to unassigned
    assert [u.id for u in seats.unassigned(db_session, rid)] == [kiosk]
    with pytest.raises(NotFound):
        seats.delete_seat(db_session, second.id, room_id=rid)
    actions = [e.action for e in audit.recent(db_session, action_prefix="seat.")]
    assert {"seat.add", "seat.auto_scan", "seat.move", "seat.edit", "seat.delete"} <= set(actions)


@pytest.mark.req("V2")
def test_a_csv_with_a_bad_row_is_refused_whole_with_a_report_per_row(db_session, room):
    rid = room[0].id
    seats.import_csv(db_session, rid, "1,10.0.0.1,PC1,\n2,10.0.0.2,PC2,\n")
    before = numbers(db_session, room)
    report = seats.import_csv(db_session, rid, (
        "seat,address,computer_name,note\n"
        "1,10.0.0.11,PC1,\n"         # fine (would update seat 1)
        "x,10.0.0.3,PC3,\n"          # 2: not a number
        "4,10.0.0.300,PC4,\n"        # 3: not an IP address
        "4,10.0.0.5,PC5,\n"          # 4: fine
        "4,10.0.0.6,PC6,\n"          # 5: seat 4 twice
        "6,10.0.0.5,PC7,\n"          # 6: address of line 4 again
        "7\n"                        # 7: too few fields
        "8,,,\n"                     # 8: neither address nor name
    ).encode("utf-8"))
    assert not report.ok and (report.added, report.updated) == (0, 0)
    assert [line for line, _msg, _params in report.errors] == [3, 4, 6, 7, 8, 9]
    assert report.errors[0][2] == {"value": "x"} and report.errors[3][2] == {"address": "10.0.0.5", "line": 5}
    assert numbers(db_session, room) == before  # nothing stored was touched


@pytest.mark.req("V2")
def test_csv_round_trip_keeps_chinese_notes_and_reads_gb18030(db_session, room):
    rid = room[0].id
    report = seats.import_csv(db_session, rid, "1,10.0.0.1,PC1,靠窗\n2,10.0.0.2,PC2,\n".encode("gb18030"))
    assert report.ok and report.added == 2
    exported = seats.export_csv(db_session, rid)
    assert exported.startswith("\ufeffseat,address,computer_name,note\r\n")
    assert "1,10.0.0.1,PC1,靠窗" in exported
    again = seats.import_csv(db_session, rid, exported.encode("utf-8"))
    assert again.ok and (again.added, again.updated) == (0, 0)
    for bad in (b"\xff\xfe\x00garbage\x81", b"", b"seat,address\n"):
        refused = seats.import_csv(db_session, rid, bad)
        assert not refused.ok and refused.errors


@pytest.mark.req("V2", "K1")
def test_seating_from_the_kiosk_side_goes_through_the_plan(app, db_session, room):
    kiosk = announce(app, db_session, room, 1, "10.0.0.8", "PC8")
    info = seats.seat_kiosk(db_session, kiosk, 8)
    assert (info.status, info.seat) == ("seated", 8)
    assert numbers(db_session, room) == [(8, "10.0.0.8", "PC8", kiosk)]
    other = announce(app, db_session, room, 2, "10.0.0.9", "PC9")
    with pytest.raises(Conflict):
        seats.seat_kiosk(db_session, other, 8)
    seats.seat_kiosk(db_session, kiosk, 3)  # moved: seat 8 stays in the plan, free
    assert numbers(db_session, room) == [(3, "10.0.0.8", "PC8", kiosk), (8, "10.0.0.8", "PC8", None)]
    devices.retire_kiosk(db_session, kiosk)
    assert numbers(db_session, room)[0][3] is None
