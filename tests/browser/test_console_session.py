"""A whole session in the proctor console, in Debian's chromium and in Chinese (P1–P12,
P15): a room of simulated kiosks (announced PCs whose heartbeats the test sends, each
carrying its candidate's attempt) runs from entering the session to the results upload:
allow login, allow start, a violation, extra time within and beyond the free limit (with
the authority's code), a breakpoint resume onto another seat, a screen lock, an answer pack
import, absence, end exam, the room record, the verification table, backup then upload.
Screenshots of the grid, the record and the verification table go to build/screenshots/."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bridge.models.devices import Kiosk, KioskCommand
from bridge.models.packs import PackImport
from bridge.models.sittings import Sitting
from bridge.services.delivery import attempts
from bridge.services.kiosks import devices
from bridge.services.delivery import forwarding
from bridge.services.proctoring import authcodes
from bridge.services.venue import seats
from tests.browser.console_steps import PASSWORD, enter_session, make_admin, sign_in
from tests.fixtures.servers import serve_wsgi
from tests.venue.readiness_world import announce, at, ready_room, session_row

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def carry(w, kiosk_id: int, attempt_id: int | None) -> None:
    """The simulated kiosk's heartbeat: it is online and carries this attempt."""
    devices.record_presence(w.s, kiosk_id, agent_status="in_exam" if attempt_id else "idle",
                            attempt_id=attempt_id)
    w.s.commit()


def exported_pack(w, attempt, tmp_path) -> bytes:
    """What a kiosk's agent writes to the USB drive: its journal of the attempt, signed with
    the PC's own key (a PC registered to the room, bound to the attempt), sealed for the bridge."""
    from kiosk_agent.answer_pack import generate_device_key, public_key_b64
    from kiosk_agent.journal import Journal

    from bridge.models.bank import Question
    from bridge.services.delivery import pack_keys
    from tests.delivery.factories import sample_response

    key = generate_device_key()
    kiosk = devices.register_kiosk(w.s, room_code=w.room.code, code=w.enrolment, public_key=public_key_b64(key),
                                   machine="pack-pc", hostname="PC02", address="10.0.0.2", secret_key=w.secret)
    forwarding.bind_forward(w.s, attempt.id, attempt.epoch, kiosk.id)
    bridge_key = pack_keys.public_key_b64(w.s, w.secret)
    w.s.commit()
    journal = Journal(tmp_path / "journal")
    events = [{"writer": "kiosk-2:tab-1", "seq": n, "question_id": item["question_id"],
               "response": sample_response(w.s.get(Question, item["question_id"]).qtype, n),
               "client_time": None, "epoch": attempt.epoch} for n, item in enumerate(attempt.items, start=1)]
    journal.append(attempt.id, events)
    journal.set_meta(attempt.id, {"exam_id": attempt.exam_id, "session_id": attempt.session_id,
                                  "admission_number": "x", "seat": 2})
    return journal.export_pack(attempt.id, device_private_key=key, bridge_public_key=bridge_key, kiosk_id=kiosk.id)


def code_of(w, request_code: str) -> str:
    """What the authority reads out on the phone (``exambridge authcode``)."""
    return authcodes.code_for(w.s, authcodes.get(w.s, request_code), secret_key=w.secret)


