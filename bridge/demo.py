"""``make run``: wire the sandbox LMS and the bridge together and say where to click.

Idempotent on every start: the sandbox keeps its state in ``instance/sandbox.json`` and the
bridge in its database, so a restart reuses the registration, the activity and the admin.
A simulated room (``DEMO``) of a few real kiosk agents (monitor-only lockdown, power
commands recorded only) connects to the bridge, so the kiosks show up live; their data and
logs are in ``instance/kiosks/``.

The room belongs to the demo site (``DEMO``, mock mode) and runs a session of the demo exam:
the sandbox course's row (as the first launch would make it, with the sandbox's teacher and
students from its roster), a small paper of five questions, and a session a few minutes
after the start with the students assigned. Once the kiosks have announced themselves
(``settle``) the auto-scan seats them, the room's exam data is built and loaded and the
session is authorized at the site, so the site console, the seat page, the environment
check and the proctor console show the room live from the first minute. A session whose
time is over is left as history and the next start makes a new one.
"""
from __future__ import annotations

import atexit
import datetime as dt
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from bridge import clock
from bridge.extensions import transaction
from bridge.errors import Conflict, DomainError, NotFound
from bridge.extensions import db

DEMO_ADMIN = "admin"
TOOL_NAME = "ExamBridge"
DEMO_ROOM = "DEMO"
DEMO_KIOSKS = 4
DEMO_SITE = "DEMO"
DEMO_SITE_NAME = "Demo site (mock exams)"
DEMO_EXAM = "Demo exam"
#: the exam candidates register for (/register), with its own session in the demo room
DEMO_CERT_EXAM = "Demo certificate exam"
DEMO_CERT_SESSION = "Registered candidates"
DEMO_CERT_START_IN = dt.timedelta(minutes=60)
DEMO_EXAM_MINUTES = 30
#: the demo session starts this long after a start that makes it: the login is open at once,
#: the proctor may allow the start at once (from 15 minutes before), the candidates count down
DEMO_START_IN = dt.timedelta(minutes=10)
#: the demo paper (GIFT, as a teacher would import it) and each question's points, in order
DEMO_QUESTIONS = """$CATEGORY: $course$/Demo exam

::Capital::What is the capital of France? {=Paris ~London ~Berlin ~Madrid}

::Primes::Which of these numbers are prime? {~%50%2 ~%50%3 ~%-100%4 ~%-100%9}

::Orbit::The Earth orbits the Sun. {T}

::Boiling::At sea level, water boils at {=100} degrees Celsius.

::Why proctor::In a few sentences: why are exams proctored? {}
"""
DEMO_POINTS = (2.0, 2.0, 1.0, 1.0, 4.0)


@dataclass
class Wiring:
    bridge_url: str
    lms_url: str
    client_id: str
    deployment_id: str
    activity_id: int
    admin_user: str
    admin_password: str
    launch_links: list[tuple[str, str]]
    room: str = DEMO_ROOM
    enrolment_code: str | None = None
    kiosks: list = field(default_factory=list)  # the agent processes of the simulated room
    site: str = DEMO_SITE
    exam: str = DEMO_EXAM
    session_name: str = ""
    session_starts_at: dt.datetime | None = None
    registration_sitting: tuple[str, dt.datetime] | None = None  # the certificate exam's session
    settler: threading.Thread | None = None  # ``settle`` running until the kiosks are seated


def _tool(sandbox, bridge_url: str):
    for tool in sandbox.tools:
        if tool.name == TOOL_NAME and tool.login_url == f"{bridge_url}/lti/login":
            return tool
    return sandbox.register_tool(name=TOOL_NAME, login_url=f"{bridge_url}/lti/login",
                                 launch_url=f"{bridge_url}/lti/launch", deeplink_url=f"{bridge_url}/lti/deeplink",
                                 jwks_url=f"{bridge_url}/lti/jwks", registered_by="demo")


def admin_password_file(instance: str | os.PathLike) -> Path:
    """Where the demo keeps its admin's password; it exists only where a demo ran."""
    return Path(instance) / "demo_admin_password"


