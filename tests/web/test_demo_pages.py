"""Small things a first visitor sees: the icon browsers ask for, and a sign-in page whose
words are true both on a bridge set up by hand and in the demo (which prints its admin's
password when it starts)."""
from __future__ import annotations

import pytest

from bridge import demo
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import Browser


@pytest.mark.req("L6")
def test_the_favicon_is_served_and_linked(app):
    with serve_wsgi(app) as srv:
        b = Browser()
        icon = b.get(f"{srv.url}/favicon.ico")
        assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/vnd.microsoft.icon"
        assert icon.content[:4] == b"\0\0\1\0"  # an ICO file
        page = b.get(f"{srv.url}/admin/login")
        assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in page.text
        svg = b.get(f"{srv.url}/static/favicon.svg")
        assert svg.status_code == 200 and svg.text.startswith("<svg")


def _admin(app):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="root", password="correct horse battery", actor="test")


@pytest.mark.req("L2")
def test_the_sign_in_page_tells_where_accounts_come_from(make_app):
    app = make_app()
    _admin(app)
    with serve_wsgi(app) as srv:
        b = Browser()
        page = b.get(f"{srv.url}/admin/login")
        assert "exambridge admin create --username NAME" in page.text
        assert "no default password" not in page.text.lower() and 'id="demo-admin"' not in page.text
        wrong = b.post(f"{srv.url}/admin/login", data={"username": "root", "password": "wrong"})
        assert wrong.status_code == 401 and 'value="root"' in wrong.text  # the name typed stays


@pytest.mark.req("L2")
def test_in_the_demo_the_sign_in_page_names_the_demo_account(make_app, tmp_path):
    app = make_app(SANDBOX_ENABLED=True)
    demo._admin_password(demo.admin_password_file(app.instance_path).parent)  # what `make run` keeps and prints
    with serve_wsgi(app) as srv:
        page = Browser().get(f"{srv.url}/admin/login")
        assert 'id="demo-admin"' in page.text and "“admin”" in page.text and "make run" in page.text
