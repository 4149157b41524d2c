"""Prometheus metrics of a function process (one process, so the default registry is enough)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "portico_http_requests_total",
    "HTTP requests served, by route and status.",
    ["function", "route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "portico_http_request_duration_seconds",
    "Time from request received to response ready.",
    ["function", "route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge(
    "portico_http_requests_in_flight",
    "Requests being served right now.",
    ["function"],
)
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
