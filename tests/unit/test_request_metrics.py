"""The HTTP request metrics counted per thread (portico.metrics.RouteTally): exact under
concurrency, and exposed exactly as prometheus_client's own Counter and Histogram would be."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from portico.metrics import DURATION_BUCKETS, RequestMetrics

DURATIONS = [0.001, 0.002, 0.003, 0.04, 0.7, 1.0, 12.0, 45.0]


def exposed(registry: CollectorRegistry, prefix: str) -> list[str]:
    lines = generate_latest(registry).decode().splitlines()
    return sorted(line for line in lines if line.startswith(prefix) and "_created" not in line)


def test_counts_from_many_threads_add_up_exactly():
    metrics = RequestMetrics()
    route = metrics.route("f", "/things")

    def serve() -> None:
        for n in range(2000):
            route.started()
            route.answered("POST", 201 if n % 4 else 409, 0.003)

    threads = [threading.Thread(target=serve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    route.started()  # one still in flight
    families = {family.name: family for family in metrics.collect()}

    requests = {s.labels["status"]: s.value for s in families["portico_http_requests"].samples}
    assert requests == {"201": 12000, "409": 4000}
    [in_flight] = families["portico_http_requests_in_flight"].samples
    assert in_flight.value == 1


def test_the_exposition_is_prometheus_clients_own():
    ours = CollectorRegistry()
    metrics = RequestMetrics()
    ours.register(metrics)
    route = metrics.route("f", "/things")
    theirs = CollectorRegistry()
    counter = Counter(
        "portico_http_requests_total",
        "HTTP requests served, by route and status.",
        ["function", "route", "method", "status"],
        registry=theirs,
    )
    histogram = Histogram(
        "portico_http_request_duration_seconds",
        "Time from request received to response ready.",
        ["function", "route", "method"],
        buckets=DURATION_BUCKETS,
        registry=theirs,
    )
    for seconds in DURATIONS:
        route.started()
        route.answered("GET", 200, seconds)
        counter.labels("f", "/things", "GET", 200).inc()
        histogram.labels("f", "/things", "GET").observe(seconds)

    for prefix in ("portico_http_requests_total", "portico_http_request_duration_seconds"):
        assert exposed(ours, prefix) == exposed(theirs, prefix)
    assert 'portico_http_requests_in_flight{function="f"} 0.0' in exposed(ours, "portico_http")
