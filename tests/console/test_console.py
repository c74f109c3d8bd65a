"""The proctor console's rules (P1–P3, P5, P9, P10): the room's flow, the board and its
counts, and every guarded act refusing when its precondition fails or its code is wrong."""
from __future__ import annotations

import datetime as dt

import pytest

from bridge import clock
from bridge.errors import Forbidden, Invalid, InvalidState, NotFound
from bridge.models.authcodes import AuthRequest
from bridge.services.delivery import attempts
from bridge.services.proctoring import authcodes, console
from bridge.services.proctoring import mock_acts
from bridge.services.proctoring import room_records
from bridge.services.proctoring import resumes
from bridge.services.proctoring import incidents
from bridge.services.proctoring import boards
from bridge.services.venue import seats
from tests.venue.readiness_world import at, ready_room, session_row


@pytest.fixture
def room(app, db_session):
    """A room of 3 seated candidates, its data loaded, the session (in 20 min) authorized."""
    return ready_room(app, db_session, start_in=dt.timedelta(minutes=20), candidates=3)


def code_for(w, made) -> str:
    return authcodes.code_for(w.s, w.s.get(AuthRequest, made.id), secret_key=w.secret)


def into_exam(w, user):
    a = attempts.log_in(w.s, w.exam, user.id)
    attempts.read_rules(w.s, a)
    return a


def started(w, sid, *users):
    """``users`` logged in, the start allowed 10 minutes before, and at the start time each
    in the exam: their attempts."""
    chosen = [into_exam(w, u) for u in users]
    at(w, session_row(w).starts_at - dt.timedelta(minutes=10))
    console.allow_start(w.s, sid, secret_key=w.secret)
    at(w, session_row(w).starts_at)
    for a in chosen:
        attempts.start(w.s, a)
    return chosen


@pytest.mark.req("P1", "P2")
def test_enter_allow_login_allow_start_and_the_board_follows(room):
    w, sid = room, room.sitting_id
    with pytest.raises(Invalid, match="system admin"):
        console.enter(w.s, sid, admin_name="", admin_phone="", proctors=[])
    with pytest.raises(Invalid, match="proctor"):
        console.enter(w.s, sid, admin_name="王管理", admin_phone="13800000000", proctors=[{"name": "李监考"}])
    console.enter(w.s, sid, admin_name="王管理", admin_phone="13800000000",
                  proctors=[{"name": "李监考", "phone": "13900000000"}], actor="user:1")
    board = boards.board(w.s, sid)
    assert board.state == "login_allowed"  # by itself: the start is 20 min away (login opens 30 min before)
    assert board.counts["expected"] == 3 and board.counts["logged_in"] == 0
    assert [s.seat for s in board.seats] == [1, 2, 3] and all(s.status == "not_logged_in" for s in board.seats)
    first, second, _third = w.candidates
    a = into_exam(w, first)
    with pytest.raises(InvalidState, match="not allowed the start"):
        attempts.start(w.s, a)
    with pytest.raises(InvalidState, match="can be allowed from"):
        console.allow_start(w.s, sid, secret_key=w.secret)  # 20 min before: too early
    at(w, session_row(w).starts_at - dt.timedelta(minutes=10))  # "allow start" opens 15 min before
    console.allow_start(w.s, sid, secret_key=w.secret, actor="user:1")
    assert boards.board(w.s, sid).state == "start_allowed"
    with pytest.raises(InvalidState, match="starts in"):
        attempts.start(w.s, a)  # the countdown
    at(w, session_row(w).starts_at + dt.timedelta(seconds=10))
    assert attempts.start(w.s, a).status == "in_exam"
    into_exam(w, second)
    w.s.commit()
    board = boards.board(w.s, sid)
    assert board.state == "in_progress"
    assert (board.counts["logged_in"], board.counts["in_exam"]) == (2, 1)


@pytest.mark.req("P2", "P15")
def test_a_late_start_needs_a_delay_code_and_the_room_starts_then(room):
    w, sid = room, room.sitting_id
    a = into_exam(w, w.candidates[0])
    w.s.commit()
    at(w, session_row(w).starts_at + dt.timedelta(minutes=12))
    with pytest.raises(Forbidden, match="delay authorization code"):
        console.allow_start(w.s, sid, secret_key=w.secret)
    made = authcodes.request(w.s, room_id=w.room.id, session_id=w.session_id, subject=w.exam.id,
                             action="delay_start", candidates=[])
    w.s.commit()
    with pytest.raises(authcodes.CodeRefused):
        console.allow_start(w.s, sid, secret_key=w.secret, request_id=made.id, code="12345678")
    w.s.rollback()
    console.allow_start(w.s, sid, secret_key=w.secret, request_id=made.id, code=code_for(w, made))
    w.s.commit()
    board = boards.board(w.s, sid)
    assert board.room_start > session_row(w).starts_at + dt.timedelta(minutes=11)
    started = attempts.start(w.s, a)
    assert started.deadline_at == board.room_start + dt.timedelta(minutes=90)  # the room's full 90 minutes


