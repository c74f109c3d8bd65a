"""Least privilege in the services (bridge.services.people.access): each role reaches its own
ground and no further, whichever view, socket or command calls the service; and over a real
server, the proctor of room A is refused room B's live board at the socket's door."""
from __future__ import annotations

import datetime as dt
import pytest
import websocket
from sqlalchemy import select

from bridge import clock, timezones
from bridge.errors import Forbidden
from bridge.models.staff import StaffGrant
from bridge.services.people import access, staff
from bridge.services.proctoring import authcodes, console
from bridge.services.proctoring import room_records
from bridge.services.proctoring import boards
from bridge.services.venue import exam_data, seats, site_backup, stations, venues
from tests.fixtures.cli import run_cli as _cli
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser

PASSWORD = "correct horse battery"


@pytest.fixture
def ground(app, db_session):
    """Two sites, each a room with a sitting of one exam session; the proctor of room A, the
    site admin and the authority of site A, and the admin."""
    from bridge.services.exams import papers, exam_sessions
    from bridge.services.people import accounts
    from tests.exams import factories as f

    s, secret = db_session, app.config["SECRET_KEY"]
    sites, rooms = {}, {}
    for key in ("A", "B"):
        sites[key] = venues.create_site(s, code=f"{key}01", name=f"Site {key}", actor="test")
        rooms[key], _ = venues.add_room(s, sites[key].id, code=f"R{key}", name=f"Room {key}", capacity=10,
                                        secret_key=secret, actor="test")
    c = f.course(s)
    teacher = f.member(s, c, "teacher")
    exam = f.exam(s, c)
    papers.set_fixed_items(s, exam, [(f.questions(s, c)["single"].id, 1.0)], actor_id=teacher.id)
    sess = exam_sessions.create_session(s, exam, name="S", starts_at=f.now() + dt.timedelta(hours=2), remote=False,
                                   actor_id=teacher.id)
    sitting = {k: exam_data.place(s, sites[k].id, sess.id, rooms[k].id, actor="test") for k in ("A", "B")}
    admin = accounts.create_admin(s, username="root", password=PASSWORD, actor="test")
    root = access.actor_for(s, admin)
    users = {"admin": admin}
    for role, place in (("proctor", {"room": "RA"}), ("site_admin", {"site": "A01"}),
                        ("authority", {"site": "A01"})):
        users[role] = staff.create_staff(s, username=role, password=PASSWORD, role=role, actor=root, **place)
    s.commit()

    def actor(role, **kw):
        return access.actor_for(s, users[role], **kw)

    return s, sites, rooms, sitting, sess, exam, users, actor


@pytest.mark.req("P1", "V5")
def test_a_proctor_runs_their_room_and_no_other(app, ground):
    s, sites, rooms, sitting, *_, actor = ground
    proctor = actor("proctor")
    assert boards.board(s, sitting["A"].id, actor=proctor).sitting_id == sitting["A"].id
    for act in (lambda: console.allow_login(s, sitting["B"].id, actor=proctor),
                lambda: boards.board(s, sitting["B"].id, actor=proctor),
                lambda: room_records.audit_trail(s, sitting["B"].id, actor=proctor),
                lambda: room_records.results_table(s, sitting["B"].id, actor=proctor),
                lambda: authcodes.request(s, room_id=rooms["B"].id, session_id=sitting["B"].session_id, subject=1,
                                          action="extra_time", candidates=[], parameter=60, actor=proctor),
                lambda: venues.get_site(s, sites["A"].id, actor=proctor),  # a proctor is no site admin
                lambda: seats.add_seat(s, rooms["A"].id, address="10.0.0.9", hostname="x", actor=proctor)):
        with pytest.raises(Forbidden):
            act()
    # an internal caller (the sweeper, the CLI) acts for the institution: no scope to check
    assert boards.board(s, sitting["B"].id, actor="system").sitting_id == sitting["B"].id


@pytest.mark.req("P1")
def test_a_proctors_day_and_station_bind_the_room(app, ground):
    s, sites, rooms, sitting, sess, exam, users, actor = ground
    grant = s.scalars(select(StaffGrant).where(StaffGrant.user_id == users["proctor"].id)).one()
    today = timezones.to_local(clock.utcnow_naive()).date()
    grant.valid_on = today + dt.timedelta(days=1)
    s.commit()
    assert not access.may_sitting(s, actor("proctor"), sitting["A"])  # tomorrow's proctor, today
    clock.set_offset(24 * 3600)
    assert access.may_sitting(s, actor("proctor"), sitting["A"])
    clock.set_offset(0)
    grant.valid_on, grant.station_only = None, True
    s.commit()
    assert not access.may_sitting(s, actor("proctor"), sitting["A"])  # not from the room's station
    assert not access.may_sitting(s, actor("proctor", station_room=rooms["B"].id), sitting["A"])
    assert access.may_sitting(s, actor("proctor", station_room=rooms["A"].id), sitting["A"])


