"""Bounds that hold for the whole deployment, checked by `portico check`:

- the worst-case number of Postgres connections (every function at its max scale, each process
  with its full pool plus its readiness-probe connection, plus the relay and the migrations
  job) must fit the database's connection budget;
- the timeout chain must be strictly decreasing: the gateway waits longer than the function's
  deadline, and every statement is bounded by what is left of that deadline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from portico.manifest import Manifest

# Postgres' default max_connections (100) less its superuser_reserved_connections (3).
DEFAULT_CONNECTION_BUDGET = 97
PROBE_CONNECTIONS = 1  # each process's readiness probe (portico.runtime.resources)
RELAY_REPLICAS = 1
MIGRATION_CONNECTIONS = 1


def pool_size(manifest: Manifest) -> int:
    """Connections one process of the function holds at most: one per concurrent request."""
    return manifest.function.concurrency if manifest.is_http else 1


def process_connections(manifest: Manifest) -> int:
    return pool_size(manifest) + PROBE_CONNECTIONS


def gateway_margin_seconds() -> int:
    """How long past a function's deadline the gateway keeps waiting for its answer."""
    return int(os.environ.get("PORTICO_GATEWAY_TIMEOUT_MARGIN_SECONDS", "5"))


def upstream_timeout_seconds(manifest: Manifest) -> int:
    """How long a gateway waits for the function before answering 504 itself."""
    return manifest.function.timeout_seconds + gateway_margin_seconds()


@dataclass(frozen=True)
class ConnectionUse:
    name: str
    processes: int
    per_process: int

    @property
    def total(self) -> int:
        return self.processes * self.per_process


def connection_use(manifests: list[Manifest]) -> list[ConnectionUse]:
    uses = [ConnectionUse(m.name, m.function.scale.max, process_connections(m)) for m in manifests]
    uses.append(ConnectionUse("relay", RELAY_REPLICAS, 1 + PROBE_CONNECTIONS))
    uses.append(ConnectionUse("migrations", 1, MIGRATION_CONNECTIONS))
    return uses


def connection_problems(manifests: list[Manifest], budget: int) -> list[str]:
    uses = connection_use(manifests)
    worst = sum(use.total for use in uses)
    if worst <= budget:
        return []
    biggest = sorted(uses, key=lambda u: u.total, reverse=True)[:3]
    detail = ", ".join(f"{u.name} {u.processes}x{u.per_process}={u.total}" for u in biggest)
    return [
        f"worst case {worst} Postgres connections exceeds the budget of {budget} (largest: "
        f"{detail}); lower function.scale.max or function.concurrency, or raise the budget "
        "(--connection-budget / PORTICO_DB_CONNECTION_BUDGET) to match max_connections"
    ]


def timeout_chain(manifest: Manifest) -> tuple[int, int, int]:
    """(gateway, function deadline, longest possible statement) in seconds."""
    deadline = manifest.function.timeout_seconds
    return upstream_timeout_seconds(manifest), deadline, deadline


def timeout_problems(manifests: list[Manifest]) -> list[str]:
    problems = []
    for m in manifests:
        if not m.is_http:
            continue
        gateway, deadline, statement = timeout_chain(m)
        if not gateway > deadline >= statement:
            problems.append(
                f"{m.name}: timeouts must shrink inward (gateway {gateway} s > function "
                f"{deadline} s >= statement {statement} s)"
            )
    return problems
