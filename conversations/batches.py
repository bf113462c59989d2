"""The message writer thread's batches, each one transaction on the raw DB-API cursor.

Appending messages is the hot path of the gateway: every message a customer
or agent sends passes through here before it is acknowledged. SQLAlchemy
Core costs tens of microseconds of Python per row (parameters, type
processing, result wrapping), and this thread shares the GIL with the event
loop. So a batch talks to the driver directly: one lookup for idempotency
keys, then one statement that inserts the rows and advances ``seq`` (on
SQLite two, insert and update), on a connection the thread holds for its
whole life (a pool checkout and SQLAlchemy's transaction bookkeeping cost
as much as a small batch). Values go through the column types' own bind
and result processors, so these rows read back through Core exactly like
rows Core wrote, and the other way round.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import ColumnElement, Dialect, Engine
from sqlalchemy.pool import PoolProxiedConnection

from conversations import schema as t
from conversations.engine import json_text
from conversations.errors import ConversationClosed, ConversationNotFound, StoreError
from conversations.ids import new_id
from conversations.lifecycle import ConversationStatus
from conversations.models import JSON, AppendRequest, AppendResult, Message

Key = tuple[str, ...]
MessageFromRow = Callable[[Any], Message]
SentimentRecord = tuple[str, str, float, str, JSON]
"""message id, conversation id, score, label, the conversation's rolling summary"""

_INSERT_COLUMNS = (
    "id",
    "conversation_id",
    "seq",
    "sender_role",
    "sender_id",
    "sender_name",
    "client_msg_id",
    "channel",
    "external_id",
    "text",
    "attributes",
    "created_at",
)
_PG_TYPES = ("text", "text", "int4", "text", "text", "text", "text", "text", "text", "text", "json")
"""PostgreSQL types of ``_INSERT_COLUMNS`` but the last (``created_at``, the
batch's one time), in order."""
_CLIENT_KEY = ("conversation_id", "sender_id", "client_msg_id")
_EXTERNAL_KEY = ("channel", "external_id")
"""The columns of the unique constraints that make appends idempotent."""
_CLOSED = ConversationStatus.CLOSED.value
T = TypeVar("T")


def _keys(req: AppendRequest) -> list[Key]:
    """The idempotency keys of a request: a client's own id for its message
    (per conversation and sender; a request without a sender has none) and a
    channel's id for an inbound one."""
    out: list[Key] = []
    if req.client_msg_id is not None and req.sender_id is not None:
        out.append(("c", req.conversation_id, req.sender_id, req.client_msg_id))
    if req.external_id is not None:
        out.append(("x", req.channel, req.external_id))
    return out


