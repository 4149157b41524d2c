"""Prometheus metrics of a function process (one process, so the default registry is enough).

An HTTP function's request metrics are counted per thread, without a lock, and summed when
Prometheus scrapes (`RouteTally`): prometheus_client's own metrics take a lock per update, five
updates per request, which a trivial handler's throughput shows.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
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


REQUESTS = RequestMetrics()
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
