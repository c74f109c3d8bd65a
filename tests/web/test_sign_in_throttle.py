"""Admin sign-in is slowed per address as well as per user name, with a wait that grows
with each failure in a row, kept in the database (so every worker agrees) and named on the
page; a known name is slowed, never locked out for good."""
from __future__ import annotations

import pytest

from bridge import clock
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser
from tests.web.test_accounts import _admin

PASSWORD = "correct horse battery"


def _try(b: Browser, base: str, username: str, password: str, address: str):
    b.http.headers["X-Forwarded-For"] = address
    return b.post(f"{base}/admin/login", data={"username": username, "password": password})


@pytest.mark.req("P16")
def test_one_address_guessing_many_names_is_slowed(make_app):
    app = make_app(PROXY_HOPS=1, LOGIN_ATTEMPTS=3)
    _admin(app)
    with serve_wsgi(app) as srv:
        b = Browser()
        answers = [_try(b, srv.url, f"guess{i}", "nope", "203.0.113.9").status_code for i in range(3)]
        assert answers == [401, 401, 401]
        slowed = _try(b, srv.url, "root", PASSWORD, "203.0.113.9")     # a fresh name, the same address
        assert slowed.status_code == 429 and "Try again in 30 seconds" in slowed.text
        assert slowed.headers["Retry-After"] == "30"
        assert _try(b, srv.url, "root", PASSWORD, "198.51.100.4").url.endswith("/admin/platforms")  # elsewhere: fine

        waits = [30]
        for step in range(4):                  # each failure past the free ones doubles the wait
            clock.set_offset(clock.offset() + waits[-1])
            assert _try(b, srv.url, f"later{step}", "nope", "203.0.113.9").status_code == 401
            blocked = _try(b, srv.url, "root", PASSWORD, "203.0.113.9")
            assert blocked.status_code == 429
            waits.append(int(blocked.headers["Retry-After"]))
        assert waits == [30, 60, 120, 240, 480]
        assert "Try again in 8 minutes" in blocked.text


@pytest.mark.req("P16")
def test_one_name_guessed_from_many_addresses_is_slowed_not_locked(make_app):
    app = make_app(PROXY_HOPS=1, LOGIN_ATTEMPTS=3, LOGIN_WINDOW_MINUTES=15)
    _admin(app)
    with serve_wsgi(app) as srv:
        b = Browser()
        for i in range(12):                   # a new address each time: only the name's count holds them
            clock.set_offset(clock.offset() + 16 * 60)
            assert _try(b, srv.url, "root", "nope", f"203.0.113.{i + 1}").status_code == 401
        blocked = _try(b, srv.url, "root", PASSWORD, "198.51.100.4")
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) == 15 * 60   # the cap
        assert "Try again in 15 minutes" in blocked.text
        clock.set_offset(clock.offset() + 15 * 60)
        assert _try(b, srv.url, "root", PASSWORD, "198.51.100.4").url.endswith("/admin/platforms")
        # a success forgets the name's failures
        assert _try(b, srv.url, "root", "nope", "198.51.100.5").status_code == 401
        assert _try(b, srv.url, "root", PASSWORD, "198.51.100.5").url.endswith("/admin/platforms")


@pytest.mark.req("P16")
def test_the_counts_are_shared_by_every_worker(make_app):
    """Two apps on one database (two workers): failures at one slow the other."""
    app = make_app(PROXY_HOPS=1, LOGIN_ATTEMPTS=2)
    _admin(app)
    from bridge import create_app
    other = create_app({k[len("EXAMBRIDGE_"):]: v for k, v in app.config.items() if k.startswith("EXAMBRIDGE_")})
    with serve_wsgi(app) as one, serve_wsgi(other) as two:
        b = Browser()
        assert [_try(b, one.url, "root", "nope", "203.0.113.7").status_code for _ in range(2)] == [401, 401]
        assert _try(b, two.url, "root", PASSWORD, "198.51.100.1").status_code == 429
    with other.app_context():
        from bridge.extensions import db
        db.session.remove()
        db.engine.dispose()
