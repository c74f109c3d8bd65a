"""Declarative base with named constraints, a timestamp mixin and two query helpers (no Flask:
models and services import this; ``transaction()`` is in ``bridge.extensions``)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bridge import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The contract between the group writer (bridge.runtime.writer) and the answer store
# (bridge.services.delivery.answer_store), both keys of a ``Connection.info``:
#: the writer's PostgreSQL transaction: "pending" (begun for SQLAlchemy, nothing sent yet),
#: "open" (BEGIN sent) or "committed" (the store sent COMMIT with its last statement).
PG_TX = "exambridge.pg_tx"
#: set by the writer while the batch's last grouped run works: a store whose final statement
#: ends the batch may send COMMIT with it and mark PG_TX "committed".
COMMIT_WITH_LAST_WRITE = "exambridge.commit_with_last_write"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow_naive)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):  # pragma: no cover - trivial
    """WAL and a busy timeout on every SQLite connection; foreign keys on."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def in_many(session, column, values: list[int]):
    """``column IN values`` for thousands of integers as one bound parameter: a JSON array
    read by ``json_each`` on SQLite, an array compared with ``= ANY`` on PostgreSQL. An
    ordinary ``in_()`` names one parameter per value, which costs SQLAlchemy several
    microseconds each (a broadcast to 5,000 kiosks: tens of milliseconds on the writer)."""
    import json

    from sqlalchemy import Integer, any_, bindparam, func, select
    from sqlalchemy.dialects.postgresql import ARRAY

    values = [int(v) for v in values]
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(Integer)))
    each = func.json_each(json.dumps(values)).table_valued("value")
    return column.in_(select(each.c.value))


def fetch_rows(session, stmt) -> list[tuple]:
    """The rows of ``stmt`` (integer and text columns only) as tuples. On SQLite they come
    back as one JSON text (``json_group_array``): pysqlite releases the GIL for every row it
    steps, and on the group writer's thread, while the gevent loop is busy, each re-take
    waits for the loop, so reading thousands of rows row by row there is slow. PostgreSQL
    runs the statement as it is."""
    import json

    from sqlalchemy import func, select

    if session.get_bind().dialect.name != "sqlite":
        return [tuple(row) for row in session.execute(stmt)]
    inner = stmt.subquery()
    packed = session.scalar(select(func.json_group_array(func.json_array(*inner.c))))
    return [tuple(row) for row in json.loads(packed or "[]")]
