"""``make run``'s demo site (bridge.demo): room DEMO in a mock site, a session of the demo
exam in the sandbox course placed there, the kiosks seated by the auto-scan and the
session ready for the console; idempotent; an older demo's site-less room joins the site.
And the site pages: a refused form goes back to its page (no 405 on reload) with what was
typed."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bridge import demo
from bridge.models.devices import Kiosk, Room
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession, PaperItem, SessionCandidate
from bridge.models.sittings import Sitting
from bridge.models.users import Course, CourseMember
from bridge.models.venues import Seat, Site
from bridge.services.kiosks import devices
from lms_plugin.sandbox import Sandbox
from lms_plugin.sandbox.course import COURSE_ID
from tests.fixtures.sandbox import _shared_platform_key
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser

BRIDGE, LMS = "http://127.0.0.1:1", "http://localhost:2"


def _count(s, model) -> int:
    return s.scalar(select(func.count()).select_from(model))


def _announce(app, code: str, n: int) -> None:
    from bridge.extensions import transaction

    with app.app_context(), transaction() as s:
        devices.register_kiosk(s, room_code=demo.DEMO_ROOM, code=code, public_key=f"{n:043d}", machine=f"m{n}",
                               hostname="demo-host", address="127.0.0.1", secret_key=app.config["SECRET_KEY"])


@pytest.mark.req("V1", "V2", "V4", "V6")
def test_the_demo_places_its_room_in_a_mock_site_with_a_session_of_the_demo_exam(app, db_session):
    sandbox = Sandbox(LMS, private_key_pem=_shared_platform_key())
    # an older demo made room DEMO without a site, and one kiosk announced itself there
    with app.app_context():
        from bridge.extensions import transaction

        with transaction() as s:
            _info, old_code = devices.create_room(s, code=demo.DEMO_ROOM, name="old", secret_key=app.config["SECRET_KEY"])
    _announce(app, old_code, 1)
    tool, _activity, _password = demo.register(app, sandbox, bridge_url=BRIDGE, lms_url=LMS)
    code, name, starts_at = demo.prepare(app, sandbox, tool, lms_url=LMS)
    assert code == old_code
    for n in (2, 3, 4):
        _announce(app, code, n)
    assert demo.settle(app, kiosks=4, timeout=0)

    s = db_session
    s.expire_all()
    site = s.scalar(select(Site).where(Site.code == demo.DEMO_SITE))
    room = s.scalar(select(Room).where(Room.code == demo.DEMO_ROOM))
    assert site.mode == "mock" and room.site_id == site.id
    kiosks = s.scalars(select(Kiosk).where(Kiosk.room_id == room.id)).all()
    assert {k.status for k in kiosks} == {"seated"} and {k.site_id for k in kiosks} == {site.id}
    assert sorted(k.seat for k in kiosks) == [1, 2, 3, 4]
    assert {x.site_id for x in s.scalars(select(Seat))} == {site.id}
    course = s.scalar(select(Course))
    assert course.context_id == str(COURSE_ID) and course.nrps_url and course.ags_lineitems_url
    roles = sorted(m.role for m in s.scalars(select(CourseMember).where(CourseMember.course_id == course.id)))
    assert roles == ["candidate", "candidate", "candidate", "teacher"]
    exam = s.scalar(select(Exam).where(Exam.course_id == course.id, Exam.title == demo.DEMO_EXAM))
    certificate = s.scalar(select(Exam).where(Exam.course_id == course.id, Exam.title == demo.DEMO_CERT_EXAM))
    assert exam and certificate and _count(s, PaperItem) == 2 * len(demo.DEMO_POINTS)
    sess = s.scalar(select(ExamSession).where(ExamSession.exam_id == exam.id))
    assert (sess.name, sess.starts_at) == (name, starts_at)
    sitting = s.scalar(select(Sitting).where(Sitting.session_id == sess.id))
    assert (sitting.room_id, sitting.site_id) == (room.id, site.id)
    assert sitting.data_loaded_at is not None and sitting.authorized_at is not None
    # the certificate exam's session waits in the room for its registered candidates: placed, not built
    registered = s.scalar(select(Sitting).join(ExamSession, ExamSession.id == Sitting.session_id)
                          .where(ExamSession.exam_id == certificate.id))
    assert registered.room_id == room.id and registered.data_hash is None
    assert demo.registration_sitting(app)[0] == demo.DEMO_CERT_SESSION
    seated = s.scalars(select(SessionCandidate.seat_number).where(SessionCandidate.session_id == sess.id)).all()
    assert sorted(seated) == [1, 2, 3]

    # a restart changes nothing
    again = demo.prepare(app, sandbox, tool, lms_url=LMS)
    assert demo.settle(app, kiosks=4, timeout=0)
    assert again == (code, name, starts_at)
    s.expire_all()
    assert [_count(s, m) for m in (Site, Room, Course, Exam, ExamSession, Sitting, Seat, PaperItem)] == \
        [1, 1, 1, 2, 2, 2, 4, 2 * len(demo.DEMO_POINTS)]


@pytest.fixture
def console(app):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password="correct horse battery", actor="test")
    with serve_wsgi(app) as srv:
        b = Browser()
        assert b.post(f"{srv.url}/admin/login", data={"username": "site", "password": "correct horse battery"}).ok
        yield b, srv.url


@pytest.mark.req("V1")
def test_a_refused_room_goes_back_to_the_site_page_with_what_was_typed(console):
    b, base = console
    made = b.post(f"{base}/site/", data={"code": "S1", "name": "第一考点", "mode": "formal"})
    site_url = made.url
    assert re.fullmatch(rf"{base}/site/[0-9a-f]{{32}}", site_url)
    assert b.post(f"{site_url}/rooms", data={"code": "R1", "name": "一号考场", "capacity": "30"}).ok
    refused = b.http.post(f"{site_url}/rooms", data={"code": "R1", "name": "二号考场", "capacity": "12",
                                                      "csrf_token": _csrf(made.text)}, allow_redirects=False)
    assert refused.status_code == 303 and refused.headers["Location"].endswith(site_url[len(base):])
    page = b.get(site_url)  # what the browser shows, and what a reload shows again
    assert page.status_code == 200 and "exists already" in page.text
    assert 'value="R1"' in page.text and 'value="二号考场"' in page.text and 'value="12"' in page.text
    reloaded = b.get(site_url)
    assert reloaded.status_code == 200 and "exists already" not in reloaded.text
    seats_url = re.search(r'href="(/site/[0-9a-f]+/rooms/\d+/seats)"', reloaded.text).group(1)
    bad_seat = b.post(f"{base}{seats_url}", data={"address": "", "hostname": "", "note": "窗边"})
    assert bad_seat.url == f"{base}{seats_url}" and "address or its computer name" in bad_seat.text
    assert 'value="窗边"' in bad_seat.text


def _csrf(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.mark.req("L4", "C1")
def test_the_teacher_and_the_students_find_the_demo_exam_beside_their_own(app, sandbox_lms):
    """The course row the demo made is the one the launches use: the teacher sees the demo
    exam and still creates an exam of their own; a student sees the demo exam's session."""
    with serve_wsgi(app) as srv:
        tool, activity, _password = demo.register(app, sandbox_lms.state, bridge_url=srv.url, lms_url=sandbox_lms.url)
        _code, session_name, _starts = demo.prepare(app, sandbox_lms.state, tool, lms_url=sandbox_lms.url)
        teacher = Browser()
        home = teacher.get(sandbox_lms.state.launch_url(3, activity.id))
        assert home.status_code == 200 and demo.DEMO_EXAM in home.text
        course_id = int(re.search(r"/course/(\d+)", home.url).group(1))
        made = teacher.post(f"{srv.url}/course/{course_id}/exams", data={"title": "Tess's quiz", "duration_minutes": "20"})
        assert made.status_code == 200 and "Tess&#39;s quiz" in made.text and demo.DEMO_EXAM in made.text
        student = Browser()
        page = student.get(sandbox_lms.state.launch_url(5, activity.id))
        assert page.status_code == 200 and demo.DEMO_EXAM in page.text and session_name in page.text
    with app.app_context():
        from bridge.extensions import db

        assert _count(db.session, Course) == 1


@pytest.mark.req("C9")
def test_a_renamed_demo_exam_gets_a_new_one_from_the_questions_in_the_bank(app, db_session):
    sandbox = Sandbox(LMS, private_key_pem=_shared_platform_key())
    tool, _activity, _password = demo.register(app, sandbox, bridge_url=BRIDGE, lms_url=LMS)
    demo.prepare(app, sandbox, tool, lms_url=LMS)
    first = db_session.scalar(select(Exam).where(Exam.title == demo.DEMO_EXAM))
    first.title = "My renamed exam"
    db_session.commit()
    demo.prepare(app, sandbox, tool, lms_url=LMS)  # the bank's questions are found again, not imported twice
    db_session.expire_all()
    exams = db_session.scalars(select(Exam).order_by(Exam.id)).all()
    assert [e.title for e in exams] == ["My renamed exam", demo.DEMO_CERT_EXAM, demo.DEMO_EXAM]
    items = db_session.scalars(select(PaperItem).order_by(PaperItem.paper_id, PaperItem.position)).all()
    per_paper = {}
    for item in items:
        per_paper.setdefault(item.paper_id, []).append((item.question_id, item.points))
    assert len(per_paper) == 3 and len(set(map(tuple, per_paper.values()))) == 1
