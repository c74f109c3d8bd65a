"""Models and migrations agree, migrations run both ways, and /readyz sees the schema.

Each test gets its own empty database on SQLite and on PostgreSQL. PostgreSQL runs when
tests/fixtures/apps.py selects it (CI=true, or a server answers); under CI=true a
PostgreSQL failure fails the run (the traceability plugin turns a skip into a failure).
"""
from __future__ import annotations

import uuid
from pprint import pformat

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import bridge.models  # noqa: F401  (registers every table on Base.metadata)
from bridge.db import Base
from bridge.migrate import alembic_config, head_revision, upgrade
from tests.fixtures.apps import BACKENDS, _pg_exec, _pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request, tmp_path):
    """The URL of a new, empty database (nothing migrated)."""
    if request.param not in BACKENDS:
        pytest.skip("PostgreSQL not selected: no server on EXAMBRIDGE_TEST_PG_URL and CI != true")
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"eb_mig_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schema_diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_and_migrations_agree(empty_db):
    upgrade(empty_db)
    diff = schema_diff(empty_db)
    assert diff == [], "models differ from the migrated schema; add a migration:\n" + pformat(diff)


def test_the_check_sees_a_missing_migration(empty_db):
    """The agreement test could fail: a table the migrations lack shows up in the diff."""
    upgrade(empty_db)
    from sqlalchemy import Column, Integer, MetaData, Table

    extra = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(extra)
    Table("not_migrated", extra, Column("id", Integer, primary_key=True))
    engine = create_engine(empty_db)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), extra)
    finally:
        engine.dispose()
    assert [d[0] for d in diff] == ["add_table"]
    assert diff[0][1].name == "not_migrated"


def test_upgrade_downgrade_upgrade(empty_db):
    head = head_revision()
    upgrade(empty_db)
    assert revision(empty_db) == head
    model_tables = set(Base.metadata.tables)
    assert model_tables <= tables(empty_db)

    command.downgrade(alembic_config(empty_db), "base")
    assert revision(empty_db) is None
    assert tables(empty_db) <= {"alembic_version"}, "downgrade to base left tables behind"

    upgrade(empty_db)
    assert revision(empty_db) == head
    assert schema_diff(empty_db) == []


def test_readyz_follows_the_schema(empty_db, tmp_path):
    from bridge import create_app
    from bridge.extensions import db

    app = create_app({"ENV": "testing", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "DATABASE_URL": empty_db, "SECRET_KEY": "readyz-" + uuid.uuid4().hex})
    client = app.test_client()
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json["migrations"] == "behind"
        assert behind.json["current"] is None and behind.json["head"] == head_revision()
        assert client.get("/healthz").status_code == 200  # alive, just not ready

        upgrade(empty_db)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.json
        assert ready.json["migrations"] == "current"
        assert ready.json["revision"] == head_revision()
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
