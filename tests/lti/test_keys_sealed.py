"""The tool's LTI signing key at rest (L1): sealed with the bridge's secret like the pack
keys, never a PEM private key in the database; the migration seals the clear rows an older
version left, and downgrade restores them; rotation and signing still work."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from alembic import command
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import create_engine, inspect, text

from bridge import clock
from bridge.migrate import alembic_config, head_revision, upgrade
from lms_plugin.core import keys as key_core
from lms_plugin.services import tool_keys
from tests.test_migrations import empty_db, revision  # noqa: F401  (the fixture: SQLite and PostgreSQL)

BEFORE = "c2d7e9a4f6b8"  # the last revision that kept the key in clear


def _raw_rows(url: str) -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM tool_keys"))]
    finally:
        engine.dispose()


def _columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("tool_keys")}
    finally:
        engine.dispose()


def _holds_no_private_key(row: dict) -> None:
    for value in row.values():
        blob = json.dumps(value, default=str)
        assert "PRIVATE KEY" not in blob, "a private key is stored in clear"
    assert '"d"' not in json.dumps(row["public_jwk"] if isinstance(row["public_jwk"], dict)
                                   else json.loads(row["public_jwk"]))


def _signs_and_verifies(pem: str, kid: str, published: list[dict]) -> None:
    token = jwt.encode({"alg": "RS256", "kid": kid}, {"iss": "tool", "n": 1}, key_core.load_private(pem, kid))
    assert jwt.decode(token, KeySet.import_key_set({"keys": published})).claims["n"] == 1


@pytest.mark.req("L1")
def test_the_database_holds_no_pem_private_key_and_the_key_still_signs(app, client, db_session):
    kids = [k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]]  # the first key is made here
    rows = _raw_rows(app.config["TEST_DATABASE_URL"])
    assert [r["kid"] for r in rows] == kids and "private_pem" not in rows[0]
    for row in rows:
        _holds_no_private_key(row)
    key = tool_keys.signing_key(db_session)
    pem = tool_keys.private_pem(key)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    _signs_and_verifies(pem, key.kid, tool_keys.published(db_session))
    # Sealed to this bridge's secret and to this kid: another secret does not open it.
    assert tool_keys.unseal("another secret", key.kid, key.private_sealed) is None
    assert tool_keys.unseal(app.config["SECRET_KEY"], "another-kid", key.private_sealed) is None
    with pytest.raises(tool_keys.ToolKeyUnavailable, match="SECRET_KEY"):
        tool_keys.private_pem(key, "another secret")


@pytest.mark.req("L1")
def test_rotation_makes_a_sealed_key_that_signs_after_activation(app, client, db_session):
    (old,) = [k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]]
    new = tool_keys.rotate(db_session, actor="test").kid
    db_session.commit()
    for row in _raw_rows(app.config["TEST_DATABASE_URL"]):
        _holds_no_private_key(row)
    try:
        clock.set_offset(tool_keys.ACTIVATION.total_seconds() + 1)
        key = tool_keys.signing_key(db_session)
        assert key.kid == new
        published = tool_keys.published(db_session)
        assert {k["kid"] for k in published} == {old, new} and all("d" not in k for k in published)
        _signs_and_verifies(tool_keys.private_pem(key), new, published)
    finally:
        clock.set_offset(0)


def _clear_row(url: str) -> tuple[str, str]:
    """A tool key as versions before the seal stored it: the PEM in ``private_pem``."""
    kid, pem, public = key_core.generate()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tool_keys (kid, private_pem, public_jwk, created_at) "
                              "VALUES (:kid, :pem, :jwk, :at)"),
                         {"kid": kid, "pem": pem, "jwk": json.dumps(public), "at": dt.datetime(2026, 12, 1)})
    finally:
        engine.dispose()
    return kid, pem


@pytest.mark.req("L1")
def test_the_migration_seals_clear_rows_and_downgrade_restores_them(empty_db):  # noqa: F811
    secret = "migration-" + uuid.uuid4().hex
    upgrade(empty_db, BEFORE)
    kid, pem = _clear_row(empty_db)

    upgrade(empty_db, secret_key=secret)
    assert revision(empty_db) == head_revision()
    assert "private_pem" not in _columns(empty_db)
    (row,) = _raw_rows(empty_db)
    _holds_no_private_key(row)
    assert tool_keys.unseal(secret, kid, row["private_sealed"]) == pem

    cfg = alembic_config(empty_db)
    cfg.attributes["secret_key"] = secret
    command.downgrade(cfg, BEFORE)
    assert "private_sealed" not in _columns(empty_db)
    assert [(r["kid"], r["private_pem"]) for r in _raw_rows(empty_db)] == [(kid, pem)]


@pytest.mark.req("L1")
def test_the_migration_reads_the_secret_like_the_app_and_stops_without_one(empty_db, tmp_path,  # noqa: F811
                                                                        monkeypatch):
    upgrade(empty_db, BEFORE)
    kid, pem = _clear_row(empty_db)
    for name in ("EXAMBRIDGE_SECRET_KEY", "EXAMBRIDGE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXAMBRIDGE_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("EXAMBRIDGE_ENV", "production")
    monkeypatch.setenv("EXAMBRIDGE_PUBLIC_URL", "https://exams.example.edu")
    with pytest.raises(RuntimeError, match="EXAMBRIDGE_SECRET_KEY is missing"):
        upgrade(empty_db)
    assert revision(empty_db) == BEFORE  # nothing changed: the key is still there, in clear
    assert [(r["kid"], r["private_pem"]) for r in _raw_rows(empty_db)] == [(kid, pem)]

    monkeypatch.setenv("EXAMBRIDGE_SECRET_KEY", "from-the-environment")
    upgrade(empty_db)
    (row,) = _raw_rows(empty_db)
    assert tool_keys.unseal("from-the-environment", kid, row["private_sealed"]) == pem
