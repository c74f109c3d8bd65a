"""Site backup, restore and init (V9): a backup restored into an empty database gives the
same site; init is refused for a formal site whose started session is not uploaded."""
from __future__ import annotations

import datetime as dt
import gzip

import pytest
from sqlalchemy import select

from bridge import clock
from bridge.errors import Conflict, Forbidden, Invalid
from bridge.models.devices import Kiosk, Room
from bridge.models.papers import SessionCandidate
from bridge.models.sittings import SealingCheck, Sitting
from bridge.models.venues import Seat, Site, StationRegistration
from bridge.services.venue import envchecks, site_backup, stations
from tests.venue.readiness_world import at, make_world, seal, session_row


def snapshot(s, code: str, *, with_sessions: bool) -> dict:
    """What a site holds, without row ids (a restore gives new ones)."""
    s.expire_all()
    site = s.scalar(select(Site).where(Site.code == code))
    rooms = s.scalars(select(Room).where(Room.site_id == site.id).order_by(Room.code)).all()
    room_ids = [r.id for r in rooms]
    code_of = {r.id: r.code for r in rooms}
    keys = {k.id: k.public_key for k in s.scalars(select(Kiosk).where(Kiosk.room_id.in_(room_ids)))}
    out = {
        "site": (site.id, site.code, site.name, site.mode),
        "rooms": [(r.code, r.name, r.capacity, r.kiosk_enrolment_hash) for r in rooms],
        "kiosks": sorted((code_of[k.room_id], k.public_key, k.status, k.seat, k.hostname, k.last_address)
                         for k in s.scalars(select(Kiosk).where(Kiosk.room_id.in_(room_ids)))),
        "seats": [(code_of[x.room_id], x.number, x.address, x.hostname, x.note, keys.get(x.kiosk_id))
                  for x in s.scalars(select(Seat).where(Seat.room_id.in_(room_ids)).order_by(Seat.room_id, Seat.number))],
        "stations": [(code_of[r.room_id], r.code_hash, r.registered_address, r.registered_at, r.revoked_at)
                     for r in s.scalars(select(StationRegistration).where(StationRegistration.room_id.in_(room_ids))
                                        .order_by(StationRegistration.valid_from))],
        "env": {code_of[rid]: [(x.seat, x.state, x.failed) for x in envchecks.report(s, rid).seats] for rid in room_ids},
    }
    if with_sessions:
        out["sittings"] = [(code_of[x.room_id], x.session_id, x.data_hash, x.data_loaded_at, x.release_at)
                           for x in s.scalars(select(Sitting).where(Sitting.site_id == site.id))]
        out["sealing"] = [(code_of.get(x.room_id), x.session_id, x.passed, x.items, x.checked_at)
                          for x in s.scalars(select(SealingCheck).where(SealingCheck.site_id == site.id)
                                             .order_by(SealingCheck.room_id.is_(None), SealingCheck.room_id))]
        out["placements"] = sorted((x.user_id, code_of[x.room_id], x.sequence, x.seat_number, x.admission_number)
                                   for x in s.scalars(select(SessionCandidate).where(SessionCandidate.room_id.in_(room_ids))))
    return out


