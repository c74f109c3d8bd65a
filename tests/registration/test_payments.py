"""R5: paying through a provider that speaks Alipay's protocol (the sandbox gateway), with
python-alipay-sdk signing the requests and verifying every answer, over real HTTP: the
candidate pays and the signed notification marks the registration paid (and locked); a
forged, a wrong-amount, a foreign and an unknown notification change nothing; the same
notification twice is one payment; a late "waiting" after the payment changes nothing; a
lost notification is found by "I have paid, refresh"."""
from __future__ import annotations

import contextlib
import datetime as dt
import re

import pytest
import requests
from sqlalchemy import func, select

from bridge import clock
from bridge.models.audit import AuditEntry
from bridge.models.registration import PaymentOrder, Registration
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser
from tests.registration.photos import astronaut, jpeg

pytestmark = pytest.mark.req("R5")
PASSWORD = "a long enough secret"
SECRET_FIELDS = dict(name="Li Hua", gender="male", birth_date=dt.date(1990, 1, 1), id_type="prc_id",
                     phone="13800138000", email="li@example.com")


@pytest.fixture
def paying(make_app):
    """A registration at a site that does not review, photo in, submitted: payable (2 × 80)."""
    with payable(make_app, "sandbox") as world:
        yield world


@contextlib.contextmanager
def payable(make_app, provider: str):
    """``paying``'s world with the payment provider ``provider``, served over HTTP."""
    from stdnum.cn import ric

    from bridge.extensions import transaction
    from bridge.services.registration import accounts, periods, registrations
    from bridge.services.venue import venues
    from tests.exams import factories as f

    app = make_app(PAYMENT_PROVIDER=provider)
    now = clock.utcnow_naive()
    with app.app_context(), transaction() as s:
        c = f.course(s)
        exams = [f.exam(s, c) for _ in range(2)]
        site = venues.create_site(s, code="A01", name="Site A", actor="test")
        p = periods.create_period(s, name="Spring", opens_at=now - dt.timedelta(days=1),
                                  closes_at=now + dt.timedelta(days=9), actor="test")
        periods.add_site(s, p, "A01", reviews=False, actor="test")
        offers = [periods.add_offer(s, p, "A01", e.id, capacity=9, fee_cents=8000, actor="test") for e in exams]
        account, token = accounts.sign_up(s, email="li@example.com", password=PASSWORD, confirm=PASSWORD,
                                          name="Li Hua", secret=app.config["SECRET_KEY"])
        accounts.verify(s, token, secret=app.config["SECRET_KEY"])
        reg = registrations.start(s, p, account.user, agreed=True)
        body = "110101199001011" + "23"
        registrations.save_details(s, reg, registrations.PersonalData(
            id_number=body + ric.calc_check_digit(body + "0"), **SECRET_FIELDS), secret=app.config["SECRET_KEY"])
        registrations.choose_subjects(s, reg, site.id, [o.id for o in offers])
        registrations.save_photo(s, reg, jpeg(astronaut()))
        registrations.submit(s, reg, guaranteed=True)
        ids = dict(period=p.id, registration=reg.id)
    with serve_wsgi(app) as srv:
        b = Browser()
        b.post(f"{srv.url}/register/sign-in", data={"email": "li@example.com", "password": PASSWORD})
        yield app, srv.url, b, ids


def _status(app, ids):
    from bridge.extensions import db

    with app.app_context():
        db.session.remove()
        reg = db.session.get(Registration, ids["registration"])
        return reg.status, [s.status for s in reg.subjects]


def _pay(base, b, ids, *, lose=False):
    cashier = b.post(f"{base}/register/{ids['period']}/pay")
    assert "Sandbox cashier" in cashier.text and "160.00" in cashier.text, cashier.text[:300]
    out_trade_no = re.search(r'name="out_trade_no" value="([^"]+)"', cashier.text).group(1)
    data = {"out_trade_no": out_trade_no, **({"lose": "1"} if lose else {})}
    back = b.post(f"{base}/sandbox/alipay/pay", data=data)
    return out_trade_no, back


