"""Bounds that hold for the whole deployment, checked by `portico check`:

- the worst-case number of Postgres connections (every function at its max scale, each process
  with its full pool plus its readiness-probe connection, plus the relay and the migrations
  job) must fit the database's connection budget;
- the timeout chain must shrink inward: the gateway waits longer than the function takes to
  answer its own 504 (its deadline, plus the time to cancel the statement running at it), and
  the function's deadline is longer than each call to a dependency may wait.

Pure functions of their arguments: the margin and the cancel time come from the caller (the
settings of the process asking), so a render is the same in every shell.
"""

from __future__ import annotations

from dataclasses import dataclass

from portico.manifest import Manifest
from portico.settings import Settings

# Postgres' default max_connections (100) less its superuser_reserved_connections (3).
DEFAULT_CONNECTION_BUDGET = 97
PROBE_CONNECTIONS = 1  # each process's readiness probe (portico.runtime.resources)
RELAY_REPLICAS = 1
MIGRATION_CONNECTIONS = 1
# How long past a function's deadline a gateway keeps waiting for its answer, unless told.
GATEWAY_MARGIN_SECONDS = Settings.gateway_margin_seconds


def pool_size(manifest: Manifest) -> int:
    """Connections one process of the function holds at most: one per concurrent request."""
    return manifest.function.concurrency if manifest.is_http else 1


def process_connections(manifest: Manifest) -> int:
    return pool_size(manifest) + PROBE_CONNECTIONS


def upstream_timeout_seconds(
    manifest: Manifest, margin_seconds: int = GATEWAY_MARGIN_SECONDS
) -> int:
    """How long a gateway waits for the function before answering 504 itself."""
    return manifest.function.timeout_seconds + margin_seconds


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


@dataclass(frozen=True)
class TimeoutChain:
    """One HTTP function's timeouts, outermost first, in seconds."""

    name: str
    gateway: int  # the gateway's wait for the function
    answer: float  # the latest the function answers: its deadline, then cancelling a statement
    deadline: int  # timeout_seconds: the handler's and every statement's bound

    def problem(self) -> str | None:
        if self.gateway > self.answer:
            return None
        return (
            f"{self.name}: the gateway gives up after {self.gateway} s, before the function's "
            f"own 504 (deadline {self.deadline} s + up to {self.answer - self.deadline:g} s to "
            "cancel its running statement); the gateway's margin past the deadline must be "
            f"more than {self.answer - self.deadline:g} s"
        )


def timeout_chain(
    manifest: Manifest, *, margin_seconds: int, cancel_seconds: float
) -> TimeoutChain:
    deadline = manifest.function.timeout_seconds
    return TimeoutChain(
        name=manifest.name,
        gateway=upstream_timeout_seconds(manifest, margin_seconds),
        answer=deadline + cancel_seconds,
        deadline=deadline,
    )


def timeout_problems(
    manifests: list[Manifest], *, margin_seconds: int, cancel_seconds: float
) -> list[str]:
    chains = (
        timeout_chain(m, margin_seconds=margin_seconds, cancel_seconds=cancel_seconds)
        for m in manifests
        if m.is_http
    )
    problems = [problem for chain in chains if (problem := chain.problem()) is not None]
    return problems + [problem for m in manifests for problem in dependency_timeout_problems(m)]


def dependency_timeout_problems(manifest: Manifest) -> list[str]:
    """A call that may wait as long as the whole function leaves it no time to answer."""
    deadline = manifest.function.timeout_seconds
    return [
        f"{manifest.name}: dependency {d.binding} waits up to {d.timeout_seconds:g} s per call, "
        f"not less than the function's timeout_seconds of {deadline} s; a call must end "
        "before the deadline does (lower dependencies."
        f"{d.binding}.timeout_seconds or raise function.timeout_seconds)"
        for d in manifest.dependencies
        if d.timeout_seconds >= deadline
    ]
