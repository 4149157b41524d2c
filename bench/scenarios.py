"""The seven scenarios of `make bench`. Each runs its competitors one after another on the same
Postgres and Redis, with the same load, and reports them against its baseline."""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from bench import containers
from bench.harness import (
    BENCH_FUNCTIONS,
    CLAIMS_FUNCTIONS,
    CONNECTIONS,
    GATEWAY_SECRET,
    THREADS,
    Bench,
    local,
)
from bench.load import percentile
from bench.processes import ROOT, NotReady, Server, gunicorn, portico
from portico import headers
from portico.local.ports import free_port as port
from portico.manifest import load_all
from portico.policies.consumers import DEV_CONSUMERS
from portico.runtime.resources import consumers_of
from portico.settings import Settings
from portico.state import outbox
from portico.state.jobs import enqueue
from tests.support import wait_until

Row = dict[str, Any]
ALICE = DEV_CONSUMERS[0]
AS_ALICE = {
    headers.CONSUMER_USERNAME: ALICE.username,
    headers.CONSUMER_ID: ALICE.id,
    headers.GATEWAY_SECRET: GATEWAY_SECRET,  # what the gateway adds: direct calls need it too
}
WITH_KEY = {headers.API_KEY: ALICE.api_keys[0]}
REVIEW_QUEUE = "claim-review-jobs"
CLAIM = json.dumps({"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"})