@pytest.mark.req("P3")
def test_violations_are_registered_listed_exported_and_cancelled(room):
    w, sid = room, room.sitting_id
    at(w, session_row(w).starts_at)
    a = into_exam(w, w.candidates[0])
    w.s.commit()
    codes = [c.code for c in incidents.catalogue(w.s)]
    assert codes[0] == "A101" and len(codes) == 9
    with pytest.raises(Invalid, match="catalogue"):
        incidents.register_violation(w.s, sid, a.id, code="Z999", description="x")
    with pytest.raises(Invalid, match="Describe"):
        incidents.register_violation(w.s, sid, a.id, code="A101", description=" ")
    v = incidents.register_violation(w.s, sid, a.id, code="A101", description="携带纸条进入考场", actor="user:1")
    w.s.commit()
    assert boards.board(w.s, sid).counts["violation"] == 1
    [listed] = incidents.violations(w.s, sid)
    assert listed["code"] == "A101" and listed["admission_number"].endswith("01001")
    exported = incidents.violations_csv(w.s, sid)
    assert exported.startswith("\ufeff") and "携带纸条进入考场" in exported
    with pytest.raises(Invalid, match="why"):
        incidents.cancel_violation(w.s, sid, v.id, reason="")
    incidents.cancel_violation(w.s, sid, v.id, reason="登记错误", actor="user:1")
    w.s.commit()
    assert incidents.violations(w.s, sid) == [] and boards.board(w.s, sid).counts["violation"] == 0
    assert incidents.violations(w.s, sid, include_cancelled=True)[0]["cancel_reason"] == "登记错误"
    with pytest.raises(InvalidState):
        incidents.cancel_violation(w.s, sid, v.id, reason="again")


@pytest.mark.req("P5", "P15")
def test_extra_time_free_to_600_s_then_by_code_and_never_past_the_duration(room):
    w, sid = room, room.sitting_id
    [a] = started(w, sid, w.candidates[0])
    w.s.commit()
    with pytest.raises(Invalid, match="reason"):
        incidents.extra_time(w.s, sid, a.id, seconds=200, reason="", secret_key=w.secret)
    deadline = a.deadline_at
    assert incidents.extra_time(w.s, sid, a.id, seconds=200, reason="鼠标无法使用", secret_key=w.secret) == 200
    assert incidents.extra_time(w.s, sid, a.id, seconds=400, reason="again", secret_key=w.secret) == 400
    assert a.deadline_at == deadline + dt.timedelta(seconds=600)
    w.s.commit()
    with pytest.raises(Forbidden, match="authorization code"):
        incidents.extra_time(w.s, sid, a.id, seconds=60, reason="more", secret_key=w.secret)
    number = boards.board(w.s, sid).seats[0].admission_number
    made = authcodes.request(w.s, room_id=w.room.id, session_id=w.session_id, subject=w.exam.id, action="extra_time",
                             candidates=[number], parameter=9000)
    w.s.commit()
    # asked for far more than the exam lasts: the reply says what was really added
    added = incidents.extra_time(w.s, sid, a.id, seconds=9000, reason="停电", secret_key=w.secret,
                               request_id=made.id, code=code_for(w, made))
    assert added == 90 * 60 - 600 and a.extra_seconds == 90 * 60
    w.s.commit()
    with pytest.raises(InvalidState, match="duration"):
        incidents.extra_time(w.s, sid, a.id, seconds=1, reason="x", secret_key=w.secret)
    other = into_exam(w, w.candidates[1])  # logged in, not in the exam
    with pytest.raises(InvalidState, match="in the exam"):
        incidents.extra_time(w.s, sid, other.id, seconds=10, reason="x", secret_key=w.secret)


