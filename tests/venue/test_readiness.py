"""The venue workflow from an empty site to a sealed one, through the services (V1–V8).

The kiosks' answers to ``env_check`` are this machine's real measurement
(``kiosk_agent.envcheck.run_check``), recorded the way the hub records a command result;
the real agent answering over the hub is tests/venue/test_envcheck_agent.py.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.errors import Conflict, Forbidden, Invalid, InvalidState
from bridge.models.papers import SessionCandidate
from bridge.services.delivery import attempts
from bridge.services.proctoring import console
from bridge.services.venue import authorization, envchecks, exam_data, sealing, seats, stations
from tests.venue.readiness_world import announce, answer_env_checks, at, heartbeat, make_world, measured, session_row


def conditions(check) -> dict[str, bool]:
    [room] = check.items
    return {"passed": room["passed"], "failed": room["failed"]}


@pytest.mark.req("V1", "V2", "V3", "V4", "V5", "V6", "V7")
def test_a_site_goes_from_empty_to_sealed_and_a_broken_condition_is_named(app, db_session, tmp_path):
    w = make_world(app, db_session, start_in=dt.timedelta(hours=30))
    s, secret = w.s, w.secret
    # V2: three PCs announce, auto-scan seats them by address; a CSV row that is wrong is reported
    kiosks = [announce(w, n, f"10.0.0.{n}") for n in (3, 1, 2)]
    found = seats.auto_scan(s, w.room.id, order="address", actor="user:1")
    assert [seat.number for seat in found] == [1, 2, 3]
    report = seats.import_csv(s, w.room.id, "4,10.0.0.9,PC09,\nabc,10.0.0.10,PC10,\n".encode(), actor="user:1")
    assert not report.ok and report.errors[0][0] == 2
    assert [r.number for r in seats.plan(s, w.room.id)] == [1, 2, 3]  # nothing of the bad file was stored
    s.commit()
    by_address = {r.address: r.kiosk_id for r in seats.plan(s, w.room.id)}
    # V3: the exam wants 4 GiB; seat 2's PC reports 1 GiB and fails, then passes its re-test
    envchecks.set_requirements(s, w.exam.id, {**envchecks.REQUIREMENTS, "min_memory_mb": "4096",
                                              "required_software": "sh"}, actor="user:1")
    run, asked = envchecks.start(s, w.room.id, exam_id=w.exam.id, actor="user:1")
    s.commit()
    assert sorted(asked) == sorted(kiosks) and envchecks.report(s, w.room.id).waiting == 3
    good = measured(tmp_path)
    good["memory"] = {"total_mb": 8192, "reason": None}
    answer_env_checks(w, {by_address["10.0.0.1"]: good, by_address["10.0.0.2"]: measured(tmp_path, memory_mb=1024),
                          by_address["10.0.0.3"]: good})
    current = envchecks.report(s, w.room.id)
    assert (current.passed, current.failed, current.waiting) == (2, 1, 0)
    [bad] = [x for x in current.seats if x.state == "failed"]
    assert (bad.seat, bad.failed, bad.items["memory"]["needed"]) == (2, ["memory"], 4096)
    retest, asked_again = envchecks.start(s, w.room.id, scope="failed", actor="user:1")
    s.commit()
    assert list(asked_again) == [by_address["10.0.0.2"]] and retest.requirements["min_memory_mb"] == 4096
    answer_env_checks(w, {by_address["10.0.0.2"]: good})
    assert envchecks.report(s, w.room.id).all_passed
    # V4: the session is placed in the room; its data is built, a tampered file refused, then loaded
    sitting = exam_data.place(s, w.site.id, w.session_id, w.room.id, actor="user:1")
    s.commit()
    assert session_row(w).authorized is False  # the gate closed when the session came to the site
    release = clock.utcnow_naive() + dt.timedelta(hours=1)
    built = exam_data.build(s, sitting.id, secret_key=secret, release_at=release, actor="user:1")
    s.commit()
    assert built.candidates == 3 and len(built.data_hash) == 64  # three seats: three of the five candidates
    placed = s.scalars(select(SessionCandidate).where(SessionCandidate.room_id == w.room.id)
                       .order_by(SessionCandidate.sequence)).all()
    assert [p.admission_number for p in placed] == [f"{release.year}1450301R0101{n:03d}" for n in (1, 2, 3)]
    assert [p.seat_number for p in placed] == [1, 2, 3]
    exported = exam_data.export(s, sitting.id)
    with pytest.raises(InvalidState, match="released"):
        exam_data.load(s, sitting.id, secret_key=secret, raw=exported)
    at(w, release + dt.timedelta(minutes=1))
    tampered = json.loads(exported)
    tampered["payload"]["candidates"][0]["seat"] = 3
    with pytest.raises(Invalid, match="integrity hash"):
        exam_data.load(s, sitting.id, secret_key=secret, raw=json.dumps(tampered).encode())
    rehashed = dict(tampered, sha256=__import__("bridge.services.signing", fromlist=["x"]).digest(tampered["payload"]))
    with pytest.raises(Invalid, match="signature"):
        exam_data.load(s, sitting.id, secret_key=secret, raw=json.dumps(rehashed).encode())
    loaded = exam_data.load(s, sitting.id, secret_key=secret, raw=exported, actor="user:1")
    s.commit()
    assert loaded.verified_data
    # V5: the station registers with room code and registration code
    made = stations.current(s, w.room.id, secret_key=secret)  # loading the data made the room's code
    assert made is not None and not made.registered and len(made.code) == stations.LENGTH
    code = made.code
    with pytest.raises(Forbidden):
        stations.register(s, room_code="R01", code="WRONG123", address="10.0.0.200", secret_key=secret)
    reg, token = stations.register(s, room_code="R01", code=code, address="10.0.0.200", secret_key=secret)
    s.commit()
    assert reg.address == "10.0.0.200" and stations.station(s, token).room_id == w.room.id
    with pytest.raises(Conflict):
        stations.register(s, room_code="R01", code=code, address="10.0.0.201", secret_key=secret)
    s.rollback()
    # V6: before its window the session cannot be authorized; inside it, it can
    with pytest.raises(InvalidState, match="from"):
        authorization.authorize(s, w.session_id, site_id=w.site.id, actor="user:1")
    starts = session_row(w).starts_at
    at(w, starts - dt.timedelta(hours=2))
    authorization.authorize(s, w.session_id, site_id=w.site.id, actor="user:1")
    s.commit()
    assert [x.authorization_method for x in exam_data.site_sittings(s, w.site.id)] == ["online"]
    # V7: sealing check: kiosks offline -> named; once they beat, green
    check = sealing.check(s, w.site.id, w.session_id, secret_key=secret, actor="user:1")
    s.commit()
    assert conditions(check) == {"passed": False, "failed": ["kiosks_online"]}
    heartbeat(w, kiosks)
    check = sealing.check(s, w.site.id, w.session_id, secret_key=secret, actor="user:1")
    s.commit()
    assert check.passed and conditions(check) == {"passed": True, "failed": []}
    latest = sealing.latest(s, w.site.id, w.session_id)
    assert latest["site"].id == check.id and latest["rooms"][w.room.id].passed
    # one condition broken: the station is revoked, and the check says exactly that
    stations.revoke(s, w.room.id, actor="user:1", secret_key=secret)
    s.commit()
    check = sealing.check(s, w.site.id, w.session_id, secret_key=secret, actor="user:1")
    assert conditions(check) == {"passed": False, "failed": ["station"]}


@pytest.mark.req("V6")
def test_items_open_only_to_candidates_whose_sitting_is_authorized(app, db_session):
    """Two sites share a session: one site's authorization opens its own room only; a
    candidate without a seat stays out; site init never reopens the session."""
    from bridge.services.venue import site_backup, venues

    w = make_world(app, db_session, start_in=dt.timedelta(minutes=20), candidates=3)
    s, secret = w.s, w.secret
    other = venues.create_site(s, code="9990001", name="第二考点", mode="mock")
    other_room, _ = venues.add_room(s, other.id, code="R99", name="九十九", capacity=1, secret_key=secret)
    seats.import_csv(s, w.room.id, b"1,10.0.0.1,PC01,\n")
    seats.import_csv(s, other_room.id, b"1,10.0.1.1,PC99,\n")
    here = exam_data.place(s, w.site.id, w.session_id, w.room.id, actor="user:1")
    there = exam_data.place(s, other.id, w.session_id, other_room.id, actor="user:1")
    exam_data.build(s, here.id, secret_key=secret)
    exam_data.build(s, there.id, secret_key=secret)
    s.commit()
    seated_here, seated_there, unseated = (attempts.log_in(s, w.exam, c.id) for c in w.candidates)
    for a in (seated_here, seated_there, unseated):
        attempts.read_rules(s, a)
    at(w, session_row(w).starts_at + dt.timedelta(minutes=1))
    with pytest.raises(InvalidState, match="not authorized"):
        attempts.start(s, seated_here)
    assert not seated_here.items
    authorization.authorize(s, w.session_id, site_id=w.site.id, actor="user:1")
    console.allow_start(s, here.id, secret_key=secret, actor="user:1")
    assert attempts.start(s, seated_here).status == "in_exam" and seated_here.items
    with pytest.raises(InvalidState, match="not authorized"):
        attempts.start(s, seated_there)  # the other site has not authorized its room
    with pytest.raises(InvalidState, match="not authorized"):
        attempts.start(s, unseated)      # no seat at any site
    s.commit()
    site_backup.init(s, other.id, confirm_code="9990001")  # a mock site: allowed while the session runs
    s.commit()
    with pytest.raises(InvalidState, match="not authorized"):
        attempts.start(s, seated_there)  # the init freed its seat, and opened nothing


@pytest.mark.req("V6")
def test_an_offline_site_imports_a_signed_authorization_file(app, db_session):
    w = make_world(app, db_session, start_in=dt.timedelta(hours=3))
    s, secret = w.s, w.secret
    exam_data.place(s, w.site.id, w.session_id, w.room.id, actor="user:1")
    s.commit()
    document = authorization.export_file(s, w.session_id, site_id=w.site.id, secret_key=secret, actor="admin")
    other = __import__("bridge.services.venue.venues", fromlist=["x"]).create_site(s, code="9990001", name="别的考点")
    with pytest.raises(Invalid, match="another site"):
        authorization.import_file(s, document, site_id=other.id, secret_key=secret)
    forged = json.loads(document)
    forged["payload"]["session_id"] = 999
    with pytest.raises(Invalid):
        authorization.import_file(s, json.dumps(forged).encode(), site_id=w.site.id, secret_key=secret)
    [sitting] = authorization.import_file(s, document, site_id=w.site.id, secret_key=secret, actor="user:1")
    assert sitting.authorized_at is not None and sitting.authorization_method == "file"
    assert authorization.import_file(s, document, site_id=w.site.id, secret_key=secret)[0].authorized_at \
        == sitting.authorized_at  # importing again changes nothing
    sess = session_row(w)
    # V8: verification opens an hour before the start and marks the session verified
    with pytest.raises(InvalidState, match="an hour before"):
        authorization.verify(s, w.session_id, site_id=w.site.id, actor="user:1")
    at(w, sess.starts_at - dt.timedelta(minutes=50))
    assert authorization.verify(s, w.session_id, site_id=w.site.id, actor="user:1")[0].verified_at is not None