def _admin_password(instance: Path) -> str:
    """A random password for the demo's local admin, kept (0600) in the instance folder.
    Demo only: production has no default account (``exambridge admin create``)."""
    path = admin_password_file(instance)
    if path.is_file():
        return path.read_text().strip()
    value = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _demo_room(session, secret: str) -> tuple[str, int, str | None]:
    """The demo site (mock mode) and its room ``DEMO``, made on the first start: (site id,
    room id, the room's kiosk enrolment code). A room ``DEMO`` that an older demo made
    without a site joins the demo site with its kiosks and seats."""
    from sqlalchemy import update

    from bridge.models.devices import Kiosk, Room
    from bridge.models.venues import Seat, Site
    from bridge.services.kiosks import devices
    from bridge.services.venue import venues

    site_id = session.scalar(select(Site.id).where(Site.code == DEMO_SITE))
    if site_id is None:
        site_id = venues.create_site(session, code=DEMO_SITE, name=DEMO_SITE_NAME, mode="mock", actor="demo").id
    try:
        room = devices.room_by_code(session, DEMO_ROOM)
    except NotFound:
        info, code = venues.add_room(session, site_id, code=DEMO_ROOM, name="Demo room (simulated kiosks)",
                                     capacity=0, secret_key=secret, actor="demo")
        return site_id, info.id, code
    if room.site_id is None:
        session.execute(update(Room).where(Room.id == room.id).values(site_id=site_id))
        session.execute(update(Kiosk).where(Kiosk.room_id == room.id).values(site_id=site_id))
        session.execute(update(Seat).where(Seat.room_id == room.id).values(site_id=site_id))
        session.expire_all()
    code = devices.enrolment_code(session, room.id, secret_key=secret)
    if code is None:  # the secret changed since the room was made
        code = devices.rotate_enrolment_code(session, room.id, secret_key=secret, actor="demo")
    return room.site_id or site_id, room.id, code


def _demo_course(session, sandbox, tool, lms_url: str):
    """The sandbox course as the tool sees it after a launch and a roster sync: the course
    row (its context, names and service URLs, from the claims the sandbox sends), its
    teacher and its students (the people the sandbox's roster lists; roles mapped as the
    roster maps them). Launches later update the same rows."""
    from bridge.models.users import Course, CourseMember, User
    from lms_plugin.core.roles import map_roles
    from lms_plugin.models import Deployment, Platform
    from lms_plugin.sandbox import claims
    from lms_plugin.sandbox.course import COURSE_ID, COURSE_LABEL, COURSE_TITLE, EDITING_TEACHER, STUDENT

    platform = session.scalar(select(Platform).where(Platform.issuer == lms_url, Platform.client_id == tool.client_id))
    deployment = session.scalar(select(Deployment).where(Deployment.platform_id == platform.id,
                                                         Deployment.deployment_id == tool.deployment_id))
    course = session.scalar(select(Course).where(Course.deployment_id == deployment.id,
                                                 Course.context_id == str(COURSE_ID)))
    if course is None:
        services = claims.service_claims(tool, sandbox.urls, [])
        ags, nrps = services.get(claims.AGS_ENDPOINT, {}), services.get(claims.NRPS, {})
        course = Course(deployment_id=deployment.id, context_id=str(COURSE_ID), label=COURSE_LABEL,
                        title=COURSE_TITLE, nrps_url=nrps.get("context_memberships_url"),
                        ags_lineitems_url=ags.get("lineitems"), ags_scopes=list(ags.get("scope", [])),
                        roster_synced_at=clock.utcnow_naive())
        session.add(course)
        session.flush()
    teacher_id, students = None, []
    for person in sandbox.users:
        if person.course_role not in (EDITING_TEACHER, STUDENT):
            continue
        user = session.scalar(select(User).where(User.platform_id == platform.id, User.lti_sub == str(person.id)))
        if user is None:
            user = User(platform_id=platform.id, lti_sub=str(person.id), name=person.name,
                        given_name=person.given_name, family_name=person.family_name, email=person.email,
                        sourcedid=person.sourcedid)
            session.add(user)
            session.flush()
        member = session.scalar(select(CourseMember).where(CourseMember.course_id == course.id,
                                                           CourseMember.user_id == user.id))
        if member is None:
            member = CourseMember(course_id=course.id, user_id=user.id, role=map_roles(person.roster_roles),
                                  lms_roles=list(person.roster_roles), active=True, source="nrps",
                                  updated_at=clock.utcnow_naive())
            session.add(member)
            session.flush()
        if person.course_role == EDITING_TEACHER:
            teacher_id = user.id
        elif member.active and member.role == "candidate":
            students.append(user.id)
    return course, teacher_id, students


