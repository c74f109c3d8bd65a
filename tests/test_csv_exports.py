"""Every CSV export goes through one writer that no spreadsheet runs as a formula (OWASP's
CSV-injection rule), and the XLSX writer keeps such text inert too (P3, P7, P12, P16, V2).

A candidate, violation, seat or log value that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return comes out with a leading ``'``; real numbers stay numbers. ``EXPORTS``
lists every CSV export route; a route whose rule names CSV and is not listed fails, and so
does any module that writes CSV or answers ``text/csv`` without ``bridge.exports.csv_export``.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest

from bridge.models.attempts import AttemptLog
from bridge.models.users import User
from bridge.models.venues import Seat
from bridge.exports import csv_export, xlsx
from bridge.services import audit
from bridge.services.delivery import attempts
from bridge.services.proctoring import console
from bridge.services.proctoring import room_records
from bridge.services.proctoring import resumes
from bridge.services.proctoring import incidents
from bridge.services.venue import seats
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser
from tests.venue.readiness_world import at, ready_room, session_row

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parent.parent
HOSTILE = {  # where each hostile value is planted
    "name": '=HYPERLINK("http://x")',     # the candidate's name (LMS)
    "violation": "+1",                      # a violation's description
    "resume": "-2+3",                       # a resume's description
    "audit": "@SUM(A1)",                    # an audit entry's actor
    "log": "\tx",                           # a candidate-log address
    "seat": "\r=1+1",                       # a seat's note
    "hostname": "-cmd|' /C calc'!A0",       # a seat's computer name
}

# endpoint -> (URL under the world, the hostile values that export must carry, escaped)
EXPORTS = {
    "console.violations_csv": ("/console/{sid}/violations.csv", ["name", "violation"]),
    "console.resume_log_csv": ("/console/{sid}/resumes.csv", ["name", "resume"]),
    "console.candidate_log_csv": ("/console/{sid}/candidates/{aid}/log.csv", ["log"]),
    "console.audit_csv": ("/console/{sid}/audit.csv", ["audit"]),
    "console.results_export": ("/console/{sid}/results.csv", ["name"]),
    "site.export_seats": ("/site/{site}/rooms/{room}/seats.csv", ["seat", "hostname"]),
}
# CSV exports whose world is elsewhere, with the test there that plants a hostile value
EXPORTS_ELSEWHERE = {
    "admin.payment_reconciliation": "tests/registration/test_payments.py::"
                                    "test_the_daily_reconciliation_sets_each_order_beside_the_providers_record",
}
XLSX_EXPORTS = {
    "console.results_export": ("/console/{sid}/results.xlsx", ["name"]),
    "console.violations_xlsx": ("/console/{sid}/violations.xlsx", ["name", "violation"]),
}


@pytest.fixture
def hostile_room(app, db_session):
    """A room in its exam where every exported text field someone else controls is hostile."""
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="site", password=PASSWORD, actor="test")
    w = ready_room(app, db_session, start_in=dt.timedelta(minutes=20), candidates=1)
    s, sid = w.s, w.sitting_id
    person = w.candidates[0]
    s.get(User, person.id).name = HOSTILE["name"]
    seat = s.query(Seat).filter_by(room_id=w.room.id).one()
    seat.note, seat.hostname = HOSTILE["seat"], HOSTILE["hostname"]
    a = attempts.log_in(s, w.exam, person.id)
    attempts.read_rules(s, a)
    at(w, session_row(w).starts_at - dt.timedelta(minutes=10))
    console.allow_start(s, sid, secret_key=w.secret)
    at(w, session_row(w).starts_at)
    attempts.start(s, a)
    incidents.register_violation(s, sid, a.id, code="A101", description=HOSTILE["violation"], actor="user:1")
    at(w, session_row(w).starts_at + dt.timedelta(minutes=2))
    resumes.resume(s, sid, [person.id], reason="power_cut", description=HOSTILE["resume"], secret_key=w.secret)
    s.add(AttemptLog(attempt_id=a.id, address=HOSTILE["log"], action="page_unload", actor="candidate"))
    audit.record(s, "console.note", actor=HOSTILE["audit"], target=f"sitting:{sid}")
    s.commit()
    w.attempt_id = a.id
    return w


def _url(template: str, w) -> str:
    return template.format(sid=w.sitting_id, aid=w.attempt_id, site=w.site.id, room=w.room.id)


def _escaped(value: str) -> str:
    return "'" + value


@pytest.mark.req("P3", "P7", "P12", "P16", "V2")
def test_a_hostile_value_comes_out_escaped_from_every_csv_export(app, hostile_room):
    w = hostile_room
    with serve_wsgi(app) as srv:
        b = Browser()
        assert b.post(f"{srv.url}/admin/login", data={"username": "site", "password": PASSWORD}).ok
        for endpoint, (template, planted) in EXPORTS.items():
            resp = b.get(srv.url + _url(template, w))
            assert resp.status_code == 200, (endpoint, resp.status_code)
            assert resp.headers["Content-Type"].startswith("text/csv"), endpoint
            assert resp.content.startswith("\ufeff".encode()), f"{endpoint}: no BOM for Excel"
            cells = [c for row in csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))) for c in row]
            for key in planted:
                assert _escaped(HOSTILE[key]) in cells, (endpoint, key, cells)
            live = [c for c in cells if c.startswith(csv_export.TRIGGERS)]
            assert not live, f"{endpoint} exports cells a spreadsheet would run: {live}"
        for endpoint, (template, planted) in XLSX_EXPORTS.items():
            resp = b.get(srv.url + _url(template, w))
            assert resp.status_code == 200 and resp.content[:2] == b"PK", endpoint
            sheet = zipfile.ZipFile(io.BytesIO(resp.content)).read("xl/worksheets/sheet1.xml").decode()
            assert "<f>" not in sheet and "<f " not in sheet, f"{endpoint} writes a formula"
            texts = re.findall(r'<t xml:space="preserve">([^<]*)</t>', sheet)
            for key in planted:
                assert _escaped(HOSTILE[key]).replace('"', "&quot;") in texts or \
                    _escaped(HOSTILE[key]) in texts, (endpoint, key, texts)


def test_every_csv_export_route_is_in_the_list(app):
    """A new export without a row in ``EXPORTS`` fails here, so it gets the hostile test."""
    csv_rules = {rule.endpoint for rule in app.url_map.iter_rules() if "csv" in rule.rule.lower()}
    listed = set(EXPORTS) | set(EXPORTS_ELSEWHERE)
    assert csv_rules - listed == set(), "add these CSV exports to EXPORTS and plant a hostile value"
    assert listed - csv_rules == set(), "EXPORTS lists a route that no longer exists"
    for endpoint, test in EXPORTS_ELSEWHERE.items():  # the test named there exists and plants one
        path, name = test.split("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        assert f"def {name}(" in source and "TRIGGERS" in source, (endpoint, test)


def test_no_module_writes_csv_past_the_one_writer():
    """``csv.writer``/``DictWriter`` or a ``text/csv`` response outside bridge.exports.csv_export
    is an export that escapes nothing."""
    one = ROOT / "bridge" / "exports" / "csv_export.py"
    offenders = []
    for package in ("bridge", "lms_plugin"):
        for path in (ROOT / package).rglob("*.py"):
            if path == one:
                continue
            source = path.read_text(encoding="utf-8")
            for pattern in ("csv.writer(", "csv.DictWriter(", "text/csv", "writerow("):
                if pattern in source:
                    offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []


@pytest.mark.req("P12")
def test_the_cell_rule_escapes_text_and_keeps_numbers():
    for value in ('=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-2"):
        assert csv_export.cell(value) == "'" + value
        assert csv_export.unescape(csv_export.cell(value)) == value
    assert [csv_export.cell(v) for v in (-2, 1.5, None, "a-b", "'=x")] == [-2, 1.5, "", "a-b", "'=x"]
    assert csv_export.unescape("'quoted") == "'quoted"  # only our own prefix is taken off
    body = csv_export.text([["score", "name"], [-2, "=1+1"]])
    assert body == "\ufeffscore,name\r\n-2,'=1+1\r\n"


@pytest.mark.req("P12")
def test_xlsx_text_is_an_inline_string_escaped_and_numbers_stay_numbers():
    book = zipfile.ZipFile(io.BytesIO(xlsx.workbook([["=1+1", -2, "@x", "plain"]])))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
    assert '<c r="A1" t="inlineStr"><is><t xml:space="preserve">\'=1+1</t></is></c>' in sheet
    assert '<c r="B1"><v>-2</v></c>' in sheet
    assert "'@x" in sheet and ">plain<" in sheet


@pytest.mark.req("V2")
def test_a_seat_plan_round_trips_through_the_escape(db_session, app):
    from bridge.services.venue import venues

    site = venues.create_site(db_session, code="1450399", name="S", mode="formal", actor="t")
    room, _ = venues.add_room(db_session, site.id, code="R9", name="R", capacity=5,
                              secret_key=app.config["SECRET_KEY"], actor="t")
    report = seats.import_csv(db_session, room.id, "1,10.0.0.1,PC1,-\n2,10.0.0.2,PC2,=靠窗\n")
    assert report.ok, report.errors
    exported = seats.export_csv(db_session, room.id)
    assert "'-" in exported and "'=靠窗" in exported
    assert seats.import_csv(db_session, room.id, exported.encode("utf-8")).ok
    assert [r.note for r in seats.plan(db_session, room.id)] == ["-", "=靠窗"]