@pytest.mark.req("P9", "P10")
def test_absence_after_the_cutoff_and_the_end_only_when_everyone_is_done(room):
    w, sid = room, room.sitting_id
    first, second, third = w.candidates
    [a] = started(w, sid, first)
    w.s.commit()
    with pytest.raises(InvalidState, match="late login closes"):
        incidents.register_absent(w.s, sid, [second.id, third.id])
    at(w, session_row(w).starts_at + dt.timedelta(minutes=31))
    with pytest.raises(InvalidState, match="never logged in"):
        incidents.register_absent(w.s, sid, [first.id])
    with pytest.raises(NotFound):
        incidents.register_absent(w.s, sid, [999999])
    assert incidents.register_absent(w.s, sid, [second.id, third.id], actor="user:1") == 2
    w.s.commit()
    with pytest.raises(Forbidden, match="absent"):
        attempts.log_in(w.s, w.exam, second.id)
    w.s.rollback()
    assert [s.admission_number for s in console.end_blockers(w.s, sid)] == [boards.board(w.s, sid).seats[0].admission_number]
    with pytest.raises(InvalidState, match="neither submitted"):
        console.end_exam(w.s, sid)
    attempts.submit(w.s, a, reason="candidate")
    w.s.commit()
    ended = console.end_exam(w.s, sid, actor="user:1")
    assert ended.ended_at is not None and boards.board(w.s, sid).state == "ended"
    board = boards.board(w.s, sid)
    assert (board.counts["submitted"], board.counts["absent"]) == (1, 2)


@pytest.mark.req("P4", "P7", "P15")
def test_breakpoint_resume_fences_the_old_seat_and_a_late_arrival_needs_a_code(room):
    from bridge.models.devices import Kiosk, KioskCommand
    from tests.venue.readiness_world import announce

    w, sid = room, room.sitting_id
    first, second, _third = w.candidates
    [a] = started(w, sid, first)
    kiosk_id = announce(w, 1, "10.0.0.1")
    w.s.get(Kiosk, kiosk_id).attempt_id = a.id  # the heartbeat says which attempt the PC carries
    w.s.commit()
    with pytest.raises(Invalid, match="reason"):
        resumes.resume(w.s, sid, [first.id], reason="bored", description="", secret_key=w.secret)
    with pytest.raises(Invalid, match="200"):
        resumes.resume(w.s, sid, [first.id], reason="other", description="x" * 201, secret_key=w.secret)
    at(w, session_row(w).starts_at + dt.timedelta(minutes=3))
    done = resumes.resume(w.s, sid, [first.id], reason="pc_failure", description="黑屏", secret_key=w.secret,
                          actor="user:1")
    w.s.commit()
    assert a.epoch == 2 and done.lost_seconds[a.id] >= 170
    [close] = done.close_on
    assert w.s.get(KioskCommand, close).name == "close_client"  # the old seat's client is forced out
    assert "resumed" in boards.board(w.s, sid).seats[0].flags
    assert attempts.log_in(w.s, w.exam, first.id).status == "in_exam"  # on any seat, with its answers
    # the screen lock goes to the PC that carries the attempt, with the message
    [lock] = incidents.lock_screen(w.s, sid, a.id, message="请举手示意监考员", actor="user:1")
    assert w.s.get(KioskCommand, lock).args == {"message": "请举手示意监考员"}
    w.s.commit()
    log = room_records.candidate_log(w.s, sid, a.id)
    actions = [r["action"] for r in log]
    assert actions[-1] == "screen_lock" and actions.index("breakpoint_resume") < actions.index("screen_lock")
    assert "breakpoint_resume" in room_records.candidate_log_csv(w.s, sid, a.id)
    # a candidate arriving after the late login cutoff of a formal site: only with a code
    at(w, session_row(w).starts_at + dt.timedelta(minutes=35))
    with pytest.raises(Forbidden):
        attempts.log_in(w.s, w.exam, second.id)
    w.s.rollback()
    with pytest.raises(Forbidden, match="late-resume"):
        resumes.resume(w.s, sid, [second.id], reason="late_arrival", description="迟到", secret_key=w.secret)
    number = next(s.admission_number for s in boards.board(w.s, sid).seats if s.user_id == second.id)
    made = authcodes.request(w.s, room_id=w.room.id, session_id=w.session_id, subject=w.exam.id,
                             action="late_resume", candidates=[number])
    w.s.commit()
    done = resumes.resume(w.s, sid, [second.id], reason="late_arrival", description="迟到", secret_key=w.secret,
                          request_id=made.id, code=code_for(w, made))
    w.s.commit()
    assert list(done.lost_seconds.values())[0] >= 35 * 60
    assert attempts.log_in(w.s, w.exam, second.id).status == "logged_in"