def _demo_exam(session, course, teacher_id: int, title: str = DEMO_EXAM):
    """A demo exam of the course (made once): the paper's five questions imported from
    GIFT into the course's bank, as a teacher would."""
    from bridge.models.exams import Exam
    from bridge.services.exams import bank, exams, papers

    exam = session.scalar(select(Exam).where(Exam.course_id == course.id, Exam.title == title))
    if exam is not None:
        return exam
    exam = exams.create_exam(session, course, title=title, duration_minutes=DEMO_EXAM_MINUTES,
                             actor_id=teacher_id, score_maximum=sum(DEMO_POINTS))
    result = bank.import_file(session, course, DEMO_QUESTIONS.encode(), filename="demo-exam.gift", fmt="gift",
                              actor="demo")
    # the questions in the file's order, new or already in the bank (an earlier demo exam's)
    ids = {name: qid for qid, name in [*result.imported, *result.updated]}
    ids.update({name: qid for _where, qid, name in result.unchanged})
    names = [line[2:].split("::", 1)[0] for line in DEMO_QUESTIONS.splitlines() if line.startswith("::")]
    papers.set_fixed_items(session, exam, [(ids[name], points) for name, points in zip(names, DEMO_POINTS)],
                           actor_id=teacher_id)
    return exam


def _demo_session(session, exam, teacher_id: int, students: list[int], site_id: str, room_id: int):
    """The exam's newest session while its time is not over, else a new one
    ``DEMO_START_IN`` from now; the students assigned to it and the session placed in the
    demo room."""
    from bridge.models.papers import ExamSession, SessionCandidate
    from bridge.models.sittings import Sitting
    from bridge.services.exams import exam_sessions
    from bridge.services.venue import exam_data

    now = clock.utcnow_naive()
    sess = session.scalar(select(ExamSession).where(ExamSession.exam_id == exam.id)
                          .order_by(ExamSession.starts_at.desc()).limit(1))
    if sess is None or now >= sess.starts_at + dt.timedelta(minutes=exam.duration_minutes):
        starts = (now + DEMO_START_IN).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        sess = exam_sessions.create_session(session, exam, name="Demo session",
                                       starts_at=starts, remote=False, actor_id=teacher_id)
    assigned = set(session.scalars(select(SessionCandidate.user_id).where(SessionCandidate.session_id == sess.id)))
    missing = [uid for uid in students if uid not in assigned]
    if missing:
        exam_sessions.assign(session, sess, missing, actor_id=teacher_id)
    if session.scalar(select(Sitting.id).where(Sitting.session_id == sess.id, Sitting.room_id == room_id)) is None:
        exam_data.place(session, site_id, sess.id, room_id, actor="demo")
    return sess


#: the demo's staff besides the admin: (user name, name, role, place), all with the admin's password
DEMO_STAFF = (("site", "Demo site admin", "site_admin", {"site": DEMO_SITE}),
              ("proctor", "Demo proctor", "proctor", {"room": DEMO_ROOM}),
              ("authority", "Demo authority", "authority", {"site": DEMO_SITE}))


def _demo_staff(session, password: str) -> None:
    """A site admin of the demo site, a proctor of its room and an authority of its codes,
    made on the first start: each sees only what their role covers."""
    from bridge.models.users import User
    from bridge.services.people import staff

    for username, name, role, place in DEMO_STAFF:
        if session.scalars(select(User).where(User.username == username)).first() is None:
            staff.create_staff(session, username=username, password=password, name=name, role=role, actor="demo",
                               **place)


