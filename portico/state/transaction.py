"""One invocation's unit of work: at most one Postgres transaction, bounded by a deadline,
and the queue messages it wrote to the outbox, to push once that transaction has committed.

Whoever watches the deadline (portico.runtime.deadline's watchdog) calls ``expire()`` when it
passes: that cancels the running statement and marks the unit so it can never commit. The lock
makes "expire" and "commit" mutually exclusive: either the work commits in full, or the client
gets a 504 and nothing was written.

Round trips are few: the statements deferred to the commit (outbox rows, the stored idempotent
response) travel with the COMMIT in one round trip (psycopg's pipeline mode), and so may a
caller's group of statements (`run`). What bounds a statement past the deadline is that cancel;
a pool's connections also carry their function's timeout as their statement_timeout
(portico.runtime.resources), set when they connect.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import Cursor
from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import DictRow
from psycopg_pool import ConnectionPool, PoolTimeout

from portico import problems, tracing
from portico.settings import Settings

Connection = psycopg.Connection[DictRow]
Statement = tuple[QueryNoTemplate, Params | None]
log = logging.getLogger("portico.state.transaction")


# The longest expire() waits for Postgres to cancel the statement running at the deadline.
CANCEL_SECONDS = 1.0


def unavailable() -> problems.ServiceUnavailable:
    return problems.ServiceUnavailable(
        "the database is busy or unreachable; try again shortly", headers={"Retry-After": "1"}
    )


def one_statement(statements: Sequence[Statement]) -> Statement:
    """Data-modifying statements as one: each a CTE of a statement that selects nothing (they
    see one snapshot, which the independent writes deferred to a commit do not mind). Postgres
    parses and plans one statement instead of several, and psycopg sends one."""
    if len(statements) == 1:
        return statements[0]
    ctes: list[str] = []
    params: list[Any] = []
    for n, (sql, each) in enumerate(statements):
        if not isinstance(sql, str) or isinstance(each, Mapping):
            raise TypeError("a deferred statement is SQL text with positional parameters")
        ctes.append(f"w{n} AS ({sql})")
        params.extend(each or ())
    return f"WITH {', '.join(ctes)} SELECT", params


def send(conn: Connection, statements: Sequence[Statement]) -> list[Cursor[DictRow]]:
    """One statement as it is; several in one round trip (psycopg's pipeline, which costs more
    CPU than it saves for one)."""
    if len(statements) == 1:
        return [conn.execute(*statements[0])]
    with conn.pipeline():
        return [conn.execute(sql, params) for sql, params in statements]


WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
NO_SPAN = contextlib.nullcontext()
QUERY_TEXT_LIMIT = 2000  # characters of SQL on a span: statements, not the data they carry


def statement_span(statements: Sequence[Statement]) -> tuple[str, tracing.Kind, dict[str, Any]]:
    """A round trip's span: `db <VERB>` of its first statement, its SQL (never its parameters,
    which hold the request's data)."""
    texts = [sql if isinstance(sql, str) else repr(sql) for sql, _ in statements]
    verb = texts[0].lstrip().split(None, 1)[0].upper() if texts and texts[0].strip() else "SQL"
    attributes: dict[str, Any] = {
        "db.system.name": "postgresql",
        "db.query.text": ";\n".join(texts)[:QUERY_TEXT_LIMIT],
    }
    if len(texts) > 1:
        attributes["db.operation.batch.size"] = len(texts)
    return f"db {verb}", "client", attributes


def commit_span(deferred: Sequence[Statement]) -> tuple[str, tracing.Kind, dict[str, Any]]:
    """The COMMIT's span; the statements deferred to it (outbox rows, a stored idempotent
    response) travel in the same round trip."""
    attributes: dict[str, Any] = {"db.system.name": "postgresql", "db.query.text": "COMMIT"}
    if deferred:
        attributes["portico.deferred_statements"] = len(deferred)
        attributes["db.query.text"] = statement_span(deferred)[2]["db.query.text"] + ";\nCOMMIT"
    return "db COMMIT", "client", attributes


def rows_written(statusmessage: str | None, rowcount: int) -> int:
    """The rows a statement wrote, from its command tag ("INSERT 0 2", "UPDATE 1")."""
    if not statusmessage or rowcount <= 0:
        return 0
    return rowcount if statusmessage.split(" ", 1)[0] in WRITES else 0


class Tally:
    """What a unit of work counts of its own doing, for the invocation's effects ledger
    (portico.runtime.effects.Effects, which adds what happens outside Postgres)."""

    __slots__ = ("committed", "messages", "rows_written", "sql_seconds", "statements")

    def __init__(self) -> None:
        self.statements = 0  # the handler's, not the runtime's own
        self.rows_written = 0
        self.sql_seconds = 0.0  # every round trip of the unit of work, its COMMIT included
        self.messages: dict[str, int] = {}  # queue -> messages published
        self.committed = False

    def published(self, queue: str) -> None:
        self.messages[queue] = self.messages.get(queue, 0) + 1


class DeadlineExceeded(Exception):
    """The invocation ran past its function's timeout_seconds."""