@pytest.mark.req("P11", "P12")
def test_record_verification_backup_then_a_resumable_upload(room):
    import io
    import json
    import zipfile
    from xml.etree import ElementTree

    from bridge.exports import xlsx
    from bridge.services import signing

    w, sid = room, room.sitting_id
    first, second, third = w.candidates
    a, b = started(w, sid, first, second)
    incidents.extra_time(w.s, sid, a.id, seconds=120, reason="键盘故障", secret_key=w.secret)
    incidents.register_violation(w.s, sid, b.id, code="A104", description="交头接耳")
    w.s.commit()
    with pytest.raises(InvalidState, match="End the exam"):
        room_records.results_backup(w.s, sid, secret_key=w.secret)
    at(w, session_row(w).starts_at + dt.timedelta(minutes=31))
    incidents.register_absent(w.s, sid, [third.id])
    attempts.submit(w.s, a, reason="candidate")
    attempts.submit(w.s, b, reason="candidate")
    console.end_exam(w.s, sid)
    w.s.commit()
    rec = room_records.record(w.s, sid)
    assert rec["present"] == 2 and [s.user_id for s in rec["absent"]] == [third.id]
    assert rec["violations"][0]["code"] == "A104" and rec["extra"][0][1][0]["added"] == 120
    table = room_records.verification(w.s, sid)
    assert table["totals"] == {"total": 3, "sat": 2, "absent": 1, "collected": 3, "not_collected": 0,
                               "extra_time": 1, "violation": 1}
    with pytest.raises(InvalidState, match="Back the results up"):
        room_records.upload_step(w.s, sid)
    backup = room_records.results_backup(w.s, sid, secret_key=w.secret)
    w.s.commit()
    document = signing.read(w.secret, backup, "room-results", site_id=w.site.id)
    assert [c["status"] for c in document["payload"]["candidates"]] == ["submitted", "submitted", "absent"]
    # an upload cut after its first step resumes: one attempt per step here
    for a_ in (a, b):
        a_.score = None  # as if the scorer had not run yet
    w.s.commit()
    first_step = room_records.upload_step(w.s, sid, batch=1)
    w.s.commit()
    assert (first_step["done"], first_step["left"], first_step["uploaded"]) == (2, 1, False)
    last = room_records.upload_step(w.s, sid, batch=1)
    w.s.commit()
    assert last == {"total": 3, "done": 3, "left": 0, "uploaded": True}
    assert boards.board(w.s, sid).state == "uploaded"
    book = zipfile.ZipFile(io.BytesIO(xlsx.workbook(room_records.results_table(w.s, sid), sheet="results")))
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    texts = [t.text for t in sheet.iter("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}t")]
    assert "admission_number" in texts and table["rows"][0].admission_number in texts
    assert json.loads(json.dumps(boards.board(w.s, sid).as_dict()))["counts"]["submitted"] == 2


@pytest.mark.req("P13", "P16")
def test_remote_control_and_the_sittings_audit_trail(room):
    from bridge.models.audit import AuditEntry
    from bridge.models.devices import KioskCommand
    from bridge.services import audit
    from tests.venue.readiness_world import announce

    w, sid = room, room.sitting_id
    with pytest.raises(InvalidState, match="No exam PC"):
        console.remote(w.s, sid, None, "restart")
    kiosks = [announce(w, n, f"10.0.0.{n}") for n in (1, 2, 3)]
    seats.auto_scan(w.s, w.room.id, order="address")
    w.s.commit()
    with pytest.raises(Invalid, match="Unknown"):
        console.remote(w.s, sid, None, "format_disk")
    with pytest.raises(Invalid, match="Choose"):
        console.remote(w.s, sid, [], "restart")
    chosen = console.remote(w.s, sid, [2], "close_client", actor="user:1")
    assert [w.s.get(KioskCommand, c).kiosk_id for c in chosen] == [kiosks[1]]
    every = console.remote(w.s, sid, None, "restart", actor="user:1")
    assert sorted(w.s.get(KioskCommand, c).kiosk_id for c in every) == sorted(kiosks)
    console.enter(w.s, sid, admin_name="王", admin_phone="1", proctors=[{"name": "李", "phone": "2"}], actor="user:1")
    w.s.commit()
    trail = room_records.audit_trail(w.s, sid)
    assert [e.action for e in trail][-3:] == ["console.remote", "console.remote", "console.enter"]
    assert {e.action for e in trail} >= {"sitting.place", "sitting.build", "sitting.load"}
    assert "console.enter" in room_records.audit_csv(w.s, sid)
    everything = list(w.s.scalars(__import__("sqlalchemy").select(AuditEntry).order_by(AuditEntry.id)))
    assert audit.verify_chain(everything) is None
    edited = trail[-3]
    edited.detail = {"action": "shutdown"}  # someone edits the trail
    w.s.commit()
    everything = list(w.s.scalars(__import__("sqlalchemy").select(AuditEntry).order_by(AuditEntry.id)))
    assert audit.verify_chain(everything) == edited.id