def _demo_certificate_session(session, exam, teacher_id: int, site_id: str, room_id: int):
    """The certificate exam's session in the demo room ``DEMO_CERT_START_IN`` from now (a
    new one once the last is over), placed but not built: its candidates are the paid
    registrations, and the site builds its data once they have paid (docs/registration.md)."""
    from bridge.models.papers import ExamSession
    from bridge.models.sittings import Sitting
    from bridge.services.exams import exam_sessions
    from bridge.services.venue import exam_data

    now = clock.utcnow_naive()
    sess = session.scalar(select(ExamSession).where(ExamSession.exam_id == exam.id)
                          .order_by(ExamSession.starts_at.desc()).limit(1))
    if sess is None or now >= sess.starts_at + dt.timedelta(minutes=exam.duration_minutes):
        starts = (now + DEMO_CERT_START_IN).replace(second=0, microsecond=0)
        sess = exam_sessions.create_session(session, exam, name=DEMO_CERT_SESSION, starts_at=starts, remote=False,
                                            actor_id=teacher_id)
    if session.scalar(select(Sitting.id).where(Sitting.session_id == sess.id, Sitting.room_id == room_id)) is None:
        exam_data.place(session, site_id, sess.id, room_id, actor="demo")
    return sess


def _demo_registration(session, exam) -> None:
    """An open registration period at the demo site offering the certificate exam, reviewed
    by the site (made on the first start): candidates register at /register."""
    from bridge.models.registration import Offer, RegistrationPeriod
    from bridge.models.venues import Site
    from bridge.services.registration import periods

    period = session.scalars(select(RegistrationPeriod).where(RegistrationPeriod.name == "Demo registration")).first()
    now = clock.utcnow_naive()
    if period is None:
        period = periods.create_period(session, name="Demo registration", opens_at=now - dt.timedelta(days=1),
                                       closes_at=now + dt.timedelta(days=30), actor="demo")
        periods.add_site(session, period, DEMO_SITE, reviews=True, actor="demo")
    site_id = session.scalar(select(Site.id).where(Site.code == DEMO_SITE))
    if session.scalar(select(Offer.id).where(Offer.period_id == period.id, Offer.site_id == site_id,
                                             Offer.exam_id == exam.id)) is None:
        periods.add_offer(session, period, DEMO_SITE, exam.id, capacity=30, fee_cents=8000, actor="demo")


def registration_sitting(app) -> tuple[str, dt.datetime] | None:
    """The name and start of the certificate exam's newest session, for the banner."""
    from bridge.models.exams import Exam
    from bridge.models.papers import ExamSession

    with app.app_context():
        row = db.session.execute(select(ExamSession.name, ExamSession.starts_at)
                                 .join(Exam, Exam.id == ExamSession.exam_id).where(Exam.title == DEMO_CERT_EXAM)
                                 .order_by(ExamSession.starts_at.desc()).limit(1)).first()
        db.session.remove()
    return (row[0], row[1]) if row else None


def prepare(app, sandbox, tool, *, lms_url: str) -> tuple[str | None, str, dt.datetime]:
    """The demo site, room, course, exam and session (idempotent); returns the room's kiosk
    enrolment code and the session's name and start."""
    secret = app.config["SECRET_KEY"]
    with app.app_context():
        with transaction() as s:
            site_id, room_id, code = _demo_room(s, secret)
            course, teacher_id, students = _demo_course(s, sandbox, tool, lms_url)
            exam = _demo_exam(s, course, teacher_id)
            sess = _demo_session(s, exam, teacher_id, students, site_id, room_id)
            session_name, starts_at = sess.name, sess.starts_at
            _demo_staff(s, _admin_password(Path(app.instance_path)))
            certificate = _demo_exam(s, course, teacher_id, title=DEMO_CERT_EXAM)
            _demo_certificate_session(s, certificate, teacher_id, site_id, room_id)
            _demo_registration(s, certificate)
        db.session.remove()
    return code, session_name, starts_at