def _trade(app, out_trade_no):
    return app.extensions["exambridge.payment_sandbox"][out_trade_no]


def _notice(app, trade, **override):
    from bridge.payments import sandbox

    with app.test_request_context():
        return sandbox.notification(trade, **override)


def _payments(app):
    from bridge.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "payment.paid"))


def test_paying_through_the_provider_marks_the_registration_paid_and_locks_it(paying):
    app, base, b, ids = paying
    assert _status(app, ids) == ("submitted", ["chosen", "chosen"])
    _, back = _pay(base, b, ids)
    assert back.url.endswith(f"/register/{ids['period']}") and "Paid" in back.text
    assert _status(app, ids) == ("paid", ["paid", "paid"])
    locked = b.post(f"{base}/register/{ids['period']}/details", data={"name": "Changed"})
    assert "can no longer change" in locked.text and _payments(app) == 1


def test_forged_wrong_amount_foreign_and_unknown_notifications_change_nothing(paying):
    app, base, b, ids = paying
    out_trade_no, _ = _pay(base, b, ids, lose=True)
    trade = _trade(app, out_trade_no)
    forged = _notice(app, trade)
    forged["total_amount"] = "0.01"                                    # changed after signing
    cases = [forged, _notice(app, trade, total_amount="1.60"), _notice(app, trade, app_id="2021999999999999"),
             _notice(app, trade, out_trade_no="EB-NOT-OURS")]
    for form in cases:
        answer = requests.post(f"{base}/register/payments/notify", data=form, timeout=10)
        assert (answer.status_code, answer.text) == (400, "failure")
    assert _status(app, ids)[0] == "submitted" and _payments(app) == 0


def test_the_same_notification_twice_is_one_payment_and_a_late_wait_changes_nothing(paying):
    app, base, b, ids = paying
    out_trade_no, _ = _pay(base, b, ids, lose=True)
    form = _notice(app, _trade(app, out_trade_no))
    for _ in range(2):
        answer = requests.post(f"{base}/register/payments/notify", data=form, timeout=10)
        assert (answer.status_code, answer.text) == (200, "success")
    late = _notice(app, _trade(app, out_trade_no), trade_status="WAIT_BUYER_PAY")
    assert requests.post(f"{base}/register/payments/notify", data=late, timeout=10).text == "success"
    assert _status(app, ids)[0] == "paid" and _payments(app) == 1
    from bridge.extensions import db

    with app.app_context():
        assert db.session.scalars(select(PaymentOrder)).one().notifications == 2


def test_a_lost_notification_is_found_by_i_have_paid_refresh(paying):
    app, base, b, ids = paying
    refreshed = b.post(f"{base}/register/{ids['period']}/pay/refresh")
    assert "No payment found yet" in refreshed.text
    _pay(base, b, ids, lose=True)
    assert _status(app, ids)[0] == "submitted"                         # paid, but nobody told the bridge
    refreshed = b.post(f"{base}/register/{ids['period']}/pay/refresh")
    assert "your registration is paid" in refreshed.text and _status(app, ids)[0] == "paid"


def test_with_alipay_the_pay_button_may_be_sent_on_to_alipays_cashier(make_app, tmp_path):
    """A redirect after a form's submission is held to the CSP's form-action: with Alipay set
    up, its gateway's origin is allowed there (and nothing else is added)."""
    from bridge.payments import sandbox

    pem = sandbox.keys(str(tmp_path))                                   # any RSA pairs will do
    (tmp_path / "app.pem").write_text(pem["app_private"])
    (tmp_path / "alipay.pem").write_text(pem["alipay_public"])
    app = make_app(PAYMENT_PROVIDER="alipay", ALIPAY_APP_ID="2021000000000002",
                   ALIPAY_APP_PRIVATE_KEY_FILE=str(tmp_path / "app.pem"),
                   ALIPAY_PUBLIC_KEY_FILE=str(tmp_path / "alipay.pem"))
    policy = app.test_client().get("/register").headers["Content-Security-Policy"]
    form_action = next(d for d in policy.split(";") if d.strip().startswith("form-action"))
    assert form_action.split()[1:] == ["'self'", "https://openapi.alipay.com"]


