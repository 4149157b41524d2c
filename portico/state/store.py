"""The `store` binding: a handler's view of Postgres, inside the invocation's transaction.

Every statement of one invocation runs in one transaction that commits only when the handler
returns normally; rows come back as dicts.
"""

from __future__ import annotations

from psycopg import Cursor
from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import DictRow

from portico.state.transaction import Transaction


class Store:
    def __init__(self, name: str, transaction: Transaction) -> None:
        self.name = name
        self._tx = transaction

    def one(self, sql: QueryNoTemplate, params: Params | None = None) -> DictRow | None:
        """The first row of the result, or None."""
        return self._run(sql, params).fetchone()

    def all(self, sql: QueryNoTemplate, params: Params | None = None) -> list[DictRow]:
        return self._run(sql, params).fetchall()

    def execute(self, sql: QueryNoTemplate, params: Params | None = None) -> int:
        """Run a statement; returns the number of rows it affected."""
        return self._run(sql, params).rowcount

    def _run(self, sql: QueryNoTemplate, params: Params | None) -> Cursor[DictRow]:
        return self._tx.execute(sql, params)