def settle(app, *, kiosks: int = DEMO_KIOSKS, timeout: float = 60.0, every: float = 0.5) -> bool:
    """Once ``kiosks`` exam PCs of the demo room have announced themselves (or ``timeout``
    seconds have passed), seat them by the auto-scan, build and load the room's exam data
    for the demo session and authorize the session at the demo site. Idempotent; returns
    whether the room has its kiosks. Waits by polling (gevent-friendly under the demo)."""
    from bridge.models.devices import Kiosk, Room

    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            try:
                room_id = db.session.scalar(select(Room.id).where(Room.code == DEMO_ROOM))
                count = db.session.scalar(select(func.count()).select_from(Kiosk).where(
                    Kiosk.room_id == room_id, Kiosk.status != "retired")) or 0
            finally:
                db.session.remove()
        if count >= kiosks or time.monotonic() >= deadline:
            break
        time.sleep(every)
    _seat_and_authorize(app, room_id)
    return count >= kiosks


def _seat_and_authorize(app, room_id: int) -> None:
    from bridge.models.exams import Exam
    from bridge.models.papers import ExamSession
    from bridge.models.sittings import Sitting
    from bridge.services.venue import authorization, exam_data, seats

    secret = app.config["SECRET_KEY"]
    with app.app_context():
        with transaction() as s:
            seats.auto_scan(s, room_id, order="announced", actor="demo")
        now = clock.utcnow_naive()
        rows = db.session.execute(select(Sitting.id, ExamSession.id, ExamSession.starts_at, Exam.duration_minutes)
                                  .join(ExamSession, ExamSession.id == Sitting.session_id)
                                  .join(Exam, Exam.id == ExamSession.exam_id)
                                  .where(Sitting.room_id == room_id, Exam.title == DEMO_EXAM)).all()
        db.session.remove()
        for sitting_id, session_id, starts_at, minutes in rows:
            if now >= starts_at + dt.timedelta(minutes=minutes):
                continue  # an earlier demo's session: history
            try:
                with transaction() as s:
                    row = s.get(Sitting, sitting_id)
                    if row.data_loaded_at is None:
                        exam_data.build(s, sitting_id, secret_key=secret, actor="demo")
                        exam_data.load(s, sitting_id, secret_key=secret, actor="demo")
                    if row.authorized_at is None:
                        authorization.authorize(s, session_id, site_id=row.site_id, actor="demo")
            except DomainError as exc:  # no seats yet (the kiosks never came): the site admin can finish
                import logging

                logging.getLogger(__name__).warning("demo sitting %s not ready: %s", sitting_id, exc.message)
        db.session.remove()


def start_kiosks(app, *, bridge_port: int, code: str, count: int = DEMO_KIOSKS) -> list[subprocess.Popen]:
    """``count`` real agent processes registered to the demo room (each with its own data
    directory, hence its own device key). They reconnect on their own while the bridge
    starts, stop with the demo (``--exit-with-parent``, and at exit), and record power
    commands instead of carrying them out."""
    base = Path(app.instance_path) / "kiosks"
    base.mkdir(exist_ok=True)
    procs = []
    for n in range(1, count + 1):
        env = dict(os.environ, EXAMBRIDGE_KIOSK_CODE=code, EXAMBRIDGE_KIOSK_MACHINE_ID=f"exambridge-demo-kiosk-{n}")
        with open(base / f"kiosk-{n}.log", "ab") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "kiosk_agent", "run", "--bridge", f"http://127.0.0.1:{bridge_port}",
                 "--room", DEMO_ROOM, "--data-dir", str(base / f"kiosk-{n}"), "--local-port", "0",
                 "--lockdown", "monitor", "--dry-run-power", "--max-backoff", "2", "--exit-with-parent"],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log))
    atexit.register(stop_kiosks, procs)
    return procs


