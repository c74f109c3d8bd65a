"""What the venue workflow refuses, and what it survives (V3–V9): malformed files and kiosk
answers are clear refusals, never a 500; ids that changed between databases or sites open
nothing; numbers already handed out stay."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from bridge import clock
from bridge.errors import Conflict, Invalid, InvalidState
from bridge.models.papers import SessionCandidate
from bridge.services import signing
from bridge.services.exams import exam_sessions
from bridge.services.kiosks import devices
from bridge.services.venue import envchecks, exam_data, sealing, seats, site_backup, stations, venues
from tests.fixtures.servers import loopback_session, serve_wsgi
from tests.venue.readiness_world import announce, make_world, seal, session_row


def forged(secret: str, site_id: str, kind: str, **changes) -> bytes:
    document = signing.sign(secret, site_id, kind, {"rooms": []})
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.req("V5", "V9")
def test_malformed_files_are_refused_with_a_reason(app, db_session):
    w = make_world(app, db_session)
    secret = w.secret
    deep = b"[" * 100_000 + b"]" * 100_000
    for raw in (deep, b"\xff\xfe not text", forged(secret, w.site.id, "site-info", sha256="é" * 64),
                forged(secret, w.site.id, "site-info", signature="x"), forged(secret, w.site.id, "site-info", payload=[])):
        with pytest.raises(Invalid):
            signing.read(secret, raw, "site-info", site_id=w.site.id)
    with serve_wsgi(app) as srv:  # the station's restore needs no sign-in: a bad file is a 4xx page
        http = loopback_session()
        page = http.get(f"{srv.url}/station/")
        token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        for raw in (deep, forged(secret, w.site.id, "site-info", sha256="é"), b"{}"):
            r = http.post(f"{srv.url}/station/restore", data={"csrf_token": token, "room_code": "R01"},
                          files={"file": ("site.ebsite", raw)})
            assert 400 <= r.status_code < 500 and 'id="page-error"' in r.text, r.status_code
    for raw in (b"\x1f\x8b\x08\x00broken deflate", gzip.compress(b"not json"), gzip.compress(b"[1, 2]")):
        with pytest.raises(Invalid, match="not a site backup"):
            site_backup.restore(db_session, raw, secret_key=secret)


@pytest.mark.req("V3")
def test_an_oddly_shaped_kiosk_answer_is_unknown_not_a_crash():
    odd = {"software": 5, "cpu": {"cores": float("nan")}, "memory": [], "screen": {"width": float("inf"), "height": 1},
           "browser": {"name": ["x"], "path": 3, "version": {"v": 1}}, "latency": {"median_ms": "fast"}}
    verdict = envchecks.judge({**envchecks.REQUIREMENTS, "required_software": ["sh"]}, odd)
    assert verdict["items"]["cpu"]["state"] == "unknown" and verdict["items"]["screen"]["state"] == "unknown"
    assert verdict["failed"] == ["browser", "software"]
    assert envchecks.judge(envchecks.REQUIREMENTS, "not a dict")["items"]["memory"]["state"] == "unknown"


@pytest.mark.req("V5")
def test_a_site_file_restores_only_the_registration_it_was_made_for(app, db_session, tmp_path):
    w = make_world(app, db_session, mode="mock")
    made = seal(w, tmp_path)
    old_file = stations.export_site_file(db_session, w.site.id, secret_key=w.secret)
    db_session.commit()
    clock.set_offset(clock.offset() + 600)  # the old station is long gone
    site_backup.init(db_session, w.site.id, confirm_code="1450301")
    db_session.commit()
    site = venues.create_site(db_session, code="1450301", name="重建的考点")  # same codes, new rows
    room, _ = venues.add_room(db_session, site.id, code="R01", name="一号", capacity=3, secret_key=w.secret)
    code = stations.issue_code(db_session, room.id, secret_key=w.secret)
    stations.register(db_session, room_code="R01", code=code, address="10.9.9.9", secret_key=w.secret)
    db_session.commit()
    clock.set_offset(clock.offset() + 600)
    with pytest.raises(InvalidState, match="before this room registered"):  # not that registration any more
        stations.restore(db_session, old_file, room_code="R01", address="10.6.6.6", secret_key=w.secret)
    assert stations.current(db_session, room.id, secret_key=w.secret).address == "10.9.9.9"
    assert made["token"]


@pytest.mark.req("V9")
def test_a_formal_site_cannot_turn_mock_while_its_exam_runs(app, db_session, tmp_path):
    w = make_world(app, db_session, mode="formal")
    seal(w, tmp_path)
    clock.set_offset(clock.offset() + (session_row(w).starts_at - clock.utcnow_naive()).total_seconds() + 60)
    with pytest.raises(InvalidState, match="mode"):
        venues.update_site(db_session, w.site.id, name="第一考点", mode="mock")
    assert venues.update_site(db_session, w.site.id, name="第一考点（主）", mode="formal").name == "第一考点（主）"


@pytest.mark.req("V4")
def test_admission_numbers_handed_out_stay_when_an_earlier_session_comes(app, db_session):
    w = make_world(app, db_session, candidates=2)
    s, secret = w.s, w.secret
    seats.import_csv(s, w.room.id, b"1,10.0.0.1,PC01,\n2,10.0.0.2,PC02,\n")
    later = exam_data.place(s, w.site.id, w.session_id, w.room.id)
    exam_data.build(s, later.id, secret_key=secret)
    s.commit()
    before = sorted(s.scalars(SessionCandidate.__table__.select().with_only_columns(
        SessionCandidate.admission_number).where(SessionCandidate.session_id == w.session_id)))
    assert before[0].endswith("01001")
    earlier = exam_sessions.create_session(s, w.exam, name="加场", starts_at=session_row(w).starts_at - dt.timedelta(hours=4),
                                      remote=False, actor_id=w.teacher.id)
    newcomer = __import__("tests.exams.factories", fromlist=["x"]).member(s, w.exam.course, name="新考生")
    exam_sessions.assign(s, earlier, [newcomer.id, w.candidates[0].id], actor_id=w.teacher.id)  # one moves over
    moved = s.query(SessionCandidate).filter_by(user_id=w.candidates[0].id).one()
    assert (moved.room_id, moved.admission_number) == (None, None)  # the old seat went with the move
    first = exam_data.place(s, w.site.id, earlier.id, w.room.id)
    exam_data.build(s, first.id, secret_key=secret)
    exam_data.build(s, later.id, secret_key=secret)  # rebuilt: one candidate fewer
    s.commit()
    numbers = dict(s.query(SessionCandidate.user_id, SessionCandidate.admission_number).all())
    assert numbers[w.candidates[1].id] == before[0]  # unchanged: sequence 1 of session 01
    assert {numbers[newcomer.id], numbers[w.candidates[0].id]} == {before[0][:-5] + "02001", before[0][:-5] + "02002"}


@pytest.mark.req("V7")
def test_a_pc_swapped_after_its_check_fails_the_sealing_check(app, db_session, tmp_path):
    w = make_world(app, db_session, mode="mock")
    made = seal(w, tmp_path)
    assert sealing.latest(db_session, w.site.id, w.session_id)["site"].passed
    devices.retire_kiosk(db_session, made["kiosks"][0], actor="user:1")  # its PC broke
    replacement = announce(w, 9, "10.0.0.1")
    seats.auto_scan(db_session, w.room.id, order="address")
    devices.record_presence(db_session, replacement)
    db_session.commit()
    check = sealing.check(db_session, w.site.id, w.session_id, secret_key=w.secret)
    [room] = check.items
    assert room["failed"] == ["env_check"]
    with pytest.raises(Conflict):
        exam_data.place(db_session, w.site.id, w.session_id, w.room.id)
