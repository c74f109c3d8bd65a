"""The console's pages and its live socket over real HTTP (P1–P3, P5, P9, P10, P15): each
act works from the page, each refusal is a page saying what to fix, and the socket sends
the board at once and again after a change."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import websocket
from sqlalchemy import select

from bridge.models.authcodes import AuthRequest
from bridge.services.delivery import attempts
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser
from tests.venue.readiness_world import at, ready_room, session_row

PASSWORD = "correct horse battery"


@pytest.fixture
def console(app, db_session):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password=PASSWORD, actor="test")
        accounts.create_admin(s, username="authority", password=PASSWORD, actor="test")
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=25), candidates=2)
    with serve_wsgi(app) as srv:
        b = Browser()
        assert b.post(f"{srv.url}/admin/login", data={"username": "site", "password": PASSWORD}).ok
        yield b, srv, w, w.sitting_id


def cookie_header(b: Browser) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in b.http.cookies)


@pytest.mark.req("P1", "P2", "P3", "P5", "P9", "P10", "P15")
def test_the_console_pages_run_a_room(console, db_session):
    b, srv, w, sid = console
    base = f"{srv.url}/console/{sid}"
    home = b.get(f"{srv.url}/console/")
    assert home.status_code == 200 and f"/console/{sid}" in home.text
    first = b.get(base)
    assert first.status_code == 200 and 'name="admin_name"' in first.text  # who runs the room, first
    refused = b.post(f"{base}/enter", data={"admin_name": "王", "admin_phone": "", "proctor_name": "李",
                                            "proctor_phone": "139"})
    assert refused.status_code == 422 and 'id="page-error"' in refused.text
    board = b.post(f"{base}/enter", data={"admin_name": "王", "admin_phone": "138", "proctor_name": ["李", ""],
                                          "proctor_phone": ["139", ""]})
    assert board.status_code == 200 and 'id="seat-grid"' in board.text and 'id="count-expected">2<' in board.text
    assert b.get(f"{base}/board.json").json()["state"] == "login_allowed"
    early = b.post(f"{base}/allow-start")
    assert early.status_code == 409 and "can be allowed from" in early.text
    assert b.post(f"{base}/allow-login").status_code == 200
    # the live socket: the board at once, and again once a candidate logs in
    room_id = w.room.id
    ws = websocket.create_connection(f"ws://127.0.0.1:{srv.port}/ws/console/{room_id}?sitting={sid}",
                                     header=[f"Cookie: {cookie_header(b)}"], timeout=10)
    try:
        assert json.loads(ws.recv())["counts"]["logged_in"] == 0
        a = attempts.log_in(db_session, w.exam, w.candidates[0].id)
        db_session.commit()
        assert json.loads(ws.recv())["counts"]["logged_in"] == 1
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as bad:  # another site's page, the admin's cookie
        websocket.create_connection(f"ws://127.0.0.1:{srv.port}/ws/console/{room_id}?sitting={sid}",
                                    header=[f"Cookie: {cookie_header(b)}"], origin="https://evil.example", timeout=10)
    assert bad.value.status_code == 403
    for field, value in (("attempt_id", "²"), ("seconds", "①")):  # digits Python reads, a form must not
        odd = b.post(f"{base}/extra-time", data={"attempt_id": "1", "seconds": "5", "reason": "x", field: value})
        assert 400 <= odd.status_code < 500
    assert b.post(f"{base}/request-code", data={"action": "extra_time", "parameter": "²"}).status_code == 422
    assert b.post(f"{base}/request-code", data={"action": "extra_time", "parameter": "99999999"}).status_code == 422
    stranger = websocket.WebSocket()
    with pytest.raises(websocket.WebSocketBadStatusException) as bad:
        stranger.connect(f"ws://127.0.0.1:{srv.port}/ws/console/{room_id}?sitting={sid}", timeout=10)
    assert bad.value.status_code == 401  # nobody signed in (another room's proctor: 403, tests/services/test_access.py)
    with pytest.raises(websocket.WebSocketBadStatusException) as bad:
        websocket.create_connection(f"ws://127.0.0.1:{srv.port}/ws/console/{room_id + 1}?sitting={sid}",
                                    header=[f"Cookie: {cookie_header(b)}"], timeout=10)
    assert bad.value.status_code == 404
    # start, then a violation, extra time and the code path
    attempts.read_rules(db_session, a)
    db_session.commit()
    at(w, session_row(w).starts_at - dt.timedelta(minutes=10))
    assert b.post(f"{base}/allow-login").ok  # (the sign-in is still fresh: 15 minutes later)
    assert 'data-state="start_allowed"' in b.post(f"{base}/allow-start").text
    at(w, session_row(w).starts_at)
    attempts.start(db_session, a)
    db_session.commit()
    done = b.post(f"{base}/violations", data={"attempt_id": a.id, "code": "A104", "description": "交头接耳"})
    assert done.status_code == 200 and 'id="count-violation">1<' in done.text
    listing = b.get(f"{base}/violations")
    vid = int(re.search(r'data-violation="(\d+)"', listing.text).group(1))
    assert "交头接耳" in listing.text
    exported = b.get(f"{base}/violations.csv")
    assert exported.headers["Content-Type"].startswith("text/csv") and "A104" in exported.content.decode("utf-8-sig")
    assert b.post(f"{base}/violations/{vid}/cancel", data={"reason": ""}).status_code == 422
    assert 'id="count-violation">0<' in b.post(f"{base}/violations/{vid}/cancel", data={"reason": "误登记"}).text
    given = b.post(f"{base}/extra-time", data={"attempt_id": a.id, "seconds": "300", "reason": "鼠标故障"})
    assert given.status_code == 200 and "300 s actually added" in given.text
    beyond = b.post(f"{base}/extra-time", data={"attempt_id": a.id, "seconds": "400", "reason": "again"})
    assert beyond.status_code == 403 and "authorization code" in beyond.text
    asked = b.post(f"{base}/request-code", data={"action": "extra_time", "admission_number": "", "parameter": "400"})
    request_code = re.search(r'id="request-code">(\d+)<', asked.text).group(1)
    wrong = b.post(f"{base}/extra-time", data={"attempt_id": a.id, "seconds": "400", "reason": "again",
                                                "request_id": "1", "code": "00000000"})
    assert wrong.status_code in (403, 409) and 'id="page-error"' in wrong.text
    # the one who asked sees neither the code nor an approve button: the authority is someone else
    own = b.get(f"{srv.url}/admin/authcodes")
    assert request_code in own.text and "your own request" in own.text and "/approve" not in own.text
    rid = db_session.scalar(select(AuthRequest.id).where(AuthRequest.request_code == request_code))
    assert "another person" in b.post(f"{srv.url}/admin/authcodes/{rid}/approve").text
    authority = Browser()
    assert authority.post(f"{srv.url}/admin/login", data={"username": "authority", "password": PASSWORD}).ok
    page = authority.get(f"{srv.url}/admin/authcodes")
    assert f"/admin/authcodes/{rid}/approve" in page.text and 'class="code"' in page.text
    assert "approved" in authority.post(f"{srv.url}/admin/authcodes/{rid}/approve").text
    # absence before the late cutoff, then after; the end refused while a candidate writes
    second = w.candidates[1]
    assert b.post(f"{base}/absent", data={"user_id": str(second.id)}).status_code == 409
    end = b.get(f"{base}/end")
    assert 'id="end-blocked"' in end.text
    at(w, session_row(w).starts_at + dt.timedelta(minutes=31))
    assert b.post(f"{srv.url}/admin/login", data={"username": "site", "password": PASSWORD}).ok
    assert 'id="count-absent">1<' in b.post(f"{base}/absent", data={"user_id": str(second.id)}).text
    attempts.submit(db_session, a, reason="candidate")
    db_session.commit()
    assert b.post(f"{base}/end", data={"password": "wrong"}).status_code == 403
    ended = b.post(f"{base}/end", data={"password": PASSWORD})
    assert ended.status_code == 200 and 'data-state="ended"' in ended.text
    # P11, P12: the record, the verification table, backup first, then the upload
    record = b.get(f"{base}/record")
    assert record.status_code == 200 and 'id="record-totals"' in record.text and "300 s" in record.text
    pdf = b.get(f"{base}/record.pdf")
    assert pdf.content.startswith(b"%PDF-")
    check = b.get(f"{base}/verification")
    assert check.status_code == 200 and 'id="check-table"' in check.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', check.text).group(1)
    early = b.http.post(f"{base}/upload", headers={"X-CSRF-Token": csrf})
    assert early.status_code == 409 and "Back the results up" in early.json()["message"]
    saved = b.post(f"{base}/backup")
    assert saved.headers["Content-Disposition"].startswith("attachment") and json.loads(saved.content)["payload"]
    progress = b.http.post(f"{base}/upload", headers={"X-CSRF-Token": csrf}).json()
    assert progress["uploaded"] is True and progress["total"] == 2
    sheet = b.get(f"{base}/results.xlsx")
    assert sheet.headers["Content-Type"].startswith("application/vnd.openxmlformats") and sheet.content[:2] == b"PK"
    assert "admission_number" in b.get(f"{base}/results.csv").content.decode("utf-8-sig")
    assert b.get(f"{base}/violations.xlsx").content[:2] == b"PK"
