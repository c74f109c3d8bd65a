"""The few statements one batch of answer events costs, per database (issue 3, Performance).

``answers.append_many`` decides what to store in Python; this module reads and writes it in
a constant number of statements per batch, however many events the batch holds:

1. the batch's attempts (status, epoch, deadline; locked ``FOR UPDATE`` on PostgreSQL) and
   their writers' heads (``answer_heads``);
2. only for events whose seq is not above their writer's highest stored seq (a retry or a
   late event): the stored events under those keys;
3. one INSERT of all new events, one upsert of the heads that moved.

Why set-based statements with the rows passed as one JSON text: on SQLite the batch runs on the writer's worker thread, and Python's
``sqlite3`` releases and re-takes the GIL around every step of every statement. While the
gevent loop is busy, each re-take waits up to the interpreter's switch interval, so a
statement per event (or ``executemany``, a step per row) made the thread, not the disk, the
bottleneck. Here a batch is about six steps. On PostgreSQL every statement is a round trip
that yields to the loop; fewer of them is cheaper there too.

Stored values keep the formats SQLAlchemy's column types read back: on SQLite a datetime is
text ``YYYY-MM-DD HH:MM:SS.ffffff`` and a JSON column is the JSON text; the response is
stored exactly as ``json.dumps`` wrote it (SQLite's JSON functions only carry it as a string).
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable, NamedTuple

from sqlalchemy.engine import Connection

from bridge.db import WriterTransaction


class AttemptState(NamedTuple):
    status: str
    epoch: int
    deadline_at: dt.datetime | None


class Head(NamedTuple):
    max_seq: int
    head: str


class Stored(NamedTuple):
    seq: int
    payload_hash: str
    hash: str
    server_time: dt.datetime
    status: str


class SubmitState(NamedTuple):
    status: str
    submitted_at: dt.datetime | None
    submit_reason: str
    starts_at: dt.datetime | None      # the session's start
    early_submit_minutes: int | None   # the paper's early-submission time


class NewEvent(NamedTuple):
    attempt_id: int
    writer: str
    seq: int
    question_id: int
    response_json: str
    payload_hash: str
    epoch: int
    client_time: float | None
    server_time: dt.datetime
    status: str
    prev_hash: str | None
    hash: str


_INSERT_COLUMNS = ("attempt_id, writer, seq, question_id, response, payload_hash, epoch, client_time, "
                   "server_time, status, prev_hash, hash")


def _sqlite_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse_time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


class _Sqlite:
    LOAD = ("SELECT json_group_array(json_array(a.id, a.status, a.epoch, a.deadline_at, h.writer, h.max_seq, h.head)) "
            "FROM attempts a LEFT JOIN answer_heads h ON h.attempt_id = a.id "
            "WHERE a.id IN (SELECT value FROM json_each(?))")
    STORED = ("SELECT json_group_array(json_array(e.attempt_id, e.writer, e.seq, e.payload_hash, e.hash, "
              "e.server_time, e.status)) "
              "FROM json_each(?) k CROSS JOIN answer_events e "
              "ON e.attempt_id = json_extract(k.value, '$[0]') AND e.writer = json_extract(k.value, '$[1]') "
              "AND e.seq = json_extract(k.value, '$[2]')")
    INSERT = (f"INSERT INTO answer_events ({_INSERT_COLUMNS}) SELECT "
              + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(12)) + " FROM json_each(?)")
    HEADS = ("INSERT INTO answer_heads (attempt_id, writer, max_seq, head) SELECT json_extract(value, '$[0]'), "
             "json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]') "
             "FROM json_each(?) WHERE true "
             "ON CONFLICT (attempt_id, writer) DO UPDATE SET max_seq = excluded.max_seq, head = excluded.head")

    SUBMIT_LOAD = ("SELECT json_group_array(json_array(a.id, a.status, a.submitted_at, a.submit_reason, s.starts_at, "
                   "p.early_submit_minutes)) FROM attempts a JOIN exam_sessions s ON s.id = a.session_id "
                   "LEFT JOIN papers p ON p.exam_id = a.exam_id WHERE a.id IN (SELECT value FROM json_each(?))")
    MARK_SUBMITTED = ("UPDATE attempts SET status = 'submitted', submitted_at = ?, submit_reason = ? "
                      "WHERE id IN (SELECT value FROM json_each(?))")
    LOGS = ("INSERT INTO attempt_log (attempt_id, at, action, actor, address, detail) SELECT "
            "json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
            "json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]') FROM json_each(?)")

    @staticmethod
    def _rows(conn: Connection, sql: str, param: Any) -> list:
        text = conn.exec_driver_sql(sql, (json.dumps(param),)).scalar()
        return json.loads(text) if text else []

    def load(self, conn: Connection, attempt_ids: list[int]):
        attempts: dict[int, AttemptState] = {}
        heads: dict[tuple[int, str], Head] = {}
        for attempt_id, status, epoch, deadline, writer, max_seq, head in self._rows(conn, self.LOAD, attempt_ids):
            attempts[attempt_id] = AttemptState(status, epoch, _parse_time(deadline))
            if writer is not None:
                heads[(attempt_id, writer)] = Head(max_seq, head)
        return attempts, heads

    def stored(self, conn: Connection, keys: list[tuple[int, str, int]]) -> dict[tuple[int, str, int], Stored]:
        return {(a, w, s): Stored(s, ph, h, _parse_time(at), st)
                for a, w, s, ph, h, at, st in self._rows(conn, self.STORED, keys)}

    def append(self, conn: Connection, events: list[NewEvent], heads: Iterable[tuple[tuple[int, str], Head]]) -> None:
        rows = [[e.attempt_id, e.writer, e.seq, e.question_id, e.response_json, e.payload_hash, e.epoch,
                 e.client_time, _sqlite_time(e.server_time), e.status, e.prev_hash, e.hash] for e in events]
        conn.exec_driver_sql(self.INSERT, (json.dumps(rows, ensure_ascii=False),))
        moved = [[a, w, h.max_seq, h.head] for (a, w), h in heads]
        conn.exec_driver_sql(self.HEADS, (json.dumps(moved, ensure_ascii=False),))

    def load_for_submit(self, conn: Connection, attempt_ids: list[int]) -> dict[int, SubmitState]:
        return {a: SubmitState(status, _parse_time(at), reason or "", _parse_time(starts), early)
                for a, status, at, reason, starts, early in self._rows(conn, self.SUBMIT_LOAD, attempt_ids)}

    def mark_submitted(self, conn: Connection, attempt_ids: list[int], now: dt.datetime, reason: str) -> None:
        conn.exec_driver_sql(self.MARK_SUBMITTED, (_sqlite_time(now), reason, json.dumps(attempt_ids)))

    def insert_logs(self, conn: Connection, logs: list[dict]) -> None:
        rows = [[r["attempt_id"], _sqlite_time(r["at"]), r["action"], r["actor"], r["address"],
                 json.dumps(r["detail"], ensure_ascii=False)] for r in logs]
        conn.exec_driver_sql(self.LOGS, (json.dumps(rows, ensure_ascii=False),))


class _Postgres:
    # One round trip each: on the committer greenlet every round trip waits for a turn of
    # the loop, which under load is the batch's latency.
    LOAD = ("SELECT a.id, a.status, a.epoch, a.deadline_at, h.writer, h.max_seq, h.head "
            "FROM attempts a LEFT JOIN answer_heads h ON h.attempt_id = a.id WHERE a.id = ANY(%s) "
            "ORDER BY a.id FOR UPDATE OF a")  # one lock order for every worker: no deadlock between batches
    STORED = ("SELECT e.attempt_id, e.writer, e.seq, e.payload_hash, e.hash, e.server_time, e.status "
              "FROM unnest(%s::int[], %s::text[], %s::int[]) AS k(a, w, s) "
              "JOIN answer_events e ON e.attempt_id = k.a AND e.writer = k.w AND e.seq = k.s")
    # Rows go in as one JSON text (psycopg dumps a Python list element by element in Python,
    # json.dumps does it in C); the events and the heads in one statement.
    APPEND = (f"WITH events AS (INSERT INTO answer_events ({_INSERT_COLUMNS}) "
              "SELECT a, w, s, q, r::json, ph, ep, ct, st, stt, pv, h FROM json_to_recordset(%s::json) "
              "AS t(a int, w text, s int, q int, r text, ph text, ep int, ct float8, st timestamp, stt text, "
              "pv text, h text)) "
              "INSERT INTO answer_heads (attempt_id, writer, max_seq, head) "
              "SELECT a, w, m, h FROM json_to_recordset(%s::json) AS t(a int, w text, m int, h text) "
              "ON CONFLICT (attempt_id, writer) DO UPDATE SET max_seq = excluded.max_seq, head = excluded.head")

    def load(self, conn: Connection, attempt_ids: list[int]):
        attempts: dict[int, AttemptState] = {}
        heads: dict[tuple[int, str], Head] = {}
        for a, status, epoch, deadline, writer, max_seq, head in self._load_rows(conn, attempt_ids):
            attempts[a] = AttemptState(status, epoch, deadline)
            if writer is not None:
                heads[(a, writer)] = Head(max_seq, head)
        return attempts, heads

    def _load_rows(self, conn: Connection, attempt_ids: list[int]) -> list[tuple]:
        """The load, carrying the writer's BEGIN when the batch has sent nothing yet: one round
        trip instead of two (``bridge.runtime.writer.make_engine``). The ids are whole numbers written
        into the statement, as the simple query protocol that allows two statements needs."""
        if not WriterTransaction(conn).claim_begin():
            return list(conn.exec_driver_sql(self.LOAD, (attempt_ids,)))
        ids = "{" + ",".join(str(int(a)) for a in attempt_ids) + "}"
        try:
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.execute("BEGIN; " + self.LOAD.replace("%s", f"'{ids}'::int[]"))
                cursor.nextset()
                return cursor.fetchall()
        except Exception as exc:
            _invalidate_if_gone(conn, exc)
            raise

    def stored(self, conn: Connection, keys: list[tuple[int, str, int]]) -> dict[tuple[int, str, int], Stored]:
        columns = [list(column) for column in zip(*keys)]
        return {(a, w, s): Stored(s, ph, h, at, st)
                for a, w, s, ph, h, at, st in conn.exec_driver_sql(self.STORED, tuple(columns))}

    def append(self, conn: Connection, events: list[NewEvent], heads: Iterable[tuple[tuple[int, str], Head]]) -> None:
        rows = [{"a": e.attempt_id, "w": e.writer, "s": e.seq, "q": e.question_id, "r": e.response_json,
                 "ph": e.payload_hash, "ep": e.epoch, "ct": e.client_time, "st": e.server_time.isoformat(),
                 "stt": e.status, "pv": e.prev_hash, "h": e.hash} for e in events]
        moved = [{"a": a, "w": w, "m": h.max_seq, "h": h.head} for (a, w), h in heads]
        values = (json.dumps(rows, ensure_ascii=False), json.dumps(moved, ensure_ascii=False))
        tx = WriterTransaction(conn)
        if not tx.may_commit_with_this_write():
            conn.exec_driver_sql(self.APPEND, values)
            return
        # The batch's last write: the COMMIT goes with it, one round trip instead of two. Two
        # statements need the simple query protocol, so the JSON texts are bound client-side
        # as quoted literals (psycopg.sql.Literal).
        from psycopg import sql

        raw = conn.connection.driver_connection
        parts = self.APPEND.split("%s")
        text = parts[0] + sql.Literal(values[0]).as_string(raw) + parts[1] + sql.Literal(values[1]).as_string(raw) \
            + parts[2] + "; COMMIT"
        try:
            with raw.cursor() as cursor:
                cursor.execute(text)
        except Exception as exc:
            _invalidate_if_gone(conn, exc)
            raise
        tx.committed()  # the writer's commit sends nothing more

    SUBMIT_LOAD = ("SELECT a.id, a.status, a.submitted_at, a.submit_reason, s.starts_at, p.early_submit_minutes "
                   "FROM attempts a JOIN exam_sessions s ON s.id = a.session_id "
                   "LEFT JOIN papers p ON p.exam_id = a.exam_id WHERE a.id = ANY(%s) ORDER BY a.id FOR UPDATE OF a")
    MARK_SUBMITTED = ("UPDATE attempts SET status = 'submitted', submitted_at = %s, submit_reason = %s "
                      "WHERE id = ANY(%s)")
    LOGS = ("INSERT INTO attempt_log (attempt_id, at, action, actor, address, detail) "
            "SELECT a, t, ac, w, ad, d FROM json_to_recordset(%s::json) "
            "AS x(a int, t timestamp, ac text, w text, ad text, d json)")

    def load_for_submit(self, conn: Connection, attempt_ids: list[int]) -> dict[int, SubmitState]:
        return {a: SubmitState(status, at, reason or "", starts, early)
                for a, status, at, reason, starts, early in conn.exec_driver_sql(self.SUBMIT_LOAD, (attempt_ids,))}

    def mark_submitted(self, conn: Connection, attempt_ids: list[int], now: dt.datetime, reason: str) -> None:
        conn.exec_driver_sql(self.MARK_SUBMITTED, (now, reason, attempt_ids))

    def insert_logs(self, conn: Connection, logs: list[dict]) -> None:
        rows = [{"a": r["attempt_id"], "t": r["at"].isoformat(), "ac": r["action"], "w": r["actor"],
                 "ad": r["address"], "d": r["detail"]} for r in logs]
        conn.exec_driver_sql(self.LOGS, (json.dumps(rows, ensure_ascii=False),))


def _invalidate_if_gone(conn: Connection, exc: BaseException) -> None:
    """A statement sent past SQLAlchemy (the raw driver cursor) does not tell it that the
    connection died: without this the writer's retry would get the same dead connection."""
    import psycopg

    if isinstance(exc, psycopg.OperationalError) or conn.connection.driver_connection.closed:
        conn.invalidate(exc)


_STORES = {"sqlite": _Sqlite(), "postgresql": _Postgres()}


def store_for(conn: Connection):
    return _STORES[conn.dialect.name]