class _Sql:
    """The statements in the driver's placeholder style, and the column types'
    bind processors for the values the driver cannot take as they are."""

    def __init__(self, dialect: Dialect) -> None:
        self.postgres = dialect.name == "postgresql"
        mark = "%s" if self.postgres else "?"
        self._row = f"({', '.join([mark] * len(_INSERT_COLUMNS))})"
        self._insert = f"INSERT INTO messages ({', '.join(_INSERT_COLUMNS)}) VALUES "
        values = ", ".join(_pg_value(f"e->>{i}", kind) for i, kind in enumerate(_PG_TYPES))
        self._write_pg = (
            f"WITH stored AS (INSERT INTO messages ({', '.join(_INSERT_COLUMNS)}) "
            f"SELECT {values}, %s FROM jsonb_array_elements(%s::jsonb) AS e) "
            "UPDATE conversations SET last_seq = (v->>1)::int4, updated_at = %s "
            "FROM jsonb_array_elements(%s::jsonb) AS v WHERE conversations.id = v->>0"
        )
        """On PostgreSQL the rows and the new ``last_seq`` go in one statement,
        each as one JSON document: one round trip and one plan, where
        ``executemany`` (even pipelined) executes a statement per row. The
        driver builds array parameters element by element in Python, which
        cost a sixth of the gateway's busy time; orjson encodes a batch in
        microseconds."""
        self.stamp = _processor(t.messages.c.created_at, dialect)
        self.as_json = json_text if self.postgres else _processor(t.messages.c.attributes, dialect)
        """PostgreSQL: the text of the JSON, which goes inside the batch's document."""
        self.summary_json = _processor(t.conversations.c.sentiment, dialect)
        self.score = (
            f"UPDATE messages SET sentiment_score = {mark}, sentiment_label = {mark} "
            f"WHERE id = {mark}"
        )
        self.summary = f"UPDATE conversations SET sentiment = {mark} WHERE id = {mark}"
        self.columns = [c.name for c in t.messages.c]
        self.results = {
            c.name: process
            for c in (t.messages.c.created_at, t.messages.c.attributes)
            if (process := c.type.dialect_impl(dialect).result_processor(dialect, None))
        }
        """Drivers return the other columns as the store reads them."""

    def messages(self, ids: Sequence[str]) -> tuple[str, Sequence[Any]]:
        columns = ", ".join(self.columns)
        if self.postgres:
            return f"SELECT {columns} FROM messages WHERE id = ANY(%s)", [list(ids)]
        marks = ", ".join("?" * len(ids))
        return f"SELECT {columns} FROM messages WHERE id IN ({marks})", ids

    def lock(self, cursor: Any, ids: Sequence[str]) -> Callable[[], dict[str, list[Any]]]:
        """Ask for ``id -> [last_seq, status]`` of the batch's conversations;
        the answer is read by calling what this returns (on PostgreSQL after
        the next statements have gone out with it)."""
        if self.postgres:
            # Lock in id order so that two nodes writing overlapping batches
            # cannot deadlock; the lock also serialises their seq numbers.
            cursor.execute(
                "SELECT id, last_seq, status FROM conversations WHERE id = ANY(ARRAY("
                "SELECT jsonb_array_elements_text(%s::jsonb))) ORDER BY id FOR UPDATE",
                [_document(ids)],
            )
            return lambda: {row[0]: [row[1], row[2]] for row in cursor.fetchall()}
        # One result row for the whole batch (see ``insert``).
        marks = ", ".join("?" * len(ids))
        cursor.execute(
            "SELECT json_group_array(json_array(id, last_seq, status)) "
            f"FROM conversations WHERE id IN ({marks})",
            ids,
        )
        state = {row[0]: [row[1], row[2]] for row in json.loads(cursor.fetchone()[0])}
        return lambda: state

    def write(
        self,
        cursor: Any,
        rows: Sequence[tuple[Any, ...]],
        values: Sequence[tuple[str, int]],
        stamp: Any,
    ) -> None:
        """Insert message rows and set each conversation's ``last_seq``."""
        if self.postgres:
            document = _document([row[:-1] for row in rows])
            cursor.execute(self._write_pg, [stamp, document, stamp, _document(values)])
            return
        self.insert(cursor, rows)
        self.advance(cursor, values, stamp)

    def insert(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert message rows (SQLite) as one statement: the driver lets go
        of the GIL around every step and must win it back from the event loop
        after each, so ``executemany`` (a step per row) kept the writer waiting
        on the loop for most of a batch."""
        cursor.execute(
            self._insert + ", ".join([self._row] * len(rows)),
            [value for row in rows for value in row],
        )

    def advance(self, cursor: Any, values: Sequence[tuple[str, int]], stamp: Any) -> None:
        """Set each conversation's ``last_seq`` (SQLite; one statement, as ``insert``)."""
        cursor.execute(
            f"WITH v(id, seq) AS (VALUES {', '.join(['(?, ?)'] * len(values))}) "
            "UPDATE conversations SET last_seq = v.seq, updated_at = ? FROM v "
            "WHERE conversations.id = v.id",
            [*(x for pair in values for x in pair), stamp],
        )

    def matching(
        self, columns: Sequence[str], values: Sequence[tuple[str, ...]]
    ) -> tuple[str, list[Any]]:
        """Ids of messages whose ``columns`` equal one of ``values``: one
        probe of the unique index on those columns per tuple (they drive the
        join)."""
        names = [f"k{i}" for i in range(len(columns))]
        on = " AND ".join(f"m.{c} = k.{n}" for c, n in zip(columns, names, strict=True))
        if self.postgres:
            keys = ", ".join(f"e->>{i} AS {n}" for i, n in enumerate(names))
            return (
                f"SELECT m.id FROM (SELECT {keys} FROM jsonb_array_elements(%s::jsonb) AS e) "
                f"AS k JOIN messages m ON {on}",
                [_document(values)],
            )
        row = f"({', '.join('?' * len(columns))})"
        return (
            f"WITH k({', '.join(names)}) AS (VALUES {', '.join([row] * len(values))}) "
            f"SELECT m.id FROM k CROSS JOIN messages m ON {on}",
            [v for key in values for v in key],
        )


def _pg_value(element: str, kind: str) -> str:
    return element if kind == "text" else f"({element})::{kind}"


def _document(values: Sequence[Any]) -> str:
    """A JSON array, for one ``jsonb`` parameter in place of column arrays."""
    return orjson.dumps(values).decode()


def _processor(column: ColumnElement[Any], dialect: Dialect) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process or (lambda value: value)


class WriterConnection:
    """The writer thread's own DB-API connection (checked out of ``engine``'s
    pool once, so its connect-time pragmas apply). Use from that thread only."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._raw: PoolProxiedConnection | None = None
        self._synchronous: Any = None
        """SQLite's ``synchronous`` setting of this connection, read once."""
        self.sql = _Sql(engine.dialect)
        self.dialect = engine.dialect
        self._pipeline: contextlib.ExitStack | None = None
        """Leaves the PostgreSQL pipeline ``run`` is in, if any."""

    def run(self, work: Callable[[Any], T], *, durable: bool = True, pipelined: bool = False) -> T:
        """``work(cursor)`` in one transaction: committed if it returns,
        rolled back if it raises. A connection found dead (the database
        restarted) is replaced and the work run once more, unless it died
        during the commit, when whether it committed is unknown.

        ``durable=False`` (SQLite) commits without an fsync: the commit
        survives the process dying, only a power cut may lose it. For
        bookkeeping beside the messages (scores, SLA clocks), so that their
        commits do not hold up the message batches queued behind them.

        ``pipelined`` (PostgreSQL): statements go out without waiting for
        the ones before, and the server's answers are waited for only when a
        result is fetched, at ``settle`` and at the commit. ``BEGIN`` goes with
        the first statement, the commit with the last: a message batch is
        two round trips rather than five. Each round trip costs the writer
        more than the database's work: the server process must be scheduled,
        then the thread must win the GIL back from the event loop. Row counts
        are not known in the pipeline: ``work`` calls ``settle`` first."""
        relax = not durable and not self.sql.postgres
        for attempt in (1, 2):
            raw = self._connection()
            driver: Any = raw.driver_connection
            cursor = driver.cursor()
            committing = False
            try:
                if relax:
                    self._relax(cursor)
                if not self.sql.postgres:
                    cursor.execute("BEGIN IMMEDIATE")
                    result = work(cursor)
                    committing = True
                    raw.commit()
                    return result
                with contextlib.ExitStack() as pipeline:
                    if pipelined:
                        pipeline.enter_context(driver.pipeline())
                        self._pipeline = pipeline
                    cursor.execute("BEGIN")
                    result = work(cursor)
                    committing = True
                    cursor.execute("COMMIT")
                return result
            except Exception as exc:
                lost = isinstance(exc, self.dialect.loaded_dbapi.Error) and (
                    self.dialect.is_disconnect(exc, raw.driver_connection, cursor)
                )
                try:
                    raw.rollback()
                except Exception:
                    lost = True
                if lost:
                    self.close(invalidate=True)
                if not lost or committing or attempt == 2:
                    raise
            finally:
                self._pipeline = None
                if relax:
                    with contextlib.suppress(Exception):
                        cursor.execute(f"PRAGMA synchronous={self._synchronous}")
                with contextlib.suppress(Exception):
                    cursor.close()
        raise AssertionError("unreachable")

    def _connection(self) -> PoolProxiedConnection:
        if self._raw is None:
            self._raw = self._engine.raw_connection()
            if self.sql.postgres:
                # Transactions are begun by ``run`` itself, so that BEGIN can
                # go out with the first statement.
                self._raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        return self._raw

    def settle(self) -> None:
        """Leave the pipeline, once every statement sent has been answered:
        from here on each statement is answered as it is sent, so its row
        count is known."""
        if self._pipeline is not None:
            self._pipeline.close()

    def _relax(self, cursor: Any) -> None:
        if self._synchronous is None:
            cursor.execute("PRAGMA synchronous")
            (self._synchronous,) = cursor.fetchone() or (2,)
        cursor.execute("PRAGMA synchronous=NORMAL")

    def close(self, *, invalidate: bool = False) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.invalidate() if invalidate else raw.close()


class BesideFailed(Exception):
    """Work riding along a message batch raised (its cause): the batch's
    transaction is rolled back, and the messages go again on their own."""


def append_batch(
    conn: WriterConnection,
    requests: Sequence[AppendRequest],
    now: datetime,
    read: MessageFromRow,
    beside: Sequence[Callable[[Any], Any]] = (),
) -> tuple[list[AppendResult | StoreError], list[Any]]:
    """Store ``requests`` in order, in one transaction, with ``beside``
    (other writes, each ``work(cursor)``) in the same transaction; returns
    the messages' results and the ``beside`` works' results.

    Each request gets the next ``seq`` of its conversation unless one of its
    keys is already stored (or earlier in the batch): then the stored message
    comes back marked ``duplicate``. Unknown or closed conversations come
    back as errors in the list; they do not fail the batch. A ``beside``
    work that raises fails the transaction as ``BesideFailed``.
    """
    sql = conn.sql

    def work(cursor: Any) -> tuple[list[AppendResult | StoreError], list[Any]]:
        results = messages(cursor)
        if beside:
            conn.settle()  # they read row counts
        done = []
        for other in beside:
            try:
                done.append(other(cursor))
            except Exception as exc:
                raise BesideFailed() from exc
        return results, done

    def messages(cursor: Any) -> list[AppendResult | StoreError]:
        conv_ids = sorted({r.conversation_id for r in requests})
        # On PostgreSQL the lock and the key check go out together (one
        # round trip); the check runs after the lock is granted, so it sees
        # a message another node committed under the same key meanwhile.
        locked = sql.lock(cursor, conv_ids)
        with contextlib.closing(cursor.connection.cursor()) as other:
            existing = _existing(other, sql, requests, read)
        state = locked()
        stored_at = sql.stamp(now)
        results: list[AppendResult | StoreError] = []
        rows: list[tuple[Any, ...]] = []
        for req in requests:
            key = _keys(req)
            known = next((existing[k] for k in key if k in existing), None)
            if known is not None:
                results.append(AppendResult(known, duplicate=True, origin=req.origin))
                continue
            conv = state.get(req.conversation_id)
            if conv is None:
                results.append(ConversationNotFound(req.conversation_id))
                continue
            if conv[1] == _CLOSED:
                results.append(ConversationClosed(req.conversation_id))
                continue
            conv[0] += 1
            message = Message(
                id=new_id("m"),
                conversation_id=req.conversation_id,
                seq=conv[0],
                sender_role=req.sender_role,
                sender_id=req.sender_id,
                sender_name=req.sender_name,
                text=req.text,
                channel=req.channel,
                created_at=now,
                client_msg_id=req.client_msg_id,
                attributes=req.attributes,
            )
            for k in key:
                existing[k] = message
            rows.append(
                (
                    message.id,
                    message.conversation_id,
                    message.seq,
                    message.sender_role,
                    message.sender_id,
                    message.sender_name,
                    message.client_msg_id,
                    message.channel,
                    req.external_id,
                    message.text,
                    sql.as_json(message.attributes),
                    stored_at,
                )
            )
            results.append(AppendResult(message, duplicate=False, origin=req.origin))
        if rows:
            sql.write(cursor, rows, [(c, state[c][0]) for c in {row[1] for row in rows}], stored_at)
        return results

    return conn.run(work, pipelined=True)


def score_batch(conn: WriterConnection, records: Sequence[SentimentRecord]) -> None:
    """Store message scores and, per conversation, the latest rolling summary."""
    sql = conn.sql

    def work(cursor: Any) -> None:
        cursor.executemany(sql.score, [(score, label, m) for m, _, score, label, _ in records])
        latest = {cid: summary for _, cid, _, _, summary in records}
        cursor.executemany(
            sql.summary, [(sql.summary_json(summary), cid) for cid, summary in latest.items()]
        )

    conn.run(work, durable=False)


def _existing(
    cursor: Any, sql: _Sql, requests: Sequence[AppendRequest], read: MessageFromRow
) -> dict[Key, Message]:
    """Messages already stored under any of the requests' keys (rare: only
    retries and redelivered webhooks find anything)."""
    ids: list[str] = []
    keys = sorted({k for r in requests for k in _keys(r)})
    for kind, columns in (("c", _CLIENT_KEY), ("x", _EXTERNAL_KEY)):
        values = [k[1:] for k in keys if k[0] == kind]
        if values:
            cursor.execute(*sql.matching(columns, values))
            ids += [row[0] for row in cursor.fetchall()]
    if not ids:
        return {}
    found: dict[Key, Message] = {}
    cursor.execute(*sql.messages(ids))
    for values in cursor.fetchall():
        row = _Row(dict(zip(sql.columns, values, strict=True)))
        for name, process in sql.results.items():
            row._mapping[name] = process(row._mapping[name])
        message = read(row)
        m = row._mapping
        if m["client_msg_id"] is not None:
            found[("c", m["conversation_id"], m["sender_id"], m["client_msg_id"])] = message
        if m["external_id"] is not None:
            found[("x", m["channel"], m["external_id"])] = message
    return found


@dataclass(frozen=True, slots=True)
class _Row:
    """A raw row shaped like SQLAlchemy's, for the store's row readers."""

    _mapping: dict[str, Any]
