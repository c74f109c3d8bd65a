"""L2: the admin registers a platform by LTI Dynamic Registration against the sandbox (the
LMS opens the tool's URL in a panel; the tool fetches the OpenID configuration, registers,
and closes the panel), or by hand with `exambridge platform add`, or on the admin page;
each registration then carries a real launch."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from tests.fixtures.cli import run_cli
from tests.fixtures.servers import serve_wsgi
from tests.fixtures.world import STUDENT1, TEACHER, Browser, forms_of


@pytest.fixture
def bridge_and_lms(make_app, sandbox_lms):
    # open only because an operator says so; the sandbox listens on loopback
    app = make_app(DYNAMIC_REGISTRATION="open", REGISTRATION_ALLOW_NETWORKS="127.0.0.0/8 ::1")
    with serve_wsgi(app) as bridge:
        yield app, sandbox_lms, bridge.url


def _iframe_src(html: str) -> str:
    return unescape(re.search(r'<iframe id="registration" src="([^"]+)"', html).group(1))


def _platforms(app):
    from bridge.extensions import db
    from lms_plugin.models import Platform

    with app.app_context():
        return [(p.issuer, p.client_id, [d.deployment_id for d in p.deployments], p.registered_by)
                for p in db.session.scalars(select(Platform)).all()]


def _register_dynamically(lms, tool_url: str) -> tuple[Browser, object]:
    admin = Browser()
    panel = admin.http.post(f"{lms.url}/admin/tools/register", data={"tool_url": tool_url})
    assert panel.status_code == 200
    confirm = admin.get(_iframe_src(panel.text))                     # the LMS's panel loads the tool
    return admin, confirm


@pytest.mark.req("L2", "L1")
def test_dynamic_registration_against_the_sandbox_then_launch(bridge_and_lms):
    app, lms, bridge = bridge_and_lms
    admin, confirm = _register_dynamically(lms, f"{bridge}/lti/register")
    assert confirm.status_code == 200 and "Register ExamBridge with this LMS?" in confirm.text \
        or "要在此 LMS 中注册 ExamBridge 吗？" in confirm.text
    form = forms_of(confirm.text)[0]
    done = admin.post(bridge + form["action"], data=form["fields"])
    assert done.status_code == 200 and "lti_register_done.js" in done.text
    client_id = re.search(r'data-client-id="([^"]+)"', done.text).group(1)

    (tool,) = [t for t in lms.state.tools if t.client_id == client_id]
    assert tool.login_url == f"{bridge}/lti/login" and f"{bridge}/lti/deeplink" in tool.redirect_uris
    assert tool.jwks_url == f"{bridge}/lti/jwks"
    assert _platforms(app) == [(lms.url, client_id, [tool.deployment_id], "dynamic")]

    # The registration token worked once: replaying the confirmation fails and stores nothing.
    again = admin.post(bridge + form["action"], data=form["fields"])
    assert again.status_code == 400 and 'data-error-code="registration_refused"' in again.text
    assert len(_platforms(app)) == 1

    activity = lms.state.add_activity(client_id, "Registered dynamically")
    page = Browser().get(lms.state.launch_url(STUDENT1, activity.id))
    assert page.status_code == 200 and page.url.startswith(bridge + "/course/") and "Sam Student" in page.text


@pytest.mark.req("L2")
def test_ticket_mode_requires_a_one_time_url(make_app, sandbox_lms):
    from bridge.extensions import transaction
    from lms_plugin.services import registration

    app = make_app(DYNAMIC_REGISTRATION="ticket", REGISTRATION_ALLOW_NETWORKS="127.0.0.0/8 ::1")
    with serve_wsgi(app) as bridge:
        _admin, refused = _register_dynamically(sandbox_lms, f"{bridge.url}/lti/register")
        assert refused.status_code == 403 and "one-time registration URL" in refused.text
        with app.app_context(), transaction() as s:
            url = registration.issue_ticket_url(s, bridge.url, hours=1, actor="test")
        admin, confirm = _register_dynamically(sandbox_lms, url)
        form = forms_of(confirm.text)[0]
        assert form["fields"]["ticket"]
        done = admin.post(bridge.url + form["action"], data=form["fields"])
        assert done.status_code == 200 and "lti_register_done.js" in done.text
        # the ticket is spent: a second registration with it is refused
        _admin2, spent = _register_dynamically(sandbox_lms, url)
        assert spent.status_code == 403
    assert len(_platforms(app)) == 1


@pytest.mark.req("L2")
def test_registration_refuses_a_configuration_from_another_host(bridge_and_lms):
    app, lms, bridge = bridge_and_lms
    b = Browser()
    # the issuer says http://localhost:PORT; fetched as 127.0.0.1, the hosts differ
    config = lms.url.replace("localhost", "127.0.0.1") + "/mod/lti/openid-configuration.php"
    resp = b.http.post(f"{bridge}/lti/register", data={"openid_configuration": config, "registration_token": "x"})
    assert resp.status_code == 400 and 'data-error-code="issuer_host_mismatch"' in resp.text
    unreachable = b.http.post(f"{bridge}/lti/register", data={"openid_configuration": "http://127.0.0.1:9/x"})
    assert unreachable.status_code == 400 and 'data-error-code="configuration_unavailable"' in unreachable.text
    assert _platforms(app) == []


@pytest.mark.req("L2", "L1")
def test_platform_added_by_cli_launches(app, sandbox_lms):
    """`exambridge platform add` with the documented flags, as a real process on the same
    database; then a teacher launches through that registration."""
    with serve_wsgi(app) as bridge:
        tool = sandbox_lms.state.register_tool(
            name="ExamBridge", login_url=f"{bridge.url}/lti/login", launch_url=f"{bridge.url}/lti/launch",
            deeplink_url=f"{bridge.url}/lti/deeplink", jwks_url=f"{bridge.url}/lti/jwks")
        lms = sandbox_lms.url
        args = ["platform", "add", "--issuer", lms, "--client-id", tool.client_id,
                "--deployment-id", tool.deployment_id, "--auth-login-url", f"{lms}/mod/lti/auth.php",
                "--auth-token-url", f"{lms}/mod/lti/token.php", "--jwks-url", f"{lms}/mod/lti/certs.php",
                "--name", "Sandbox"]
        out = run_cli(app, *args)
        assert out.returncode == 0, out.stderr
        assert f"client {tool.client_id}" in out.stdout
        listed = run_cli(app, "platform", "list")
        assert lms in listed.stdout and "by=cli" in listed.stdout
        dup = run_cli(app, *args)
        assert dup.returncode != 0 and "already registered" in dup.stderr and "Traceback" not in dup.stderr
        bad = run_cli(app, *args[:3], "not-a-url", *args[4:])
        assert bad.returncode != 0 and "issuer must be an http(s) URL" in bad.stderr

        activity = sandbox_lms.state.add_activity(tool.client_id, "CLI-registered")
        page = Browser().get(sandbox_lms.state.launch_url(TEACHER, activity.id))
        assert page.status_code == 200 and page.url.startswith(bridge.url + "/course/")


@pytest.mark.req("L2")
def test_admin_page_registers_and_disables_a_platform(app, sandbox_lms):
    from bridge.extensions import transaction
    from bridge.services.people import accounts

    with app.app_context(), transaction() as s:
        accounts.create_admin(s, username="root", password="correct horse battery", actor="test")
    with serve_wsgi(app) as bridge:
        tool = sandbox_lms.state.register_tool(
            name="ExamBridge", login_url=f"{bridge.url}/lti/login", launch_url=f"{bridge.url}/lti/launch",
            jwks_url=f"{bridge.url}/lti/jwks")
        admin = Browser()
        assert admin.http.get(f"{bridge.url}/admin/platforms", allow_redirects=False).status_code == 302
        wrong = admin.post(f"{bridge.url}/admin/login", data={"username": "root", "password": "nope"})
        assert wrong.status_code == 401
        admin.post(f"{bridge.url}/admin/login", data={"username": "root", "password": "correct horse battery"})
        page = admin.get(f"{bridge.url}/admin/platforms")
        assert "No LMS is registered yet" in page.text or "尚未注册任何 LMS" in page.text
        lms = sandbox_lms.url
        bad = admin.post(f"{bridge.url}/admin/platforms", data={"issuer": "moodle", "client_id": ""})
        assert bad.status_code == 422 and "field-error" in bad.text
        added = admin.post(f"{bridge.url}/admin/platforms", data={
            "name": "Sandbox", "issuer": lms, "client_id": tool.client_id, "deployment_ids": tool.deployment_id,
            "auth_login_url": f"{lms}/mod/lti/auth.php", "auth_token_url": f"{lms}/mod/lti/token.php",
            "jwks_url": f"{lms}/mod/lti/certs.php"})
        assert added.status_code == 200 and tool.client_id in added.text
        activity = sandbox_lms.state.add_activity(tool.client_id, "Admin-registered")
        assert Browser().get(sandbox_lms.state.launch_url(TEACHER, activity.id)).url.startswith(bridge.url + "/course/")

        (pid,) = [row[0] for row in _ids(app)]
        admin.post(f"{bridge.url}/admin/platforms/{pid}/active", data={"active": "0"})
        refused = Browser().get(sandbox_lms.state.launch_url(TEACHER, activity.id))
        assert refused.status_code == 400 and 'data-error-code="platform_disabled"' in refused.text
        audit = admin.get(f"{bridge.url}/admin/audit?action=platform")
        assert "platform.add" in audit.text and "platform.disable" in audit.text


def _ids(app):
    from bridge.extensions import db
    from lms_plugin.models import Platform

    with app.app_context():
        return db.session.execute(select(Platform.id)).all()
