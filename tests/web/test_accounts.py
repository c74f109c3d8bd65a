"""Local sign-in for administrators: argon2, throttled, audited; sessions that expire; and
the tool behind a reverse proxy records the client's address."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge import clock
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser


def _admin(app, username="root", password="correct horse battery"):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username=username, password=password, actor="test")


def _login(b: Browser, base: str, password: str):
    return b.post(f"{base}/admin/login", data={"username": "root", "password": password})


@pytest.mark.req("P16")
def test_failed_sign_ins_are_throttled_per_username(make_app):
    app = make_app(LOGIN_ATTEMPTS=3)
    _admin(app)
    with serve_wsgi(app) as srv:
        b = Browser()
        assert [_login(b, srv.url, "wrong").status_code for _ in range(3)] == [401, 401, 401]
        blocked = _login(b, srv.url, "correct horse battery")            # even the right password
        assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
        clock.set_offset(16 * 60)
        try:
            assert _login(b, srv.url, "correct horse battery").url.endswith("/admin/platforms")
        finally:
            clock.set_offset(0)
    with app.app_context():
        from bridge.extensions import db
        from bridge.models.audit import AuditEntry
        outcomes = db.session.scalars(select(AuditEntry.outcome).where(AuditEntry.action == "account.login")).all()
    assert outcomes.count("refused") == 3 and outcomes.count("ok") == 1


@pytest.mark.req("L6")
def test_a_sign_in_expires(make_app):
    app = make_app(SESSION_HOURS=12)
    _admin(app)
    with serve_wsgi(app) as srv:
        b = Browser()
        assert _login(b, srv.url, "correct horse battery").url.endswith("/admin/platforms")
        clock.set_offset(13 * 3600)
        try:
            again = b.http.get(f"{srv.url}/admin/platforms", allow_redirects=False)
        finally:
            clock.set_offset(0)
        assert again.status_code == 302 and again.headers["Location"].endswith("/admin/login")


@pytest.mark.req("P16")
def test_behind_a_proxy_the_audit_records_the_client(make_app):
    app = make_app(PROXY_HOPS=1)
    _admin(app)
    with serve_wsgi(app) as srv:
        b = Browser()
        b.http.headers["X-Forwarded-For"] = "203.0.113.7"
        _login(b, srv.url, "wrong")
    with app.app_context():
        from bridge.extensions import db
        from bridge.models.audit import AuditEntry
        addr = db.session.scalars(select(AuditEntry.remote_addr).where(AuditEntry.action == "account.login")).one()
    assert addr == "203.0.113.7"


def test_locale_switch_goes_back_only_to_our_own_pages(lti_env):
    lti_env.launch()
    resp = lti_env.post("/locale/en", headers={"Referer": "https://evil.example/phish"}, allow_redirects=False)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    resp = lti_env.post("/locale/zh_CN", headers={"Referer": lti_env.bridge + "/course/1?x=1"}, allow_redirects=False)
    assert resp.headers["Location"] == "/course/1?x=1"