@pytest.mark.req("V9")
def test_a_backup_restored_into_an_empty_database_gives_the_same_site(app, make_app, db_session, tmp_path):
    w = make_world(app, db_session, mode="mock")
    seal(w, tmp_path)
    before = snapshot(db_session, "1450301", with_sessions=True)
    raw = site_backup.backup(db_session, w.site.id, secret_key=w.secret, note="before the exam", actor="user:1")
    db_session.commit()
    with pytest.raises(Conflict):  # the site is here already
        site_backup.restore(db_session, raw, secret_key=w.secret)
    db_session.rollback()
    # a damaged backup is refused before anything is written
    damaged = gzip.compress(gzip.decompress(raw).replace(b"10.0.0.2", b"10.0.0.9"))
    with pytest.raises(Invalid, match="integrity hash"):
        site_backup.restore(db_session, damaged, secret_key=w.secret)
    with pytest.raises(Invalid, match="not a site backup"):
        site_backup.restore(db_session, b"PK\x03\x04 not a backup", secret_key=w.secret)

    empty = make_app(SECRET_KEY=app.config["SECRET_KEY"])
    from bridge.extensions import db

    with empty.app_context():
        # that database has a session with the same row id, but it is another exam's session
        from bridge.services.exams import exam_sessions
        from tests.exams import factories as f

        c = f.course(db.session)
        other = exam_sessions.create_session(db.session, f.exam(db.session, c), name="别的场次",
                                        starts_at=f.now(), remote=False, actor_id=f.member(db.session, c).id)
        assert other.id == w.session_id
        db.session.commit()
        report = site_backup.restore(db.session, raw, secret_key=w.secret, actor="user:9")
        db.session.commit()
        after = snapshot(db.session, "1450301", with_sessions=False)
    assert after == {k: v for k, v in before.items() if k in after}
    assert report.restored["seats"] == 3 and report.restored["kiosks"] == 3
    assert report.skipped == {"sittings": 1, "sealing_checks": 2, "placements": 3}  # that database has no exam

    # into the same database after init: the sittings, sealing checks and placements come back too
    site_backup.init(db_session, w.site.id, confirm_code="1450301", actor="user:1")
    db_session.commit()
    assert db_session.scalar(select(Site).where(Site.code == "1450301")) is None
    assert db_session.scalar(select(SessionCandidate.room_id).where(SessionCandidate.room_id.is_not(None))) is None
    assert session_row(w).authorized is False  # run by a site: init does not reopen the teacher's gate
    report = site_backup.restore(db_session, raw, secret_key=w.secret, actor="user:1")
    db_session.commit()
    assert snapshot(db_session, "1450301", with_sessions=True) == before and not report.skipped


@pytest.mark.req("V9")
def test_init_is_refused_during_a_formal_exam_that_has_not_uploaded(app, db_session, tmp_path):
    w = make_world(app, db_session, mode="formal")
    made = seal(w, tmp_path)
    with pytest.raises(Invalid, match="Type the site code"):
        site_backup.init(db_session, w.site.id, confirm_code="1450302")
    at(w, session_row(w).starts_at + dt.timedelta(minutes=5))  # the exam is running
    assert site_backup.init_blockers(db_session, w.site.id) == [{"session": "第一场", "room": "R01"}]
    with pytest.raises(Forbidden, match="formal"):
        site_backup.init(db_session, w.site.id, confirm_code="1450301")
    db_session.rollback()
    assert db_session.get(Site, w.site.id) is not None
    sitting = db_session.get(Sitting, made["sitting_id"])
    sitting.ended_at = sitting.uploaded_at = clock.utcnow_naive()  # results uploaded (the proctor's issue)
    db_session.commit()
    site_backup.init(db_session, w.site.id, confirm_code="1450301", actor="user:1")
    db_session.commit()
    assert db_session.get(Site, w.site.id) is None
    assert stations.station(db_session, made["token"]) is None  # the station's registration went too


@pytest.mark.req("V9")
def test_a_mock_site_may_be_initialized_during_its_session(app, db_session, tmp_path):
    w = make_world(app, db_session, mode="mock")
    seal(w, tmp_path)
    at(w, session_row(w).starts_at + dt.timedelta(minutes=5))
    assert site_backup.init_blockers(db_session, w.site.id) == []
    site_backup.init(db_session, w.site.id, confirm_code="1450301")


@pytest.mark.req("V9")
def test_exambridge_site_backup_and_restore_as_commands(app, db_session, tmp_path):
    from tests.fixtures.cli import run_cli

    w = make_world(app, db_session, mode="mock")
    seal(w, tmp_path)
    before = snapshot(db_session, "1450301", with_sessions=True)
    out = tmp_path / "usb" / "site.bak"
    out.parent.mkdir()
    made = run_cli(app, "site", "backup", "1450301", "--out", str(out), "--note", "考前")
    assert made.returncode == 0, made.stderr
    assert "backed up" in made.stdout and out.stat().st_size > 0
    again = run_cli(app, "site", "backup", "1450301", "--out", str(out))
    assert again.returncode != 0 and "exists already" in again.stderr
    refused = run_cli(app, "site", "restore", str(out))
    assert refused.returncode != 0 and "holds the site already" in refused.stderr
    site_backup.init(db_session, w.site.id, confirm_code="1450301")
    db_session.commit()
    restored = run_cli(app, "site", "restore", str(out))
    assert restored.returncode == 0, restored.stderr
    assert "site 1450301 restored" in restored.stdout
    assert snapshot(db_session, "1450301", with_sessions=True) == before
    unknown = run_cli(app, "site", "backup", "nope", "--out", str(tmp_path / "x.bak"))
    assert unknown.returncode != 0 and "no site with code" in unknown.stderr
