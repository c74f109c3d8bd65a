"""Dynamic registration is closed by default and never makes the tool reach where it should
not: ticket mode everywhere unless an operator opens it (never in production); nothing
fetched on a GET; no loopback, private or link-local target unless allowed; https only in
production."""
from __future__ import annotations

import http.server
import socket
import threading

import pytest

from bridge import config
from bridge.errors import ConfigError
from lms_plugin.core.registration import TargetPolicy, check_addresses
from lms_plugin.errors import RegistrationError
from lms_plugin.services import registration

LOOPBACK = "127.0.0.0/8 ::1"


class _Hits(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).seen.append(self.path)
        self.send_response(404)
        self.end_headers()

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture
def lms_stub():
    """A loopback HTTP server that records every request reaching it."""
    _Hits.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Hits.seen
    server.shutdown()
    server.server_close()


def _client(app):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_csrf"] = "t"
    return client


@pytest.mark.req("L2")
def test_a_get_never_fetches_the_configuration(make_app, lms_stub):
    url, seen = lms_stub
    app = make_app(DYNAMIC_REGISTRATION="open", REGISTRATION_ALLOW_NETWORKS=LOOPBACK)
    page = _client(app).get("/lti/register", query_string={
        "openid_configuration": f"{url}/mod/lti/openid-configuration.php", "registration_token": "t"})
    assert page.status_code == 200 and 'id="register"' in page.text and "127.0.0.1" in page.text
    assert seen == []
    # the explicit confirmation does reach it (loopback allowed here)
    posted = _client(app).post("/lti/register", data={
        "openid_configuration": f"{url}/mod/lti/openid-configuration.php", "registration_token": "t"})
    assert posted.status_code == 400 and seen == ["/mod/lti/openid-configuration.php"]


@pytest.mark.req("L2")
@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/c", "http://localhost:{port}/c", "http://[::ffff:127.0.0.1]:{port}/c",
    "http://0.0.0.0:{port}/c", "http://2130706433:{port}/c",
])
def test_a_loopback_target_is_refused_unless_allowed(make_app, lms_stub, target):
    url, seen = lms_stub
    app = make_app(DYNAMIC_REGISTRATION="open")
    resp = _client(app).post("/lti/register", data={
        "openid_configuration": target.format(port=url.rsplit(":", 1)[1]), "registration_token": "t"})
    assert resp.status_code == 400 and 'data-error-code="private_address"' in resp.text
    assert seen == []


@pytest.mark.req("L2")
@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1",
                                     "224.0.0.1", "fe80::1%eth0"])
def test_non_public_addresses_are_refused(address):
    with pytest.raises(RegistrationError) as exc:
        check_addresses("lms.example.edu", [address], TargetPolicy())
    assert exc.value.reason == "private_address"


@pytest.mark.req("L2")
def test_every_address_of_a_name_is_checked_and_allowed_networks_pass(monkeypatch):
    def resolve(host, *args, **kw):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in ("93.184.215.14", "10.0.0.7")]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(RegistrationError) as exc:
        registration.check_target("https://lms.example.edu/c", TargetPolicy())
    assert exc.value.reason == "private_address" and "10.0.0.7" in exc.value.detail
    registration.check_target("https://lms.example.edu/c", TargetPolicy.from_settings("10.0.0.0/8", https_only=True))
    check_addresses("lms.example.edu", ["93.184.215.14", "2001:4860:4860::8888"], TargetPolicy())


@pytest.mark.req("L2")
def test_production_requires_https_targets(make_app):
    with pytest.raises(RegistrationError) as exc:
        registration.fetch_configuration("http://93.184.215.14/c", TargetPolicy(https_only=True))
    assert exc.value.reason == "https_required"
    app = make_app(ENV="production", PUBLIC_URL="https://exams.example.edu")
    resp = _client(app).post("/lti/register", data={"openid_configuration": "http://93.184.215.14/c"})
    assert resp.status_code == 403  # ticket mode: no ticket, nothing fetched
    assert app.config["EXAMBRIDGE_DYNAMIC_REGISTRATION"] == "ticket"


@pytest.mark.req("L2")
def test_a_ticketed_post_in_production_refuses_http(make_app):
    from bridge.extensions import transaction

    app = make_app(ENV="production", PUBLIC_URL="https://exams.example.edu")
    with app.app_context(), transaction() as s:
        ticket = registration.issue_ticket_url(s, "https://exams.example.edu", actor="test").split("ticket=")[1]
    resp = _client(app).post("/lti/register", data={"openid_configuration": "http://93.184.215.14/c",
                                                   "ticket": ticket})
    assert resp.status_code == 400 and 'data-error-code="https_required"' in resp.text


def _env(instance, **over):
    return {"EXAMBRIDGE_INSTANCE_PATH": str(instance), **{f"EXAMBRIDGE_{k}": v for k, v in over.items()}}


@pytest.mark.req("L2")
def test_ticket_mode_is_the_default_everywhere_and_production_refuses_open(tmp_path):
    for env in ("development", "testing"):
        assert config.load(environ=_env(tmp_path, ENV=env))["DYNAMIC_REGISTRATION"] == "ticket"
    assert config.load(environ=_env(tmp_path, DYNAMIC_REGISTRATION="open"))["DYNAMIC_REGISTRATION"] == "open"
    production = _env(tmp_path, ENV="production", DATABASE_URL="postgresql://u@h/db", SECRET_KEY="s" * 64,
                      PUBLIC_URL="https://exams.example.edu", DYNAMIC_REGISTRATION="open")
    with pytest.raises(ConfigError, match="DYNAMIC_REGISTRATION=open lets anyone register an LMS"):
        config.load(environ=production)
    with pytest.raises(ConfigError, match="REGISTRATION_ALLOW_NETWORKS"):
        config.load(environ=_env(tmp_path, REGISTRATION_ALLOW_NETWORKS="10.0.0.0/8 intranet"))
