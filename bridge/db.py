"""Declarative base with named constraints, a timestamp mixin and two query helpers (no Flask:
models and services import this; ``transaction()`` is in ``bridge.extensions``)."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

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


class WriterTransaction:
    """The group writer's PostgreSQL transaction on one connection: the whole contract between
    the writer (``bridge.runtime.writer``), which owns BEGIN and COMMIT, and the answer store
    (``bridge.services.delivery.answer_store``), which may send the BEGIN with a batch's first
    statement and the COMMIT with its last, two round trips fewer per batch. Its state lives in
    ``Connection.info`` (it must follow the pooled connection), but only this class reads it.

    States: *pending* (begun for SQLAlchemy, nothing sent), *open* (BEGIN sent), *committed*
    (the store sent COMMIT with its last statement, so the writer's commit sends nothing)."""

    _STATE = "exambridge.writer_tx"
    _LAST_WRITE = "exambridge.writer_tx.last_write"

    def __init__(self, conn) -> None:
        self._info = conn.info  # a Connection's, or its pool entry's: the same dict

    # --- the writer's side
    def begin(self) -> None:
        """SQLAlchemy began a transaction: nothing is sent until the first statement."""
        self._info[self._STATE] = "pending"

    def forget(self) -> None:
        """A new or replaced connection carries no transaction."""
        self._info.pop(self._STATE, None)

    def end(self) -> bool:
        """The commit or rollback: whether a BEGIN was sent and the writer must finish it."""
        return self._info.pop(self._STATE, None) == "open"

    @contextmanager
    def last_write(self):
        """While the batch's last grouped run works: its final statement may carry the COMMIT."""
        self._info[self._LAST_WRITE] = True
        try:
            yield
        finally:
            self._info.pop(self._LAST_WRITE, None)

    # --- either side
    def claim_begin(self) -> bool:
        """Whether the caller's statement must carry the BEGIN (the first of the transaction);
        once claimed, it is open."""
        if self._info.get(self._STATE) != "pending":
            return False
        self._info[self._STATE] = "open"
        return True

    # --- the store's side
    def may_commit_with_this_write(self) -> bool:
        return bool(self._info.get(self._LAST_WRITE)) and self._info.get(self._STATE) == "open"

    def committed(self) -> None:
        """The store sent COMMIT with its statement."""
        self._info[self._STATE] = "committed"


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