def stop_kiosks(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def register(app, sandbox, *, bridge_url: str, lms_url: str):
    """The sandbox and the bridge registered with each other, an ExamBridge activity in the
    course and the demo's admin (idempotent); returns (tool, activity, admin password)."""
    from bridge.models.users import User
    from bridge.services.people import accounts
    from lms_plugin.services import platforms

    tool = _tool(sandbox, bridge_url)
    activity = next((a for a in sandbox.activities if a.client_id == tool.client_id), None) \
        or sandbox.add_activity(tool.client_id, "ExamBridge", created_by="demo")
    password = _admin_password(Path(app.instance_path))
    with app.app_context():
        with transaction() as s:
            try:
                platforms.add_platform(
                    s, issuer=lms_url, client_id=tool.client_id, deployment_ids=[tool.deployment_id],
                    auth_login_url=f"{lms_url}/mod/lti/auth.php", auth_token_url=f"{lms_url}/mod/lti/token.php",
                    jwks_url=f"{lms_url}/mod/lti/certs.php", name="Sandbox LMS (demo)", actor="demo")
            except Conflict:
                pass  # registered on an earlier start
        with transaction() as s:
            if s.scalars(select(User).where(User.username == DEMO_ADMIN)).first() is None:
                accounts.create_admin(s, username=DEMO_ADMIN, password=password, name="Demo admin", actor="demo")
        db.session.remove()
    return tool, activity, password


def wire(app, sandbox, *, bridge_url: str, lms_url: str) -> Wiring:
    """Everything ``make run`` sets up before it serves (``register``, ``prepare``, the
    kiosk agents) and, in the background, ``settle``."""
    tool, activity, password = register(app, sandbox, bridge_url=bridge_url, lms_url=lms_url)
    links = [(f"{u.name} ({u.role_label})", sandbox.launch_url(u.id, activity.id)) for u in sandbox.users]
    code, session_name, starts_at = prepare(app, sandbox, tool, lms_url=lms_url)
    kiosks = start_kiosks(app, bridge_port=int(bridge_url.rsplit(":", 1)[1]), code=code) if code else []
    # seats the kiosks once they have announced themselves (a greenlet under the demo's gevent)
    settler = threading.Thread(target=settle, args=(app,), name="demo settle", daemon=True)
    settler.start()
    return Wiring(bridge_url=bridge_url, lms_url=lms_url, client_id=tool.client_id,
                  deployment_id=tool.deployment_id, activity_id=activity.id, admin_user=DEMO_ADMIN,
                  admin_password=password, launch_links=links, enrolment_code=code, kiosks=kiosks,
                  session_name=session_name, session_starts_at=starts_at, settler=settler,
                  registration_sitting=registration_sitting(app))


def banner(w: Wiring) -> str:
    lines = [
        "",
        f"  Sandbox LMS (the course):  {w.lms_url}/",
        f"  ExamBridge (the tool):     {w.bridge_url}/",
        f"  Gradebook:                 {w.lms_url}/grade/report",
        f"  Tool admin:                {w.bridge_url}/admin/login   user {w.admin_user}  password {w.admin_password}",
        f"  {'Simulated room ' + w.room + ':':<26} {len(w.kiosks)} kiosk agents (monitor-only), enrolment code "
        f"{w.enrolment_code}; logs in instance/kiosks/",
        f"  {'Demo site ' + w.site + ':':<26} {w.bridge_url}/site/   (mock mode; sign in as \"site\", same password)",
        f"  {'Proctor console:':<26} {w.bridge_url}/console/   (sign in as \"proctor\"; codes: \"authority\")",
        f"  {'Exam registration:':<26} {w.bridge_url}/register   (mail to candidates: instance/mail/*.eml)",
        f"  {w.exam + ':':<26} \"{w.session_name}\" in room {w.room}, starts "
        f"{w.session_starts_at:%Y-%m-%d %H:%M} UTC",
    ]
    if w.registration_sitting:
        name, starts = w.registration_sitting
        lines += [f"  {DEMO_CERT_EXAM + ':':<26} \"{name}\" in room {w.room}, starts {starts:%Y-%m-%d %H:%M} UTC: "
                  "registered, paid candidates; the site builds its data, they print tickets and sign in at /exam/sign-in"]
    lines += [
        "",
        "  Launch into ExamBridge as (open in a browser; the course page has the same links):",
    ]
    width = max((len(name) for name, _ in w.launch_links), default=0) + 2
    lines += [f"    {name:<{width}}{url}" for name, url in w.launch_links]
    lines.append("")
    return "\n".join(lines)