@pytest.mark.req("V5", "V9")
def test_a_site_admin_cannot_see_export_restore_or_initialise_another_site(app, ground):
    s, sites, rooms, sitting, *_, actor = ground
    secret = app.config["SECRET_KEY"]
    mine = actor("site_admin")
    assert [x.code for x in venues.list_sites(s, actor=mine)] == ["A01"]
    assert len(venues.list_sites(s, actor=actor("admin"))) == 2
    assert site_backup.backup(s, sites["A"].id, secret_key=secret, actor=mine)
    backup_b = site_backup.backup(s, sites["B"].id, secret_key=secret, actor="test")
    s.commit()
    for act in (lambda: venues.get_site(s, sites["B"].id, actor=mine),
                lambda: venues.update_site(s, sites["B"].id, name="x", mode="formal", actor=mine),
                lambda: venues.create_site(s, code="C01", name="C", actor=mine),
                lambda: site_backup.backup(s, sites["B"].id, secret_key=secret, actor=mine),
                lambda: site_backup.init(s, sites["B"].id, confirm_code="B01", actor=mine),
                lambda: stations.export_site_file(s, sites["B"].id, secret_key=secret, actor=mine),
                lambda: stations.issue_code(s, rooms["B"].id, secret_key=secret, actor=mine),
                lambda: exam_data.build(s, sitting["B"].id, secret_key=secret, actor=mine),
                lambda: console.allow_login(s, sitting["B"].id, actor=mine)):
        with pytest.raises(Forbidden):
            act()
        s.rollback()
    # site B's backup restored by site A's admin, after B was initialised: refused, nothing made
    site_backup.init(s, sites["B"].id, confirm_code="B01", actor="test")
    s.commit()
    with pytest.raises(Forbidden):
        site_backup.restore(s, backup_b, secret_key=secret, actor=mine)
    s.rollback()
    assert [x.code for x in venues.list_sites(s)] == ["A01"]
    assert boards.board(s, sitting["A"].id, actor=mine).sitting_id == sitting["A"].id  # their own site's rooms


@pytest.mark.req("P15")
def test_the_authority_answers_its_sites_requests_but_never_its_own(app, ground):
    s, sites, rooms, sitting, sess, exam, users, actor = ground
    staff.add_grant(s, users["authority"].id, role="proctor", room="RA", actor=actor("admin"))  # proctor and authority
    proctor, authority = actor("proctor"), actor("authority")
    mine = authcodes.request(s, room_id=rooms["A"].id, session_id=sess.id, subject=exam.id, action="extra_time",
                             candidates=[], parameter=60, actor=proctor)
    other = authcodes.request(s, room_id=rooms["B"].id, session_id=sess.id, subject=exam.id, action="extra_time",
                              candidates=[], parameter=60, actor="user:0")
    own = authcodes.request(s, room_id=rooms["A"].id, session_id=sess.id, subject=exam.id, action="late_resume",
                            candidates=[], parameter=0, actor=authority)
    s.commit()
    assert {r.id for r in authcodes.open_requests(s, authority=authority)} == {mine.id, own.id}
    assert authcodes.open_requests(s, authority=proctor) == []  # a proctor is no authority
    with pytest.raises(Forbidden):
        authcodes.approve(s, other.id, actor=authority)  # another site's
    with pytest.raises(Forbidden):
        authcodes.approve(s, own.id, actor=authority)  # asked by themselves
    with pytest.raises(Forbidden):
        authcodes.approve(s, mine.id, actor=proctor)  # the proctor who asked
    assert authcodes.approve(s, mine.id, actor=authority).approved


@pytest.mark.req("P1")
def test_the_console_socket_refuses_another_room(app, ground):
    s, sites, rooms, sitting, *_ = ground
    with serve_wsgi(app) as srv:
        b = Browser()
        assert b.post(f"{srv.url}/admin/login", data={"username": "proctor", "password": PASSWORD}).ok
        cookie = "; ".join(f"{c.name}={c.value}" for c in b.http.cookies)

        def connect(key):
            return websocket.create_connection(
                f"ws://127.0.0.1:{srv.port}/ws/console/{rooms[key].id}?sitting={sitting[key].id}",
                header=[f"Cookie: {cookie}"], origin=srv.url, timeout=10)

        ws = connect("A")
        try:
            assert '"sitting_id"' in ws.recv()
        finally:
            ws.close()
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect("B")
        assert refused.value.status_code == 403
        assert b.get(f"{srv.url}/console/{sitting['B'].id}").status_code == 403
        assert b.get(f"{srv.url}/console/{sitting['A'].id}").status_code == 200


@pytest.mark.req("V5")
def test_admin_create_makes_bound_staff_accounts(app, ground):
    s, sites, rooms, *_ = ground
    made = _cli(app, "admin", "create", "--username", "p2", "--password", PASSWORD, "--role", "proctor",
                "--room", "RB", "--day", "2026-12-24", "--station-only")
    assert made.returncode == 0 and "proctor p2 created" in made.stdout, made.stderr
    s.expire_all()
    grant = s.scalars(select(StaffGrant).where(StaffGrant.role == "proctor",
                                               StaffGrant.room_id == rooms["B"].id)).one()
    assert grant.valid_on == dt.date(2026, 12, 24) and grant.station_only and grant.site_id == sites["B"].id
    bad = _cli(app, "admin", "create", "--username", "sa2", "--password", PASSWORD, "--role", "site_admin",
               "--site", "NOPE")
    assert bad.returncode != 0 and "no site with the code NOPE" in bad.stderr and "Traceback" not in bad.stderr
    missing = _cli(app, "admin", "create", "--username", "sa3", "--password", PASSWORD, "--role", "site_admin")
    assert missing.returncode != 0 and "needs the site" in missing.stderr