# Table columns: (row key, header, format)
LOAD_COLUMNS = [
    ("throughput", "req/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("errors", "errors", "{:d}"),
    ("cpu_ms", "server CPU ms/req", "{:.2f}"),
    ("ratio", "vs baseline", "{:.0%}"),
]


@dataclass
class Scenario:
    id: str
    title: str
    about: str
    columns: list[tuple[str, str, str]]
    rows: list[Row] = field(default_factory=list)
    chart: list[str] = field(default_factory=list)  # row keys drawn as bars
    chart_label: str = ""
    notes: list[str] = field(default_factory=list)

    def row(self, variant: str) -> Row:
        return next(r for r in self.rows if r["variant"] == variant)


def load_row(variant: str, result: dict[str, Any], *, baseline: bool = False) -> Row:
    latency = result["latency_ms"]
    return {
        "variant": variant,
        "baseline": baseline,
        "throughput": result["throughput"],
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "errors": result["errors"],
        "cpu_ms": result.get("server_cpu_ms_per_request"),
        "statuses": result["statuses"],
        "generator_cpu_percent": result["generator_cpu_percent"],
    }


def median_round(variant: str, results: Sequence[dict[str, Any]], *, baseline: bool = False) -> Row:
    """The row of the round with the median throughput, every round's throughput beside it."""
    ordered = sorted(results, key=lambda result: result["throughput"])
    row = load_row(variant, ordered[(len(ordered) - 1) // 2], baseline=baseline)
    row["rounds"] = [result["throughput"] for result in results]
    return row


def rounds_note(bench: Bench) -> str:
    if bench.profile.rounds == 1:
        return ""
    return (
        f" The closed-model rows are each the median of {bench.profile.rounds} rounds, the "
        "competitors interleaved round by round (every round's req/s is in latest.json)."
    )


def interleaved(
    bench: Bench, runs: Sequence[tuple[str, Callable[[], dict[str, Any]]]]
) -> dict[str, list[dict[str, Any]]]:
    """Each named load run, `bench.profile.rounds` times, one of each per round."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in runs}
    for round_number in range(1, bench.profile.rounds + 1):
        for name, run in runs:
            with bench.step(f"{name}: closed model, round {round_number}/{bench.profile.rounds}"):
                results[name].append(run())
    return results


def add_ratios(rows: Sequence[Row], key: str) -> None:
    """Each row's `key` as a fraction of the baseline row's."""
    base = next(r for r in rows if r.get("baseline"))[key]
    for row in rows:
        if "ratio" not in row and row.get(key) is not None and base:
            row["ratio"] = row[key] / base


def bare_flask(server_port: int) -> list[str]:
    return gunicorn("bench.apps.bare_hello:app", server_port, THREADS)


def portico_hello(server_port: int) -> list[str]:
    return portico("serve", "hello", "--port", str(server_port))


def functions_framework(server_port: int) -> list[str]:
    return gunicorn("bench.apps.ff_hello:app", server_port, THREADS)


def function_behind_gateway(
    bench: Bench, function_name: str, env: dict[str, str]
) -> tuple[Server, Server, int, int]:
    """An HTTP function and a dev gateway routing to it (neither started yet)."""
    function_port, gateway_port = port(), port()
    function = bench.server(
        function_name,
        portico("serve", function_name, "--port", str(function_port)),
        env,
        local(function_port, "/readyz"),
    )
    gateway = bench.server(
        f"gateway-{function_name}",
        portico(
            "gateway",
            "--port", str(gateway_port),
            "--upstream", f"{function_name}={local(function_port)}",
        ),
        env,
        local(gateway_port, "/healthz"),
    )  # fmt: skip
    return function, gateway, function_port, gateway_port


# --- 1. runtime overhead ------------------------------------------------------------------------


def runtime_overhead(bench: Bench) -> Scenario:
    scenario = Scenario(
        "runtime",
        "1. Runtime overhead: a trivial JSON handler",
        f"GET /hello returning a constant JSON object; closed model, {CONNECTIONS} connections. "
        f"Each server is one gunicorn gthread worker with {THREADS} threads and 75 s keep-alive. "
        "The last row is the Portico runtime without its one JSON log line per request "
        "(PORTICO_LOG_LEVEL=WARNING), to show what that line costs." + rounds_note(bench),
        LOAD_COLUMNS,
        chart=["ratio"],
        chart_label="throughput vs bare Flask",
    )
    env = bench.env(BENCH_FUNCTIONS)
    quiet = {**env, "PORTICO_LOG_LEVEL": "WARNING"}
    competitors: list[tuple[str, Callable[[int], list[str]], str, dict[str, str]]] = [
        ("bare Flask on gunicorn", bare_flask, "/hello", env),
        ("Portico runtime", portico_hello, "/readyz", env),
        ("functions-framework", functions_framework, "/hello", env),
        ("Portico runtime, request log off", portico_hello, "/readyz", quiet),
    ]
    servers: dict[str, tuple[Server, int]] = {}
    for variant, command, ready_path, server_env in competitors:
        server_port = port()
        ready_url = local(server_port, ready_path)
        servers[variant] = (
            bench.server(variant, command(server_port), server_env, ready_url),
            server_port,
        )
        with bench.step(f"starting {variant}"):
            servers[variant][0].start()

    def run(variant: str) -> Callable[[], dict[str, Any]]:
        server, server_port = servers[variant]
        return lambda: bench.load(local(server_port, "/hello"), server=[server])

    results = interleaved(bench, [(variant, run(variant)) for variant in servers])
    for i, (variant, (server, _)) in enumerate(servers.items()):
        bench.record_memory(f"{variant} (trivial handler)", server)
        server.stop()
        scenario.rows.append(median_round(variant, results[variant], baseline=i == 0))
    add_ratios(scenario.rows, "throughput")
    return scenario


# --- 2. the claims write path -------------------------------------------------------------------


def claims_write_path(bench: Bench) -> Scenario:
    scenario = Scenario(
        "claims",
        "2. The claims write path: POST /claims",
        "The naive handler (bare Flask: check the policy, insert the claim, push the review job "
        "to Redis) against submit-claim on the Portico runtime (outbox, idempotency key, "
        "deadline, schema), called directly and through the dev gateway (key-auth). Closed "
        f"model, {CONNECTIONS} connections; then the gateway path at half its peak rate "
        "(open model)." + rounds_note(bench),
        LOAD_COLUMNS,
        chart=["ratio"],
        chart_label="throughput vs the naive handler",
    )
    env = bench.env(bench.unthrottled_claims())
    post: dict[str, Any] = {"method": "POST", "body": CLAIM}

    naive_port = port()
    naive = bench.server(
        "naive-claims",
        gunicorn("bench.apps.naive_claims:app", naive_port, THREADS),
        env,
        local(naive_port, "/healthz"),
    )
    function, gateway, function_port, gateway_port = function_behind_gateway(
        bench, "submit-claim", env
    )
    with bench.step("starting the naive handler, submit-claim and the dev gateway"):
        naive.start()
        function.start()
        gateway.start()
    idempotent: dict[str, Any] = {"unique_header": headers.IDEMPOTENCY_KEY, **post}
    runs: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        (
            "naive handler, bare Flask",
            lambda: bench.load(
                local(naive_port, "/claims"), headers=AS_ALICE, server=[naive], **post
            ),
        ),
        (
            "Portico function, direct",
            lambda: bench.load(
                local(function_port, "/claims"), headers=AS_ALICE, server=[function], **idempotent
            ),
        ),
        (
            "Portico, through the gateway",
            lambda: bench.load(
                local(gateway_port, "/claims"),
                headers=WITH_KEY,
                server=[gateway, function],
                **idempotent,
            ),
        ),
    ]
    results = interleaved(bench, runs)
    for i, (variant, _) in enumerate(runs):
        scenario.rows.append(median_round(variant, results[variant], baseline=i == 0))
    peak = scenario.rows[2]["throughput"]
    bench.record_memory("naive claims handler (bare Flask)", naive)
    naive.stop()
    bench.record_memory("submit-claim function (after POST /claims load)", function)
    bench.record_memory("dev gateway (after POST /claims load)", gateway)
    rate = max(1.0, round(peak / 2))
    with bench.step(f"through the gateway at half its peak, {rate:.0f} req/s: open model"):
        result = bench.load(
            local(gateway_port, "/claims"), rate=rate, headers=WITH_KEY, **idempotent
        )
    scenario.rows.append(load_row(f"Portico, gateway, open model at {rate:.0f} req/s", result))
    gateway.stop()
    function.stop()
    add_ratios(scenario.rows[:3], "throughput")
    return scenario


# --- 3. gateway overhead ------------------------------------------------------------------------


def gateway_overhead(bench: Bench) -> Scenario:
    scenario = Scenario(
        "gateway",
        "3. Dev gateway overhead",
        "GET /hello-limited (the trivial handler behind key-auth and a rate limit it never "
        "reaches) called directly and through the dev gateway: peak throughput (closed model), "
        "then latency at a moderate fixed rate, 30% of the gateway's peak (open model).",
        [*LOAD_COLUMNS[:5], ("added_p50_ms", "added p50 ms", "{:+.2f}"),
         ("added_p99_ms", "added p99 ms", "{:+.2f}"), ("ratio", "vs direct", "{:.0%}")],
        chart=["p50_ms", "p99_ms"],
        chart_label="latency (ms)",
    )  # fmt: skip
    env = bench.env(BENCH_FUNCTIONS)
    function, gateway, function_port, gateway_port = function_behind_gateway(
        bench, "hello-limited", env
    )
    direct_url, gateway_url = (
        local(function_port, "/hello-limited"),
        local(gateway_port, "/hello-limited"),
    )
    with bench.step("direct to the function: closed model"):
        function.start()
        gateway.start()
        direct_peak = bench.load(direct_url, headers=AS_ALICE, server=[function])
    with bench.step("through the gateway (key-auth + rate limit): closed model"):
        gateway_peak = bench.load(gateway_url, headers=WITH_KEY, server=[gateway, function])
    peaks = [
        load_row("direct, peak", direct_peak, baseline=True),
        load_row("through the gateway, peak", gateway_peak),
    ]
    add_ratios(peaks, "throughput")
    rate = max(1.0, round(gateway_peak["throughput"] * 0.3))
    with bench.step(f"direct at {rate:.0f} req/s: open model"):
        direct = load_row(
            f"direct, {rate:.0f} req/s", bench.load(direct_url, rate=rate, headers=AS_ALICE)
        )
    with bench.step(f"through the gateway at {rate:.0f} req/s: open model"):
        through = load_row(
            f"through the gateway, {rate:.0f} req/s",
            bench.load(gateway_url, rate=rate, headers=WITH_KEY),
        )
    through["added_p50_ms"] = through["p50_ms"] - direct["p50_ms"]
    through["added_p99_ms"] = through["p99_ms"] - direct["p99_ms"]
    gateway.stop()
    function.stop()
    scenario.rows = [*peaks, direct, through]
    return scenario


# --- 4. cold start ------------------------------------------------------------------------------


def cold_start(bench: Bench) -> Scenario:
    scenario = Scenario(
        "cold_start",
        "4. Cold start",
        f"Median of {bench.profile.cold_starts} runs. Process start to ready: spawn to the first "
        "200 from its readiness URL (/readyz for Portico: Postgres and Redis reachable; the "
        "handler itself for the others), polled every 5 ms. First request at zero: a request "
        "to a function with no process, through the dev gateway, which starts it: as a new "
        "process (`--no-warm-template`), or forked from its warm template, a process the "
        "gateway starts with itself and that has done the imports (the request is sent once "
        "the gateway's /metrics says the template is ready); for bare Flask, spawning "
        "gunicorn and retrying the request until it is answered.",
        [("median_ms", "median ms", "{:.0f}"), ("min_ms", "min ms", "{:.0f}"),
         ("max_ms", "max ms", "{:.0f}"), ("ratio", "vs bare Flask", "{:.2f}x")],
        chart=["median_ms"],
        chart_label="cold start, median (ms)",
    )  # fmt: skip
    claims_env, bench_env = bench.env(), bench.env(BENCH_FUNCTIONS)
    starts: list[tuple[str, Callable[[int], list[str]], str, dict[str, str]]] = [
        ("bare Flask on gunicorn: start to ready", bare_flask, "/hello", bench_env),
        ("functions-framework: start to ready", functions_framework, "/hello", bench_env),
        ("Portico hello: start to ready", portico_hello, "/readyz", bench_env),
        ("Portico submit-claim: start to ready",
         lambda p: portico("serve", "submit-claim", "--port", str(p)), "/readyz", claims_env),
    ]  # fmt: skip
    for i, (variant, command, ready_path, env) in enumerate(starts):
        samples = []
        with bench.step(variant):
            for _ in range(bench.profile.cold_starts):
                server_port = port()
                server = bench.server(
                    variant, command(server_port), env, local(server_port, ready_path)
                )
                samples.append(server.start())
                server.stop()
        scenario.rows.append(timing_row(variant, samples, baseline=i == 0))
    submit_claim_container(bench, scenario)
    at_zero = {
        "Portico hello at zero, plain process start: first request through the gateway": False,
        "Portico hello at zero, warm template fork: first request through the gateway": True,
    }
    samples_at_zero: dict[str, list[float]] = {variant: [] for variant in at_zero}
    # Alternated, so a noisy stretch of the shared machine lands on both.
    with bench.step("Portico hello at zero, plain process start and warm template fork"):
        for _ in range(bench.profile.cold_starts):
            for variant, warm_template in at_zero.items():
                sample = first_request_at_zero(bench, bench_env, warm_template=warm_template)
                samples_at_zero[variant].append(sample)
    scenario.rows += [timing_row(v, samples) for v, samples in samples_at_zero.items()]
    bare = scenario.rows[0]
    scenario.rows.append(
        {**bare, "variant": "bare Flask: spawn, then first request answered", "baseline": False}
    )
    add_ratios(scenario.rows, "median_ms")
    return scenario


def submit_claim_container(bench: Bench, scenario: Scenario) -> None:
    """submit-claim in the function image, run as the chart runs it: `docker run` to ready. Where
    no Docker engine answers or the image cannot be had, a note (and a progress line) says so."""
    image = containers.ensure_image(containers.image_tag(), bench.say)
    if isinstance(image, str):
        skipped = f"Container row skipped: {image}"
        bench.say(skipped)
        scenario.notes.append(skipped)
        return
    env = {
        "PORTICO_FUNCTION": "submit-claim",
        "DATABASE_URL": bench.database_url,
        "REDIS_URL": bench.redis_url,
        "PORTICO_GATEWAY_SECRET": GATEWAY_SECRET,
    }
    variant = f"Portico submit-claim container ({image.size_mb:.0f} MB image): docker run to ready"
    log = bench.work_dir / "submit-claim-container.log"
    failed = ""
    with bench.step(variant):
        try:
            samples = [
                containers.start_to_ready(image.tag, env, log)
                for _ in range(bench.profile.cold_starts)
            ]
        except NotReady as exc:  # e.g. an engine whose host network is not this host's
            failed = f"Container row skipped: {exc}"
    if failed:
        bench.say(failed)
        scenario.notes.append(failed)
        return
    scenario.about += (
        " Container: submit-claim in the function image, from invoking `docker run` (creation "
        "and start, the image already present) to the first 200 from its /readyz, polled every "
        "5 ms; run as the chart runs it (--read-only, --user 10001:10001, --cap-drop ALL, "
        "--security-opt no-new-privileges), on the host's network to the bench's Postgres and "
        "Redis; a new container each run, removed after it."
    )
    revision = f"built from {image.revision}" if image.revision else "no revision label"
    scenario.notes.append(
        f"Image {image.tag}: {image.size_mb:.0f} MB uncompressed (docker image inspect), "
        f"id {image.id}, {revision}."
    )
    row = timing_row(variant, samples)
    scenario.rows.append({**row, "container": True, "image": dataclasses.asdict(image)})


def timing_row(variant: str, seconds: Sequence[float], *, baseline: bool = False) -> Row:
    ms = [s * 1000 for s in seconds]
    return {
        "variant": variant,
        "baseline": baseline,
        "median_ms": statistics.median(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
        "samples_ms": [round(m, 1) for m in ms],
    }


def first_request_at_zero(bench: Bench, env: dict[str, str], *, warm_template: bool) -> float:
    """The first request to hello at zero through a new gateway: started as a new process, or
    forked from the gateway's warm template once that is ready."""
    gateway_port, function_port = port(), port()
    gateway = bench.server(
        "gateway-scale-to-zero",
        portico(
            "gateway", "--port", str(gateway_port), "--scale-to-zero", f"hello={function_port}",
            "--warm-template" if warm_template else "--no-warm-template",
        ),
        env,
        local(gateway_port, "/healthz"),
    )  # fmt: skip
    gateway.start()
    try:
        if warm_template:
            wait_until(
                lambda: (
                    "portico_gateway_warm_template_ready 1.0"
                    in httpx.get(local(gateway_port, "/metrics"), timeout=5).text
                ),
                30,
                "the gateway's warm template to be ready",
                interval=0.02,
            )
        started = time.perf_counter()
        response = httpx.get(local(gateway_port, "/hello"), timeout=30)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or response.headers.get(headers.COLD_START) != "true":
            raise RuntimeError(f"expected a cold 200 from the gateway, got {response.status_code}")
        return elapsed
    finally:
        gateway.stop()


# --- 5. worker throughput -----------------------------------------------------------------------


def worker_throughput(bench: Bench) -> Scenario:
    jobs = bench.profile.jobs
    scenario = Scenario(
        "worker",
        "5. Worker throughput: review jobs",
        f"{jobs} claims reviewed by one worker process from a full queue: the Portico worker "
        "(processed-message record, deadline, retries) against a plain RQ SimpleWorker doing "
        "the same database work in one transaction. Jobs/s from the first to the last "
        "review's commit time.",
        [("throughput", "jobs/s", "{:,.0f}"), ("ratio", "vs plain RQ", "{:.0%}")],
        chart=["ratio"],
        chart_label="jobs/s vs plain RQ",
    )
    env = bench.env()
    rq = bench.redis()
    plain_claims = submitted_claims(bench, jobs)
    with bench.step(f"plain RQ worker: {jobs} jobs"):
        queue = Queue("plain-review-jobs", connection=rq, serializer=JSONSerializer)
        for claim_id in plain_claims:
            queue.enqueue("bench.apps.plain_worker.review", claim_id)
        plain = bench.server(
            "plain-rq-worker",
            [
                str(Path(sys.executable).with_name("rq")), "worker",
                "--url", bench.redis_url,
                "--path", str(ROOT),
                "--worker-class", "rq.worker.SimpleWorker",
                "--serializer", "rq.serializers.JSONSerializer",
                "plain-review-jobs",
            ],
            env,
            None,
        )  # fmt: skip
        plain.start()
        plain_rate = reviews_per_second(bench, plain_claims)
        bench.record_memory("plain RQ worker (after its jobs)", plain)
        plain.stop()
    scenario.rows.append({"variant": "plain RQ worker", "baseline": True, "throughput": plain_rate})

    claims = submitted_claims(bench, jobs)
    consumer = consumers_of(load_all(CLAIMS_FUNCTIONS))[REVIEW_QUEUE]
    with bench.step(f"Portico worker: {jobs} jobs"):
        for claim_id in claims:
            message_id = uuid.uuid4().hex
            message = {"id": message_id, "queue": REVIEW_QUEUE, "payload": {"claimId": claim_id}}
            enqueue(rq, REVIEW_QUEUE, message, consumer)
        health_port = port()
        worker = bench.server(
            "review-claim-worker",
            portico("worker", "review-claim", "--port", str(health_port)),
            env,
            None,
        )
        worker.start()
        portico_rate = reviews_per_second(bench, claims)
        bench.record_memory("Portico worker review-claim (after its jobs)", worker)
        worker.stop()
    scenario.rows.append({"variant": "Portico worker", "throughput": portico_rate})
    add_ratios(scenario.rows, "throughput")
    return scenario


def submitted_claims(bench: Bench, count: int) -> list[str]:
    rows = bench.sql(
        "INSERT INTO claims (claim_id, owner, policy_id, document_key)"
        " SELECT gen_random_uuid(), 'alice', 'P-1001', 'claims/2026/photo-' || n || '.jpg'"
        " FROM generate_series(1, %s) AS n RETURNING claim_id",
        (count,),
    )
    return [str(r[0]) for r in rows]


def reviews_per_second(bench: Bench, claims: list[str], timeout: float = 600) -> float:
    reviewed = [0]

    def all_reviewed() -> tuple[datetime, datetime] | None:
        rows = bench.sql(
            "SELECT count(*), min(updated_at), max(updated_at) FROM claims"
            " WHERE claim_id = ANY(%s::uuid[]) AND status IN ('approved', 'rejected')",
            (claims,),
        )
        reviewed[0], first, last = rows[0]
        return (first, last) if reviewed[0] == len(claims) else None

    first, last = wait_until(
        all_reviewed,
        timeout,
        f"all {len(claims)} claims are reviewed",
        interval=0.2,
        details=lambda: f"only {reviewed[0]} of {len(claims)} claims were reviewed",
    )
    return float((len(claims) - 1) / max((last - first).total_seconds(), 1e-6))


# --- 6. outbox delivery lag ---------------------------------------------------------------------


class QueueWatcher:
    """Notes when each job id appears on an RQ queue (and takes it off, as a worker would)."""

    def __init__(self, bench: Bench, queue: str) -> None:
        self.redis = redis.Redis.from_url(bench.redis_url, decode_responses=True)
        self.key = f"rq:queue:{queue}"
        self.arrivals: dict[str, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> QueueWatcher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(5)

    def _watch(self) -> None:
        while not self.stopping.is_set():
            popped = self.redis.blpop([self.key], timeout=0.2)
            if popped is not None:
                self.arrivals[str(popped[1])] = time.time()

    def wait_for(self, count: int, timeout: float) -> None:
        """Until `count` jobs have arrived, for at most `timeout` s (the lags are of those that
        did)."""
        wait_until(
            lambda: len(self.arrivals) >= count,
            timeout,
            f"{count} jobs arrive",
            interval=0.05,
            fail=False,
        )


def outbox_lag(bench: Bench) -> Scenario:
    scenario = Scenario(
        "outbox",
        "6. Outbox delivery lag: commit to message visible in Redis",
        "Fast path: POST /probe on a Portico function publishing one message per request, "
        f"{bench.profile.outbox_rate:.0f} req/s; lag from the handler's publish call (just "
        "before the commit, so the commit is included) to the job id appearing on its RQ queue. "
        "Relay path: outbox rows committed with no fast path, delivered by `portico relay`, "
        f"which leaves each row to the fast path for {Settings.relay_grace_seconds:g} s first "
        "(PORTICO_RELAY_GRACE_SECONDS) and polls every 0.2 s; lag from the commit.",
        [("p50_ms", "p50 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}"),
         ("max_ms", "max ms", "{:.1f}"), ("samples", "messages", "{:d}")],
        chart=["p50_ms", "p99_ms"],
        chart_label="delivery lag (ms, log scale)",
    )  # fmt: skip
    env = bench.env(BENCH_FUNCTIONS)
    relay_port, probe_port = port(), port()
    relay = bench.server(
        "relay", portico("relay", "--port", str(relay_port)), env, local(relay_port, "/readyz")
    )
    probe = bench.server(
        "outbox-probe",
        portico("serve", "outbox-probe", "--port", str(probe_port)),
        env,
        local(probe_port, "/readyz"),
    )
    relay.start()
    probe.start()
    with QueueWatcher(bench, "bench-outbox") as watcher, bench.step("fast path"):
        measured_from = time.time() + bench.profile.warmup
        result = bench.load(
            local(probe_port, "/probe"), rate=bench.profile.outbox_rate, method="POST", body="{}"
        )
        watcher.wait_for(result["requests"], timeout=10)
        lags = fast_path_lags(bench, watcher.arrivals, measured_from)
    scenario.rows.append(lag_row("fast path (the function, right after commit)", lags))
    with QueueWatcher(bench, "bench-outbox") as watcher, bench.step("relay path"):
        committed = write_outbox_rows(bench, rate=bench.profile.outbox_rate / 5)
        watcher.wait_for(len(committed), timeout=Settings.relay_grace_seconds + 30)
        lags = [
            watcher.arrivals[f"msg-{m}"] - at
            for m, at in committed.items()
            if f"msg-{m}" in watcher.arrivals
        ]
    scenario.rows.append(lag_row(f"relay path ({Settings.relay_grace_seconds:g} s grace)", lags))
    bench.record_memory("relay", relay)
    probe.stop()
    relay.stop()
    return scenario


def fast_path_lags(bench: Bench, arrivals: dict[str, float], since: float) -> list[float]:
    lags = []
    connection = bench.redis()
    for job_id, arrived in arrivals.items():
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        published = float(job.args[0]["payload"]["publishedAt"])
        if published >= since:
            lags.append(arrived - published)
    return lags


def write_outbox_rows(bench: Bench, rate: float) -> dict[str, float]:
    """Commit one outbox row at a time at `rate`; returns message id -> commit time."""
    committed: dict[str, float] = {}
    count = round(rate * bench.profile.duration)
    with psycopg.connect(bench.database_url) as conn:
        started = time.monotonic()
        for i in range(count):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            message_id = uuid.uuid4().hex
            message: dict[str, Any] = {"id": message_id, "queue": "bench-outbox", "payload": {}}
            with conn.transaction():
                outbox.write(conn, "bench-outbox", message)  # type: ignore[arg-type]
            committed[message_id] = time.time()
    return committed


def lag_row(variant: str, lags: Sequence[float]) -> Row:
    ordered = sorted(lag * 1000 for lag in lags)
    if not ordered:
        raise RuntimeError(f"{variant}: no message arrived")
    return {
        "variant": variant,
        "p50_ms": percentile(ordered, 0.50),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1],
        "samples": len(ordered),
    }


# --- 7. memory ----------------------------------------------------------------------------------


def memory(bench: Bench) -> Scenario:
    scenario = Scenario(
        "memory",
        "7. Memory per process",
        "Measured right after each process's load in the scenarios above. RSS of the process "
        "that serves (gunicorn's worker for HTTP functions); PSS of the whole process tree "
        "(gunicorn's arbiter too), where pages shared after the fork count once in total.",
        [("rss_mib", "RSS MiB", "{:.1f}"), ("pss_mib", "tree PSS MiB", "{:.1f}"),
         ("ratio", "RSS vs bare Flask", "{:.2f}x")],
        chart=["rss_mib"],
        chart_label="RSS (MiB)",
    )  # fmt: skip
    scenario.rows = [dict(row) for row in bench.memory]
    for row in scenario.rows:
        row["baseline"] = row["variant"].startswith("bare Flask")
    if any(row["baseline"] for row in scenario.rows):
        add_ratios(scenario.rows, "rss_mib")
    return scenario


ALL: list[Callable[[Bench], Scenario]] = [
    runtime_overhead,
    claims_write_path,
    gateway_overhead,
    cold_start,
    worker_throughput,
    outbox_lag,
    memory,
]
