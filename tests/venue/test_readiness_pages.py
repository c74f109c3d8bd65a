"""The site console's venue pages over real HTTP (V3–V9): every page renders, each action
works and every refusal is a page that says what to fix (4xx, never a 500)."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import re

import pytest

from bridge import clock
from bridge.services.venue import envchecks, exam_data, stations
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser
from tests.venue.readiness_world import announce, answer_env_checks, at, good_check, heartbeat, make_world, measured

PASSWORD = "correct horse battery"


@pytest.fixture
def console(app):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password=PASSWORD, actor="test")
    with serve_wsgi(app) as srv:
        b = Browser()
        assert b.post(f"{srv.url}/admin/login", data={"username": "site", "password": PASSWORD}).ok
        yield b, srv.url


@pytest.mark.req("V3", "V4", "V5", "V6", "V7", "V8")
def test_the_venue_pages_walk_a_session_to_sealed(app, db_session, console, tmp_path):
    b, base = console
    w = make_world(app, db_session, start_in=dt.timedelta(hours=30))
    kiosks = [announce(w, n, f"10.0.0.{n}") for n in (1, 2)]
    db_session.commit()
    site = f"{base}/site/{w.site.id}"
    room = f"{site}/rooms/{w.room.id}"
    assert b.post(f"{room}/seats/scan", data={"order": "address"}).ok
    # V3: an empty state first, then a run whose progress and results the page shows
    page = b.get(f"{room}/envcheck")
    assert page.status_code == 200 and 'class="empty"' in page.text
    saved = b.post(f"{room}/envcheck/requirements", data={"exam_id": w.exam.id, **{k: v for k, v in {
        **envchecks.REQUIREMENTS, "min_memory_mb": 4096}.items() if k != "required_software"},
        "required_software": "sh", "browser": ""})
    assert saved.status_code == 200 and "4096" in saved.text
    refused = b.post(f"{room}/envcheck/requirements", data={"exam_id": w.exam.id, "min_cores": "two"})
    assert refused.status_code == 422 and "min_cores" in refused.text
    started = b.post(f"{room}/envcheck", data={"exam_id": w.exam.id, "scope": "all"})
    assert started.status_code == 200 and 'id="env-waiting">2<' in started.text and 'http-equiv="refresh"' in started.text
    db_session.expire_all()
    answer_env_checks(w, {kiosks[0]: good_check(tmp_path), kiosks[1]: measured(tmp_path, memory_mb=1024)})
    page = b.get(f"{room}/envcheck")
    assert 'id="env-passed">1<' in page.text and 'id="env-failed">1<' in page.text and "retest-failed" in page.text
    assert 'http-equiv="refresh"' not in page.text
    report = b.get(f"{room}/envcheck/report.html")
    assert report.headers["Content-Type"].startswith("text/html") and "attachment" in report.headers["Content-Disposition"]
    assert 'id="report-failed">1<' in report.text and "4096" in report.text
    assert b.post(f"{room}/envcheck", data={"scope": "failed"}).ok
    answer_env_checks(w, {kiosks[1]: good_check(tmp_path)})
    assert 'id="env-failed">0<' in b.get(f"{room}/envcheck").text
    # V4: place the session, build with a release time, a tampered file refused, then load
    sessions = b.get(f"{site}/sessions")
    assert sessions.status_code == 200 and "empty" in sessions.text
    placed = b.post(f"{site}/sessions", data={"session_id": w.session_id, "room_id": w.room.id})
    assert placed.status_code == 200 and "data-sitting" in placed.text
    sitting_id = int(re.search(r'data-sitting="(\d+)"', placed.text).group(1))
    again = b.post(f"{site}/sessions", data={"session_id": w.session_id, "room_id": w.room.id})
    assert again.status_code == 409 and 'id="page-error"' in again.text
    release = (clock.utcnow_naive() + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    built = b.post(f"{site}/sittings/{sitting_id}/build", data={"seat_order": "in_order",
                                                                "release_at": release.strftime("%Y-%m-%dT%H:%M")})
    assert built.status_code == 200
    data = b.get(f"{site}/sittings/{sitting_id}/data.json")
    assert data.headers["Content-Disposition"].startswith("attachment") and json.loads(data.content)["sha256"] in built.text
    early = b.post(f"{site}/sittings/{sitting_id}/load", data={"from": "file"},
                   files={"file": ("data.json", data.content)})
    assert early.status_code == 409 and "released" in early.text
    at(w, release + dt.timedelta(minutes=1))
    tampered = json.loads(data.content)
    tampered["payload"]["candidates"][0]["name"] = "冒名"
    bad = b.post(f"{site}/sittings/{sitting_id}/load", data={"from": "file"},
                 files={"file": ("data.json", json.dumps(tampered).encode())})
    assert bad.status_code == 422 and "integrity hash" in bad.text
    missing = b.post(f"{site}/sittings/{sitting_id}/load", data={"from": "file"})
    assert missing.status_code == 422 and "Choose the file" in missing.text
    loaded = b.post(f"{site}/sittings/{sitting_id}/load", data={"from": "file"},
                    files={"file": ("data.json", data.content)})
    assert loaded.status_code == 200 and f'id="loaded-{sitting_id}"><span class="ok">' in loaded.text
    chart = b.get(f"{site}/sittings/{sitting_id}/chart")
    assert chart.status_code == 200 and "考生1" in chart.text and f"{release.year}1450301R0101001" in chart.text
    pdf = b.get(f"{site}/sittings/{sitting_id}/chart.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-") and b"Noto" in pdf.content
    # V5: a registration code, the station registers over HTTP, the site sees its address
    made = b.post(f"{room}/station/code")
    code = re.search(r'class="reg-code">([A-Z0-9]+)<', made.text).group(1)
    station = Browser()
    wrong = station.post(f"{base}/station/register", data={"room_code": "R01", "code": "AAAAAAAA"})
    assert wrong.status_code == 403 and 'id="page-error"' in wrong.text
    ok = station.post(f"{base}/station/register", data={"room_code": "R01", "code": code})
    assert ok.status_code == 200 and 'id="station-room"' in ok.text, station.trail
    listing = b.get(f"{site}/stations")
    assert "127.0.0.1" in listing.text and "Revoke" in listing.text
    info = b.get(f"{site}/site-info")
    assert code in info.text
    site_file = b.get(f"{site}/site-file")
    assert json.loads(site_file.content)["format"] == "exambridge-site-info"
    # a reinstalled station restores from the site file
    reinstalled = Browser()
    busy = reinstalled.post(f"{base}/station/restore", data={"room_code": "R01"},
                            files={"file": ("site.ebsite", site_file.content)})
    assert busy.status_code == 409 and "still connected" in busy.text  # the old station was seen just now
    at(w, clock.utcnow_naive() + dt.timedelta(minutes=3))  # ... and then no more: it died
    restored = reinstalled.post(f"{base}/station/restore", data={"room_code": "R01"},
                                files={"file": ("site.ebsite", site_file.content)})
    assert restored.status_code == 200 and 'id="station-room"' in restored.text
    # V6: authorizing before the window is refused with the window; inside it, done
    early = b.post(f"{site}/sessions/{w.session_id}/authorize")
    assert early.status_code == 409 and "a day before" in early.text
    at(w, exam_data.info(db_session, sitting_id).starts_at - dt.timedelta(minutes=30))
    assert b.post(f"{base}/admin/login", data={"username": "site", "password": PASSWORD}).ok  # a day later
    authorized = b.post(f"{site}/sessions/{w.session_id}/authorize")
    assert authorized.status_code == 200 and f'id="authorized-{w.session_id}">✓' in authorized.text
    verified = b.post(f"{site}/sessions/{w.session_id}/verify")
    assert f'id="verified-{w.session_id}">✓' in verified.text
    # V7: the sealing check names the offline PCs, then passes
    sealing = b.get(f"{site}/sessions/{w.session_id}/sealing")
    assert sealing.status_code == 200 and 'class="empty"' in sealing.text
    not_ready = b.post(f"{site}/sessions/{w.session_id}/sealing")
    assert 'data-passed="false"' in not_ready.text
    assert 'data-condition="kiosks_online" data-ok="false"' in not_ready.text
    assert 'data-condition="station" data-ok="true"' in not_ready.text
    heartbeat(w, kiosks)
    ready = b.post(f"{site}/sessions/{w.session_id}/sealing")
    assert 'data-passed="true"' in ready.text and 'data-ok="false"' not in ready.text
    # V8: the monitoring table
    monitor = b.get(f"{site}/sessions/{w.session_id}/monitor")
    assert monitor.status_code == 200 and 'id="total-candidates">2<' in monitor.text and "127.0.0.1" in monitor.text
    # revoke: a confirmation page first
    confirm = b.get(f"{room}/station/revoke")
    assert confirm.status_code == 200 and "127.0.0.1" in confirm.text
    assert "Make a registration code" not in b.post(f"{room}/station/revoke").text
    assert stations.current(db_session, w.room.id, secret_key=w.secret).registered_at is None


@pytest.mark.req("V9")
def test_backup_init_and_restore_from_the_pages(app, db_session, console, tmp_path):
    b, base = console
    w = make_world(app, db_session, mode="formal")
    kiosks = [announce(w, 1, "10.0.0.1")]
    db_session.commit()
    site = f"{base}/site/{w.site.id}"
    assert b.post(f"{site}/rooms/{w.room.id}/seats/scan", data={"order": "address"}).ok
    upkeep = b.get(f"{site}/upkeep")
    assert upkeep.status_code == 200 and "init-blocked" not in upkeep.text
    backup = b.post(f"{site}/backup", data={"note": "考前"})
    assert backup.headers["Content-Type"] == "application/gzip" and gzip.decompress(backup.content)
    unticked = b.post(f"{site}/init", data={"confirm_code": "1450301", "password": PASSWORD})
    assert unticked.status_code == 422
    wrong_password = b.post(f"{site}/init", data={"understood": "1", "confirm_code": "1450301", "password": "nope"})
    assert wrong_password.status_code == 403
    wrong_code = b.post(f"{site}/init", data={"understood": "1", "confirm_code": "145030", "password": PASSWORD})
    assert wrong_code.status_code == 422 and "Type the site code" in wrong_code.text
    done = b.post(f"{site}/init", data={"understood": "1", "confirm_code": "1450301", "password": PASSWORD})
    assert done.status_code == 200 and "1450301" in done.text
    assert b.get(site).status_code == 404
    not_a_backup = b.post(f"{base}/site/restore", files={"file": ("x.bak", b"hello")})
    assert not_a_backup.status_code == 422 and "not a site backup" in not_a_backup.text
    restored = b.post(f"{base}/site/restore", files={"file": ("site.bak", backup.content)})
    assert restored.status_code == 200 and "第一考点" in restored.text and "restored" in restored.text
    assert "R01" in restored.text and re.search(r"<td>R01</td>|<code>R01</code>", restored.text)
    # the password page
    page = b.get(f"{base}/site/password")
    assert page.status_code == 200
    mismatch = b.post(f"{base}/site/password", data={"current": PASSWORD, "new": "a" * 12, "confirm": "b" * 12})
    assert mismatch.status_code == 422 and "differ" in mismatch.text
    changed = b.post(f"{base}/site/password", data={"current": PASSWORD, "new": "a new long password",
                                                     "confirm": "a new long password"})
    assert changed.status_code == 200 and "Password changed" in changed.text
    assert kiosks
