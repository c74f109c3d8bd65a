"""The tool's keys (L1): made once, published in the JWKS; `exambridge keys rotate` signs
with a new key at once and keeps the old public key published for the grace period."""
from __future__ import annotations


import pytest

from bridge import clock
from lms_plugin.services import tool_keys
from tests.fixtures.cli import run_cli


def _kids(client) -> list[str]:
    resp = client.get("/lti/jwks")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    keys = resp.get_json()["keys"]
    assert all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["use"] == "sig" and "d" not in k for k in keys)
    return [k["kid"] for k in keys]


def _cli(app, *args: str):
    return run_cli(app, *args)


@pytest.mark.req("L1")
def test_first_key_is_made_once_and_published(app, client):
    first = _kids(client)
    assert len(first) == 1
    assert _kids(client) == first
    with app.app_context():
        from bridge.extensions import db
        assert tool_keys.ensure(db.engine) == first[0]


@pytest.mark.req("L1")
def test_rotation_publishes_first_signs_later_and_keeps_the_old_key_for_the_grace(app, client):
    (old,) = _kids(client)
    out = _cli(app, "keys", "rotate")
    assert out.returncode == 0, out.stderr
    assert "signs in 6 minutes" in out.stdout and "published for 7 days" in out.stdout
    kids = _kids(client)
    assert old in kids and len(kids) == 2
    new = next(k for k in kids if k != old)

    def signer():
        with app.app_context():
            from bridge.extensions import db
            return tool_keys.signing_key(db.session).kid

    assert signer() == old                       # platforms may still hold the old key set
    try:
        clock.set_offset(tool_keys.ACTIVATION.total_seconds() + 1)
        assert signer() == new and set(_kids(client)) == {old, new}
        clock.set_offset(8 * 86400)
        assert _kids(client) == [new] and signer() == new
    finally:
        clock.set_offset(0)


@pytest.mark.req("L2")
def test_admin_create_from_the_cli(app):
    ok = _cli(app, "admin", "create", "--username", "root", "--password", "a long enough secret")
    assert ok.returncode == 0 and "administrator root created" in ok.stdout, ok.stderr
    short = _cli(app, "admin", "create", "--username", "other", "--password", "short")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr and "Traceback" not in short.stderr
    taken = _cli(app, "admin", "create", "--username", "root", "--password", "another long secret")
    assert taken.returncode != 0 and "taken" in taken.stderr