@pytest.mark.req("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P9", "P10", "P11", "P12", "P15")
def test_a_room_runs_a_whole_session_in_the_console(app, db_session, chromium, tmp_path):
    make_admin(app)
    spare = "".join(f"{n},10.0.0.{n},PC{n:02d},\n" for n in (1, 2, 3, 4)).encode()  # seat 4: the spare PC
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=12), seats_csv=spare)
    kiosks = [announce(w, n, f"10.0.0.{n}") for n in (1, 2, 3, 4)]
    seats.auto_scan(db_session, w.room.id, order="address")
    db_session.commit()
    sitting = db_session.get(Sitting, w.sitting_id)
    SHOTS.mkdir(parents=True, exist_ok=True)
    first, second, third = w.candidates
    with serve_wsgi(app) as srv:
        page = chromium().new_page()
        sign_in(page, srv.url)
        enter_session(page, srv.url, sitting.id)
        page.click("#allow-login")
        page.wait_for_selector(".flash")
        # two candidates log in at their kiosks; the third does not come
        a = attempts.log_in(db_session, w.exam, first.id)
        b = attempts.log_in(db_session, w.exam, second.id)
        attempts.read_rules(db_session, a)
        attempts.read_rules(db_session, b)
        db_session.commit()
        carry(w, kiosks[0], a.id)
        carry(w, kiosks[1], b.id)
        page.wait_for_selector("#count-logged_in:text('2')", timeout=10000)
        at(w, session_row(w).starts_at - dt.timedelta(minutes=5))
        page.click("#allow-start")
        page.wait_for_selector("#sitting-state[data-state=start_allowed]")
        at(w, session_row(w).starts_at + dt.timedelta(seconds=5))
        attempts.start(db_session, a)
        attempts.start(db_session, b)
        db_session.commit()
        page.wait_for_selector("#count-in_exam:text('2')", timeout=10000)
        # a violation
        page.reload()
        page.click("summary:text('登记违纪')")
        page.select_option("#violation-candidate", str(b.id))
        page.fill("#violation-description", "交头接耳")
        page.click("#register-violation")
        page.wait_for_selector("#count-violation:text('1')")
        # extra time within the free limit, then beyond it with the authority's code
        page.click("summary:text('考生补时')")
        page.select_option("#extra-candidate", str(a.id))
        page.fill("#extra-seconds", "300")
        page.fill("#extra-reason", "鼠标故障")
        page.click("#give-extra")
        page.wait_for_selector(".flash:has-text('300')")
        page.click("summary:text('申请授权码')")
        page.select_option("#request-candidate", index=1)
        page.fill("#request-value", "600")
        page.click("#ask-code")
        request_code = page.locator("#request-code").inner_text()
        page.click("summary:text('考生补时')")
        page.select_option("#extra-candidate", str(a.id))
        page.fill("#extra-seconds", "600")
        page.fill("#extra-reason", "停电")
        page.select_option("#extra-request", label=f"{request_code} · 600 s")
        page.fill("#extra-code", code_of(w, request_code))
        page.click("#give-extra")
        page.wait_for_selector(".flash:has-text('600')")
        # the first candidate's PC fails: breakpoint resume, then the spare PC carries the attempt
        page.click("#toggle-view")
        page.check(f"#seat-list input[name=user_id][value='{first.id}']")
        page.select_option("#resume-reason", "pc_failure")
        page.fill("#resume-description", "黑屏")
        page.click("#resume-selected")
        page.wait_for_selector("#count-resumed:text('1')")
        closed = db_session.query(KioskCommand).filter_by(kiosk_id=kiosks[0], name="close_client").count()
        assert closed == 1  # the old seat's client is forced out
        carry(w, kiosks[0], None)
        assert attempts.log_in(db_session, w.exam, first.id).status == "in_exam"  # at the spare PC
        db_session.commit()
        carry(w, kiosks[3], a.id)
        # the second candidate's screen is locked with a message
        page.click("summary:text('锁屏')")
        page.select_option("#lock-candidate", str(b.id))
        page.fill("#lock-message", "请举手示意监考员")
        page.click("#lock-screen")
        page.wait_for_selector(".flash")
        lock = db_session.query(KioskCommand).filter_by(kiosk_id=kiosks[1], name="lock").one()
        assert lock.args == {"message": "请举手示意监考员"}
        # an answer pack: a file that is not one is refused with its reason, nothing changes;
        # then the pack the second candidate's PC exported (two answers it journaled offline)
        pack = tmp_path / "seat1.ebpack"
        pack.write_bytes(b"not an answer pack")
        page.click("summary:text('导入作答包')")
        page.set_input_files("#pack-file", str(pack))
        page.click("#import-pack")
        page.wait_for_selector("#page-error")
        real = tmp_path / "seat2.ebpack"
        real.write_bytes(exported_pack(w, b, tmp_path))
        page.click("summary:text('导入作答包')")
        page.set_input_files("#pack-file", str(real))
        page.click("#import-pack")
        page.wait_for_selector(".flash:has-text('2')")
        assert db_session.query(PackImport).filter_by(attempt_id=b.id).one().accepted == 2
        # absence once the late login has closed
        at(w, session_row(w).starts_at + dt.timedelta(minutes=31))
        sign_in(page, srv.url)  # half an hour later: sign in again
        page.goto(f"{srv.url}/console/{sitting.id}")
        page.click("header button:text('中文')")  # a new sign-in: the browser's language again
        page.wait_for_selector("#toggle-view:text('列表视图')")
        page.click("#toggle-view")
        page.check(f"#seat-list input[name=user_id][value='{third.id}']")
        page.click("#register-absent")
        page.wait_for_selector("#count-absent:text('1')")
        page.screenshot(path=str(SHOTS / "console-grid.png"), full_page=True)
        # the end: refused while two write, then with the admin's password
        page.goto(f"{srv.url}/console/{sitting.id}/end")
        assert page.locator("#end-blocked li").count() == 2
        attempts.submit(db_session, db_session.merge(a), reason="candidate")
        attempts.submit(db_session, db_session.merge(b), reason="candidate")
        db_session.commit()
        page.reload()
        page.fill("#password", PASSWORD)
        page.click("#end-exam")
        page.wait_for_selector("#sitting-state[data-state=ended]")
        page.goto(f"{srv.url}/console/{sitting.id}/record")
        page.wait_for_selector("#record-totals")
        assert "应考人数：3人" in page.locator("#record-totals").inner_text()
        page.screenshot(path=str(SHOTS / "console-room-record.png"), full_page=True)
        page.goto(f"{srv.url}/console/{sitting.id}/verification")
        with page.expect_download() as saved:
            page.click("#backup")
        assert saved.value.suggested_filename.startswith("room-results-")
        page.goto(f"{srv.url}/console/{sitting.id}/verification")
        page.wait_for_selector("#backed-up")
        page.click("#upload")
        page.wait_for_selector("#upload-status.ok", timeout=15000)
        assert page.locator("#check-table tbody tr").count() == 3
        page.screenshot(path=str(SHOTS / "console-verification.png"), full_page=True)
        assert db_session.get(Kiosk, kiosks[3]).attempt_id == a.id