@pytest.mark.req("R6")
def test_the_registration_form_prints_once_paid_as_a_page_and_a_pdf(paying):
    app, base, b, ids = paying
    early = b.get(f"{base}/register/{ids['period']}/form")
    assert "ready once the fees are paid" in early.text
    _pay(base, b, ids)
    page = b.get(f"{base}/register/{ids['period']}/form")
    text = page.text
    assert "Registration form" in text and "Li Hua" in text and "110***********" in text
    assert text.count("· paid") == 2 and "data:image/jpeg;base64," in text
    assert re.search(r"1101011990010112\d", text) is None                    # never the whole ID number
    pdf = b.get(f"{base}/register/{ids['period']}/form.pdf")
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert 'filename="registration-form-' in pdf.headers["Content-Disposition"]


def test_the_daily_reconciliation_sets_each_order_beside_the_providers_record(paying):
    """As CSV and XLSX; a registration name a spreadsheet would run comes out inert (the
    CSV-export guard in tests/test_csv_exports.py points here for this route)."""
    import csv
    import io
    import zipfile

    from bridge.exports import csv_export
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    app, base, b, ids = paying
    hostile = '=HYPERLINK("http://x")'
    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="root", password="correct horse battery", actor="test")
        s.get(Registration, ids["registration"]).name = hostile
    out_trade_no, _ = _pay(base, b, ids, lose=True)                     # paid there, not known here
    admin = Browser()
    admin.post(f"{base}/admin/login", data={"username": "root", "password": "correct horse battery"})
    sheet = admin.get(f"{base}/admin/registration/payments.csv")
    assert sheet.headers["Content-Type"].startswith("text/csv") and sheet.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["out_trade_no", "registration", "candidate", "amount", "status"]
    assert rows[1][0] == out_trade_no and rows[1][4:] == ["open", "", "", "TRADE_SUCCESS", "160.00", "NO"]
    assert rows[1][2] == "'" + hostile
    assert not [c for row in rows for c in row if c.startswith(csv_export.TRIGGERS)]
    b.post(f"{base}/register/{ids['period']}/pay/refresh")
    rows = list(csv.reader(io.StringIO(admin.get(f"{base}/admin/registration/payments.csv").content
                                       .decode("utf-8-sig"))))
    assert rows[1][4] == "paid" and rows[1][-3:] == ["TRADE_SUCCESS", "160.00", "yes"]
    book = admin.get(f"{base}/admin/registration/payments.xlsx")
    assert book.status_code == 200 and book.content[:2] == b"PK"
    xml = zipfile.ZipFile(io.BytesIO(book.content)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and out_trade_no in xml
    assert "'" + hostile in xml or "'" + hostile.replace('"', "&quot;") in xml
    assert admin.get(f"{base}/admin/registration/payments.csv?day=yesterday").status_code == 422


def test_money_for_fees_that_no_longer_match_the_subjects_pays_nothing(paying):
    """An order opened for two subjects, paid after the candidate changed to one: the money is
    kept for the site to refund and no subject counts as paid (the other way round, an order
    for fewer subjects than chosen, would pay for subjects never paid for)."""
    from bridge.extensions import transaction
    from bridge.services.registration import registrations

    app, base, b, ids = paying
    _pay(base, b, ids, lose=True)                                      # 160.00 paid at the provider
    with app.app_context(), transaction() as s:
        reg = s.get(Registration, ids["registration"])
        registrations.choose_subjects(s, reg, reg.site_id, [reg.subjects[0].offer_id])
    refreshed = b.post(f"{base}/register/{ids['period']}/pay/refresh")
    assert "will refund it" in refreshed.text
    assert _status(app, ids) == ("submitted", ["chosen"]) and _payments(app) == 0
    from bridge.extensions import db
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "payment.mismatch")) == 1