class Transaction:
    def __init__(
        self,
        pool: ConnectionPool[Connection],
        deadline: float,
        pool_wait_seconds: float = Settings.pool_wait_seconds,
        effects: Tally | None = None,
    ) -> None:
        self._pool_wait_seconds = pool_wait_seconds
        self._pool = pool
        self.deadline = deadline
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._expired = False
        self._committing = False
        self._deferred: list[Statement] = []
        self.pending_messages: list[tuple[str, Mapping[str, Any]]] = []
        self.effects = Tally() if effects is None else effects

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_deadline(self) -> None:
        if self._expired or self.remaining() <= 0:
            raise DeadlineExceeded("the function's timeout_seconds ran out")

    def execute(
        self, sql: QueryNoTemplate, params: Params | None = None, *, counted: bool = True
    ) -> Cursor[DictRow]:
        return self.run([(sql, params)], counted=counted)[0]

    def run(
        self, statements: Sequence[Statement], *, counted: bool = True
    ) -> list[Cursor[DictRow]]:
        """Run statements in one round trip, their results fetched (the first ones of the
        transaction take the connection from the pool). `counted`: the handler's statements,
        for the effects ledger (the runtime's own, such as its idempotency lookup, are not)."""
        self.check_deadline()
        started = time.perf_counter()
        try:
            with tracing.span(*statement_span(statements)) if tracing.enabled() else NO_SPAN:
                if self._conn is None:
                    cursors = self._first_statements(statements)
                else:
                    cursors = send(self._conn, statements)
        finally:
            self.effects.sql_seconds += time.perf_counter() - started
        if counted:
            self._count(cursors)
        return cursors

    def _count(self, cursors: list[Cursor[DictRow]]) -> None:
        effects = self.effects
        effects.statements += len(cursors)
        for cursor in cursors:
            effects.rows_written += rows_written(cursor.statusmessage, cursor.rowcount)

    def defer(self, statement: Statement) -> None:
        """A data-modifying statement (INSERT, UPDATE or DELETE, no RETURNING) to run just
        before the COMMIT, in the same round trip, if nothing fails first."""
        self._deferred.append(statement)

    def _first_statements(self, statements: Sequence[Statement]) -> list[Cursor[DictRow]]:
        # After a Postgres restart the pool still holds connections to the old server; the
        # first statement finds out at once. Drop such a one and take the next: nothing of this
        # transaction has reached a live server yet.
        for _ in range(self._pool.max_size + 1):
            conn = self._checkout()
            try:
                return send(conn, statements)
            except psycopg.OperationalError:
                if not conn.broken:
                    raise  # the statements' own failure (a cancelled one, say), not the link's
                with self._lock:
                    self._conn = None
                self._pool.putconn(conn)  # the pool discards a broken connection
        raise unavailable()

    def _checkout(self) -> Connection:
        # Wait briefly: with the database down or the pool exhausted, answering 503 at once
        # beats holding the request until its deadline.
        wait = max(0.001, min(self.remaining(), self._pool_wait_seconds))
        try:
            conn = self._pool.getconn(timeout=wait)
        except PoolTimeout as exc:
            raise unavailable() from exc
        with self._lock:
            if self._expired:
                self._pool.putconn(conn)
                raise DeadlineExceeded("the function's timeout_seconds ran out")
            self._conn = conn  # visible to expire() from here on
        return conn

    def commit(self) -> None:
        if self._deferred and self._conn is None:  # they are the transaction's first statements
            self.run([one_statement(self._deferred)], counted=False)
            self._deferred = []
        with self._lock:
            self.check_deadline()
            self._committing = True
        conn, deferred, self._deferred = self._conn, self._deferred, []
        if conn is not None:  # else nothing was sent: nothing to commit, no time in Postgres
            started = time.perf_counter()
            try:
                with tracing.span(*commit_span(deferred)) if tracing.enabled() else NO_SPAN:
                    self._send_commit(conn, deferred)
            finally:
                self.effects.sql_seconds += time.perf_counter() - started
        self.effects.committed = True

    @staticmethod
    def _send_commit(conn: Connection, deferred: list[Statement]) -> None:
        if not deferred:
            conn.commit()
            return
        with conn.pipeline():
            conn.execute(*one_statement(deferred))
            conn.commit()

    def rollback(self) -> None:
        """Never raises: it runs on error paths, where the first error is the one that matters
        (and a broken connection is discarded by the pool on release anyway)."""
        self.pending_messages.clear()
        self._deferred.clear()
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.rollback()
            except psycopg.Error as exc:
                log.debug("rollback failed: %s", exc)

    def release(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.putconn(conn)  # the pool rolls back and discards a broken connection

    def expire(self) -> bool:
        """Called by the deadline's watcher when it passes. Returns False if the work is already
        committing (then it is left to finish: a commit is short)."""
        with self._lock:
            if self._committing:
                return False
            self._expired = True
            if self._conn is not None:
                self._conn.cancel_safe(timeout=CANCEL_SECONDS)
            return True
