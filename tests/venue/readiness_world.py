"""A site with one room, three exam PCs, a course exam with five candidates and a session
tomorrow morning: the starting point of the venue workflow tests (V3–V9)."""
from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass
from pathlib import Path

from bridge import clock
from bridge.models.papers import ExamSession
from bridge.services.exams import papers, exam_sessions
from bridge.services.kiosks import devices, kiosk_commands
from bridge.services.venue import venues
from kiosk_agent.envcheck import run_check
from tests.exams import factories as f

SECRET_MARK = "Q-CONFIDENTIAL-7f3a"  # an item stem that must not leave the bridge before authorization


@dataclass
class VenueWorld:
    s: object
    secret: str
    site: object
    room: object
    enrolment: str
    exam: object
    session_id: int
    candidates: list
    teacher: object


def make_world(app, s, *, mode: str = "formal", candidates: int = 5, start_in: dt.timedelta = dt.timedelta(hours=20)):
    secret = app.config["SECRET_KEY"]
    site = venues.create_site(s, code="1450301", name="第一考点", mode=mode, actor="user:1")
    room, enrolment = venues.add_room(s, site.id, code="R01", name="一号考场", capacity=30, secret_key=secret,
                                      actor="user:1")
    c = f.course(s)
    teacher = f.member(s, c, "teacher", "Tess")
    people = [f.member(s, c, name=f"考生{i + 1}") for i in range(candidates)]
    qs = f.questions(s, c)
    qs["single"].stem_html = f"<p>{SECRET_MARK}</p>"
    exam = f.exam(s, c, minutes=90)
    papers.set_fixed_items(s, exam, [(qs["single"].id, 2.0), (qs["truefalse"].id, 1.0)], actor_id=teacher.id)
    sess = exam_sessions.create_session(s, exam, name="第一场", starts_at=f.now() + start_in, remote=False,
                                   actor_id=teacher.id)
    exam_sessions.assign(s, sess, [p.id for p in people], actor_id=teacher.id)
    s.commit()
    return VenueWorld(s, secret, site, room, enrolment, exam, sess.id, people, teacher)


def announce(w: VenueWorld, n: int, address: str) -> int:
    return devices.register_kiosk(w.s, room_code=w.room.code, code=w.enrolment, public_key=f"{n:043d}",
                                  machine=f"m{n}", hostname=f"PC{n:02d}", address=address,
                                  secret_key=w.secret).id


def measured(tmp: Path, *, memory_mb: int | None = None) -> dict:
    """This machine's real environment check; ``memory_mb`` overrides what the PC reports
    (a PC with too little memory)."""
    result = run_check(data_dir=tmp, required=["sh"], measured_rtt_ms=3.0)
    if memory_mb is not None:
        result["memory"] = {"total_mb": memory_mb, "reason": None}
    return result


def answer_env_checks(w: VenueWorld, answers: dict[int, dict]) -> None:
    """What the hub does when the kiosks answer their ``env_check`` commands."""
    for kiosk_id, result in answers.items():
        for command in kiosk_commands.unfinished(w.s, kiosk_id):
            if command.name == "env_check":
                kiosk_commands.record_result(w.s, kiosk_id, command.id, "done", result)
    w.s.commit()


def heartbeat(w: VenueWorld, kiosk_ids) -> None:
    for kiosk_id in kiosk_ids:
        devices.record_presence(w.s, kiosk_id, seen=True)
    w.s.commit()


def session_row(w: VenueWorld) -> ExamSession:
    w.s.expire_all()
    return w.s.get(ExamSession, w.session_id)


def at(w: VenueWorld, moment: dt.datetime) -> None:
    """Move the bridge's clock so that now is ``moment``."""
    clock.set_offset(clock.offset() + (moment - clock.utcnow_naive()).total_seconds())


def host() -> str:
    return socket.gethostname()


def good_check(tmp: Path) -> dict:
    result = measured(tmp)
    result["memory"] = {"total_mb": 8192, "reason": None}
    return result


def seal(w: VenueWorld, tmp: Path, addresses=("10.0.0.1", "10.0.0.2", "10.0.0.3")) -> dict:
    """Every step of the workflow, each one passing: the site sealed for the session.
    Returns the kiosk ids, the sitting id and the station token."""
    from bridge.services.venue import authorization, envchecks, exam_data, sealing, seats, stations

    s, secret = w.s, w.secret
    kiosks = [announce(w, n, address) for n, address in enumerate(addresses, start=1)]
    seats.auto_scan(s, w.room.id, order="address", actor="user:1")
    envchecks.start(s, w.room.id, exam_id=w.exam.id, actor="user:1")
    s.commit()
    answer_env_checks(w, {k: good_check(tmp) for k in kiosks})
    sitting = exam_data.place(s, w.site.id, w.session_id, w.room.id, actor="user:1")
    exam_data.build(s, sitting.id, secret_key=secret, actor="user:1")
    exam_data.load(s, sitting.id, secret_key=secret, actor="user:1")
    code = stations.issue_code(s, w.room.id, secret_key=secret, actor="user:1")
    _reg, token = stations.register(s, room_code=w.room.code, code=code, address="10.0.0.200", secret_key=secret)
    at(w, session_row(w).starts_at - dt.timedelta(hours=2))
    authorization.authorize(s, w.session_id, site_id=w.site.id, actor="user:1")
    heartbeat(w, kiosks)
    sealing.check(s, w.site.id, w.session_id, secret_key=secret, actor="user:1")
    s.commit()
    return {"kiosks": kiosks, "sitting_id": sitting.id, "token": token, "code": code}


def ready_room(app, s, *, candidates: int = 3, start_in: dt.timedelta = dt.timedelta(minutes=20),
               seats_csv: bytes | None = None, mode: str = "formal"):
    """A room ready for its session: seats (from ``seats_csv``, or one per candidate), the
    session placed there, its data built and loaded, the session authorized at the site.
    Returns the world with ``sitting_id`` set."""
    from bridge.services.venue import authorization, exam_data, seats

    w = make_world(app, s, mode=mode, candidates=candidates, start_in=start_in)
    seats.import_csv(s, w.room.id, seats_csv if seats_csv is not None else "".join(
        f"{n},10.0.0.{n},PC{n:02d},\n" for n in range(1, candidates + 1)).encode())
    sitting = exam_data.place(s, w.site.id, w.session_id, w.room.id)
    exam_data.build(s, sitting.id, secret_key=w.secret)
    exam_data.load(s, sitting.id, secret_key=w.secret)
    authorization.authorize(s, w.session_id, site_id=w.site.id)
    s.commit()
    w.sitting_id = sitting.id
    return w