@pytest.mark.req("P8", "P15")
def test_re_exam_needs_understanding_a_code_and_a_second_confirmation(room):
    from bridge.models.attempts import AnswerEvent, Attempt

    w, sid = room, room.sitting_id
    [a] = started(w, sid, w.candidates[0])
    w.s.add(AnswerEvent(attempt_id=a.id, writer="tab-1", seq=1, question_id=a.items[0]["question_id"],
                        response={"choice": "b"}, payload_hash="0" * 64, hash="1" * 64))
    w.s.commit()
    number = boards.board(w.s, sid).seats[0].admission_number
    args = dict(secret_key=w.secret, actor="user:1")
    with pytest.raises(Invalid, match="I understand"):
        console.re_exam(w.s, sid, a.id, understood=False, confirmed=True, request_id=None, code=None, **args)
    with pytest.raises(Invalid, match="second time"):
        console.re_exam(w.s, sid, a.id, understood=True, confirmed=False, request_id=None, code=None, **args)
    with pytest.raises(Forbidden, match="re-exam authorization code"):
        console.re_exam(w.s, sid, a.id, understood=True, confirmed=True, request_id=None, code=None, **args)
    made = authcodes.request(w.s, room_id=w.room.id, session_id=w.session_id, subject=w.exam.id, action="re_exam",
                             candidates=[number])
    other = authcodes.request(w.s, room_id=w.room.id, session_id=w.session_id, subject=w.exam.id, action="re_exam",
                              candidates=["someone else"])
    w.s.commit()
    with pytest.raises(InvalidState, match="another act"):  # a code asked for another candidate
        console.re_exam(w.s, sid, a.id, understood=True, confirmed=True, request_id=other.id,
                        code=code_for(w, other), **args)
    w.s.rollback()
    clock.set_offset(clock.offset() + 61 * 60)  # the re-exam code is valid for an hour
    with pytest.raises(authcodes.CodeRefused, match="expired"):
        console.re_exam(w.s, sid, a.id, understood=True, confirmed=True, request_id=made.id,
                        code=code_for(w, made), **args)
    w.s.rollback()
    clock.set_offset(clock.offset() - 61 * 60)
    fresh = console.re_exam(w.s, sid, a.id, understood=True, confirmed=True, request_id=made.id,
                            code=code_for(w, made), **args)
    w.s.commit()
    assert w.s.get(Attempt, a.id).status == "voided" and fresh.number == 2
    assert w.s.query(AnswerEvent).filter_by(attempt_id=a.id).count() == 1  # kept, not in the new attempt
    again = attempts.log_in(w.s, w.exam, w.candidates[0].id)
    assert again.id == fresh.id and again.status == "logged_in"
    with pytest.raises(authcodes.CodeRefused, match="used already"):
        console.re_exam(w.s, sid, fresh.id, understood=True, confirmed=True, request_id=made.id,
                        code=code_for(w, made), **args)


@pytest.mark.req("P6")
def test_single_machine_collection_needs_the_pack_and_in_a_formal_exam_the_early_submit_time(room):
    from bridge.models.packs import PackImport
    from bridge.models.papers import Paper

    w, sid = room, room.sitting_id
    paper = w.s.query(Paper).filter_by(exam_id=w.exam.id).one()
    paper.early_submit_minutes = 30
    [a] = started(w, sid, w.candidates[0])
    w.s.commit()
    with pytest.raises(InvalidState, match="answer pack first"):
        console.collect(w.s, sid, a.id)
    w.s.add(PackImport(sha256="f" * 64, attempt_id=a.id, kiosk_id=None, device_key="k", manifest={}, accepted=1))
    w.s.commit()
    with pytest.raises(InvalidState, match="early submission"):
        console.collect(w.s, sid, a.id)  # a formal site, 0 minutes into the exam
    at(w, session_row(w).starts_at + dt.timedelta(minutes=31))
    assert console.collect(w.s, sid, a.id, actor="user:1").status == "submitted"
    assert room_records.candidate_log(w.s, sid, a.id)[-1]["action"] == "collected_from_pack"


