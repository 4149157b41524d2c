"""Prometheus metrics of a function process (one process, so the default registry is enough).

An HTTP function's request metrics are counted per thread, without a lock, and summed when
Prometheus scrapes (`RouteTally`): prometheus_client's own metrics take a lock per update, five
updates per request, which a trivial handler's throughput shows.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

DURATION_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ThreadTally:
    """One thread's counts for one route; only that thread writes them."""

    __slots__ = ("buckets", "started", "statuses", "sum")

    def __init__(self) -> None:
        self.started = 0
        self.statuses: dict[tuple[str, int], int] = {}  # (method, status) -> answers
        self.buckets: dict[str, list[int]] = {}  # method -> answers per duration bucket
        self.sum: dict[str, float] = {}  # method -> seconds


class RouteTally:
    """Requests, their durations and those in flight, for one function's route."""

    def __init__(self, function: str, route: str) -> None:
        self.function, self.route = function, route
        self._local = threading.local()
        self._threads: list[ThreadTally] = []
        self._lock = threading.Lock()  # only to add a thread's tally

    def _mine(self) -> ThreadTally:
        tally: ThreadTally | None = getattr(self._local, "tally", None)
        if tally is None:
            tally = self._local.tally = ThreadTally()
            with self._lock:
                self._threads.append(tally)
        return tally

    def started(self) -> None:
        self._mine().started += 1

    def answered(self, method: str, status: int, seconds: float) -> None:
        tally = self._mine()
        key = (method, status)
        tally.statuses[key] = tally.statuses.get(key, 0) + 1
        buckets = tally.buckets.get(method)
        if buckets is None:
            buckets = tally.buckets[method] = [0] * (len(DURATION_BUCKETS) + 1)
        buckets[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        tally.sum[method] = tally.sum.get(method, 0.0) + seconds

    def threads(self) -> list[ThreadTally]:
        with self._lock:
            return list(self._threads)


class RequestMetrics:
    """The collector of every RouteTally in this process."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], RouteTally] = {}
        self._lock = threading.Lock()

    def route(self, function: str, route: str) -> RouteTally:
        with self._lock:
            return self._routes.setdefault((function, route), RouteTally(function, route))

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "portico_http_requests",
            "HTTP requests served, by route and status.",
            labels=["function", "route", "method", "status"],
        )
        durations = HistogramMetricFamily(
            "portico_http_request_duration_seconds",
            "Time from request received to response ready.",
            labels=["function", "route", "method"],
        )
        in_flight = GaugeMetricFamily(
            "portico_http_requests_in_flight",
            "Requests being served right now.",
            labels=["function"],
        )
        with self._lock:
            routes = list(self._routes.values())
        for route in routes:
            threads = route.threads()
            statuses, buckets, sums = merged(threads)
            for (method, status), count in sorted(statuses.items()):
                requests.add_metric([route.function, route.route, method, str(status)], count)
            for method, counts in sorted(buckets.items()):
                labels = [route.function, route.route, method]
                durations.add_metric(labels, cumulative(counts), sums.get(method, 0.0))
            started = sum(tally.started for tally in threads)
            in_flight.add_metric([route.function], started - sum(statuses.values()))
        yield requests
        yield durations
        yield in_flight


def merged(
    threads: list[ThreadTally],
) -> tuple[dict[tuple[str, int], int], dict[str, list[int]], dict[str, float]]:
    """The threads' tallies added up (a thread may add to its own meanwhile: copied first)."""
    statuses: dict[tuple[str, int], int] = {}
    buckets: dict[str, list[int]] = {}
    sums: dict[str, float] = {}
    for tally in threads:
        for key, count in list(tally.statuses.items()):
            statuses[key] = statuses.get(key, 0) + count
        for method, counts in list(tally.buckets.items()):
            total = buckets.get(method, [0] * len(counts))
            buckets[method] = [a + b for a, b in zip(total, list(counts), strict=True)]
        for method, seconds in list(tally.sum.items()):
            sums[method] = sums.get(method, 0.0) + seconds
    return statuses, buckets, sums


def cumulative(counts: list[int]) -> list[tuple[str, float]]:
    """Per-bucket counts as Prometheus's cumulative `le` buckets."""
    bounds = (*map(floatToGoString, DURATION_BUCKETS), "+Inf")
    running, out = 0, []
    for bound, count in zip(bounds, counts, strict=True):
        running += count
        out.append((bound, float(running)))
    return out


class ThreadEffects:
    """One thread's effect counts for one function; only that thread writes them."""

    __slots__ = ("messages", "rows_written", "statements")

    def __init__(self) -> None:
        self.statements = 0
        self.rows_written = 0
        self.messages: dict[str, int] = {}  # queue -> messages published


class EffectMetrics:
    """What invocations did (portico.runtime.effects), counted per thread like RouteTally and
    summed when Prometheus scrapes."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._threads: list[tuple[str, ThreadEffects]] = []
        self._lock = threading.Lock()  # only to add a thread's tally

    def _mine(self, function: str) -> ThreadEffects:
        mine: dict[str, ThreadEffects] | None = getattr(self._local, "tallies", None)
        if mine is None:
            mine = self._local.tallies = {}
        tally = mine.get(function)
        if tally is None:
            tally = mine[function] = ThreadEffects()
            with self._lock:
                self._threads.append((function, tally))
        return tally

    def record(
        self, function: str, statements: int, rows_written: int, messages: dict[str, int]
    ) -> None:
        tally = self._mine(function)
        tally.statements += statements
        tally.rows_written += rows_written
        for queue, count in messages.items():
            tally.messages[queue] = tally.messages.get(queue, 0) + count

    def collect(self) -> Iterator[Metric]:
        statements = CounterMetricFamily(
            "portico_effect_statements",
            "SQL statements the handlers ran.",
            labels=["function"],
        )
        rows = CounterMetricFamily(
            "portico_effect_rows_written",
            "Rows the handlers' committed statements wrote (INSERT, UPDATE, DELETE, MERGE).",
            labels=["function"],
        )
        messages = CounterMetricFamily(
            "portico_effect_messages",
            "Queue messages the handlers published and committed.",
            labels=["function", "queue"],
        )
        totals: dict[str, list[int]] = {}
        by_queue: dict[tuple[str, str], int] = {}
        with self._lock:
            threads = list(self._threads)
        for function, tally in threads:
            total = totals.setdefault(function, [0, 0])
            total[0] += tally.statements
            total[1] += tally.rows_written
            for queue, count in list(tally.messages.items()):
                by_queue[(function, queue)] = by_queue.get((function, queue), 0) + count
        for function, (ran, written) in sorted(totals.items()):
            statements.add_metric([function], ran)
            rows.add_metric([function], written)
        for (function, queue), count in sorted(by_queue.items()):
            messages.add_metric([function, queue], count)
        yield statements
        yield rows
        yield messages


REQUESTS = RequestMetrics()
EFFECTS = EffectMetrics()
REGISTRY.register(EFFECTS)
REGISTRY.register(REQUESTS)
COLD_START_SECONDS = Gauge(
    "portico_cold_start_seconds",
    "Seconds from process start until the function was ready to serve.",
    ["function"],
)
# outcome: one of portico.state.jobs.JobOutcome (succeeded, duplicate, failed).
JOBS = Counter(
    "portico_jobs_total",
    "Queue messages handled by a worker function, by outcome.",
    ["function", "queue", "outcome"],
)
DEPENDENCY_CALLS = Counter(
    "portico_dependency_calls_total",
    "Calls to a function's dependencies (each attempt), by outcome: the status class (2xx, "
    "4xx, 5xx, ...), timeout or unavailable.",
    ["function", "dependency", "outcome"],
)
DEPENDENCY_CALL_SECONDS = Histogram(
    "portico_dependency_call_seconds",
    "Time per attempt at a dependency call.",
    ["function", "dependency"],
    buckets=DURATION_BUCKETS,
)
# mode: enforce (refused) or warn (logged and let through).
EGRESS_DENIED = Counter(
    "portico_egress_denied_total",
    "Connections a handler opened to a host:port its manifest does not declare.",
    ["function", "mode"],
)


def dependency_call(function: str, dependency: str, outcome: str, seconds: float) -> None:
    DEPENDENCY_CALLS.labels(function, dependency, outcome).inc()
    DEPENDENCY_CALL_SECONDS.labels(function, dependency).observe(seconds)
