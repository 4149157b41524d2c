"""The effects ledger: what one invocation did beyond computing its answer.

Per invocation: the handler's SQL statements and the rows they wrote (INSERT, UPDATE, DELETE,
MERGE row counts), the messages it published by queue, its dependency calls, and the time spent
on each kind (Postgres, dependencies, the fast-path push of its messages, the handler in all).
The unit of work (portico.state.transaction) keeps one; the runtime writes it on the request's
(or job's) log line, adds it to the metrics, and with PORTICO_SERVER_TIMING=1 answers it as a
`Server-Timing` header.

Counting is a few integer additions per statement; nothing here runs for a handler that does
nothing but the formatting of the log line's field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from portico.problems import EgressDenied
from portico.state.transaction import Tally, Transaction


@dataclass(frozen=True, slots=True)
class DependencyCall:
    """One attempt at a dependency call. outcome: 2xx/3xx/4xx/5xx, timeout or unavailable."""

    dependency: str
    method: str
    path: str
    outcome: str
    seconds: float


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class Effects(Tally):
    """The unit of work's tally (statements, rows written, messages, time in Postgres) and
    what happens outside it."""

    __slots__ = ("calls", "denied", "handler_seconds", "queue_seconds")

    def __init__(self) -> None:
        # Tally's fields set here rather than through super(): one call less per request.
        self.statements = 0
        self.rows_written = 0
        self.sql_seconds = 0.0
        self.messages: dict[str, int] = {}
        self.committed = False
        self.queue_seconds = 0.0  # the fast-path push after the commit
        self.calls: list[DependencyCall] = []
        self.handler_seconds = 0.0
        # The first connection the egress guard refused, answered even if a library caught it.
        self.denied: EgressDenied | None = None

    def dependency_seconds(self) -> dict[str, float]:
        """Seconds per dependency, its attempts added up, in the order first called."""
        seconds: dict[str, float] = {}
        for call in self.calls:
            seconds[call.dependency] = seconds.get(call.dependency, 0.0) + call.seconds
        return seconds

    def as_dict(self) -> dict[str, Any]:
        """The ledger as the log line's `effects` field (a worker's job line logs this)."""
        out: dict[str, Any] = {
            "statements": self.statements,
            "rows_written": self.rows_written,
            "sql_ms": ms(self.sql_seconds),
        }
        if self.messages:
            out["messages"] = dict(self.messages)
            out["queue_ms"] = ms(self.queue_seconds)
        if self.calls:
            out["calls"] = [
                {
                    "dependency": c.dependency,
                    "method": c.method,
                    "path": c.path,
                    "outcome": c.outcome,
                    "ms": ms(c.seconds),
                }
                for c in self.calls
            ]
        out["handler_ms"] = ms(self.handler_seconds)
        out["committed"] = self.committed
        return out

    def log_field(self) -> str:
        """`as_dict()` as the JSON text of the request log line's field. The ledger of a
        handler that touched nothing (most of a trivial request's) is formatted by hand: the
        line of every request carries it, and json.dumps costs several times more."""
        if self.statements or self.sql_seconds or self.messages or self.calls:
            return json.dumps(self.as_dict())
        committed = "true" if self.committed else "false"
        return (
            '{"statements": 0, "rows_written": 0, "sql_ms": 0.0, '
            f'"handler_ms": {ms(self.handler_seconds)}, "committed": {committed}}}'
        )

    def server_timing(self) -> str:
        """The ledger as a Server-Timing header (W3C Server Timing): durations in ms."""
        entries = [
            f'sql;dur={ms(self.sql_seconds)};desc="{self.statements} statements, '
            f'{self.rows_written} rows"'
        ]
        for dependency, seconds in self.dependency_seconds().items():
            entries.append(f"dep-{dependency};dur={ms(seconds)}")
        if self.messages:
            count = sum(self.messages.values())
            entries.append(f'queue;dur={ms(self.queue_seconds)};desc="{count} messages"')
        entries.append(f"handler;dur={ms(self.handler_seconds)}")
        return ", ".join(entries)


def of(tx: Transaction) -> Effects:
    """The ledger of a unit of work the runtime began (Invoker.begin gives each one)."""
    effects = tx.effects
    if not isinstance(effects, Effects):  # begun elsewhere: its ledger starts now
        effects = tx.effects = Effects()
    return effects


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