@pytest.mark.req("P14")
def test_mock_extras_log_in_answer_and_collect_only_at_a_mock_site(room):
    from bridge.models.attempts import AnswerEvent
    from bridge.services.venue import venues

    w, sid = room, room.sitting_id
    with pytest.raises(Forbidden, match="mock"):
        mock_acts.mock_login(w.s, sid)  # this site is formal
    w.s.rollback()
    venues.update_site(w.s, w.site.id, name=w.site.name, mode="mock")
    w.s.commit()
    assert mock_acts.mock_login(w.s, sid, actor="user:1") == 3
    assert {s.status for s in boards.board(w.s, sid).seats} == {"rules_read"}
    at(w, session_row(w).starts_at - dt.timedelta(minutes=10))
    console.allow_start(w.s, sid, secret_key=w.secret)
    at(w, session_row(w).starts_at)
    for s in boards.board(w.s, sid).seats:
        attempts.start(w.s, w.s.get(__import__("bridge.models.attempts", fromlist=["x"]).Attempt, s.attempt_id))
    w.s.commit()
    stored = mock_acts.mock_answer(w.s, sid, seed=7, actor="user:1")
    w.s.commit()
    assert stored == 3 * 2  # each candidate's single-choice and true/false items
    assert w.s.query(AnswerEvent).filter_by(writer="mock").count() == 6
    assert mock_acts.mock_collect(w.s, sid, actor="user:1") == 3
    w.s.commit()
    assert boards.board(w.s, sid).counts["submitted"] == 3


@pytest.mark.req("P3", "P4")
def test_the_violation_catalogue_is_editable_and_the_resume_log_exports(room):
    w, sid = room, room.sitting_id
    with pytest.raises(Invalid, match="code"):
        incidents.save_violation_code(w.s, "a 1", "x", active=True)
    with pytest.raises(Invalid, match="Describe"):
        incidents.save_violation_code(w.s, "B201", " ", active=True)
    incidents.save_violation_code(w.s, "b201", "携带与考试内容相关的材料", active=True, actor="user:1")
    incidents.save_violation_code(w.s, "A109", "其他违规行为", active=False, actor="user:1")
    w.s.commit()
    codes = {c.code: (c.text, c.active) for c in incidents.catalogue(w.s)}
    assert codes["B201"] == ("携带与考试内容相关的材料", True) and codes["A109"] == ("其他违规行为", False)
    [a] = started(w, sid, w.candidates[0])
    w.s.commit()
    with pytest.raises(Invalid, match="catalogue"):  # an inactive code is not offered
        incidents.register_violation(w.s, sid, a.id, code="A109", description="x")
    w.s.rollback()
    at(w, session_row(w).starts_at + dt.timedelta(minutes=2))
    resumes.resume(w.s, sid, [w.candidates[0].id], reason="power_cut", description="停电", secret_key=w.secret)
    w.s.commit()
    [row] = resumes.resume_log(w.s, sid)
    assert (row["reason"], row["description"]) == ("power_cut", "停电") and row["admission_number"]
    assert "power_cut" in resumes.resume_log_csv(w.s, sid)


@pytest.mark.req("P8", "P9")
def test_a_re_examined_candidate_who_leaves_can_be_registered_absent(room):
    from bridge.models.attempts import Attempt

    w, sid = room, room.sitting_id
    [a] = started(w, sid, w.candidates[0])
    number = boards.board(w.s, sid).seats[0].admission_number
    made = authcodes.request(w.s, room_id=w.room.id, session_id=w.session_id, subject=w.exam.id, action="re_exam",
                             candidates=[number])
    w.s.commit()
    fresh = console.re_exam(w.s, sid, a.id, understood=True, confirmed=True, request_id=made.id,
                            code=code_for(w, made), secret_key=w.secret)
    w.s.commit()
    at(w, session_row(w).starts_at + dt.timedelta(minutes=31))
    incidents.register_absent(w.s, sid, [w.candidates[0].id, w.candidates[1].id, w.candidates[2].id])
    w.s.commit()
    assert w.s.get(Attempt, fresh.id).status == "absent"
    assert console.end_blockers(w.s, sid) == []
