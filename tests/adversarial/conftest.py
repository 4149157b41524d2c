"""The adversarial suite's targets: a `portico dev` of its own (all functions warm) on the test
session's Postgres and Redis, as tests/conformance does, and a small gateway + function pair
serving tests/functions/adversarial (functions that report what reached them), with a gateway
secret the suite knows.

Every request goes through tests.adversarial.harness, which fails a test on any 5xx, non-JSON
error body, stack trace, or another consumer's data in an answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import pytest

from portico.local.ports import free_port
from portico.manifest import load_all
from tests.adversarial.checks import Ownership
from tests.adversarial.harness import Api, ClaimOwners, function_ports
from tests.conftest import ROOT, Services, scratch_dir
from tests.integration.devstack import DevStack
from tests.processes import behind_a_gateway

ADVERSARIAL_FUNCTIONS_DIR = ROOT / "tests" / "functions" / "adversarial"
ECHO_FUNCTIONS = ("echo-headers", "echo-jwt-headers", "echo-body")
MARKER = "{consumer}-marker"  # in every description the suite submits, to spot it elsewhere


FAILURES: list[str] = []  # each failed test with the exact request and answer it saw


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.excinfo is not None:
        message = str(call.excinfo.value).strip()
        if len(message) > 1500:
            message = message[:1500] + " …"
        FAILURES.append(f"{item.nodeid}\n    " + message.replace("\n", "\n    "))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FAILURES:
        terminalreporter.section("adversarial suite: failures, with the exact request and answer")
        for failure in FAILURES:
            terminalreporter.write_line(failure)


@dataclass(frozen=True)
class Stack:
    base_url: str
    port: int
    functions: dict[str, int]  # function name -> the port its gunicorn listens on
    database_url: str


@pytest.fixture(scope="package")
def stack(services: Services) -> Iterator[Stack]:
    dev = DevStack(
        scratch_dir("portico-adversarial-"),
        free_port(),
        env=services.urls,
        extra_args=("--no-scale-to-zero",),
    )
    try:
        dev.wait_ready()
        ports = function_ports(dev.process.pid)
        expected = {"submit-claim", "get-claim", "list-claims", "claim-status"}
        assert expected <= set(ports), f"function ports not found: {ports}\n{dev.text()}"
        yield Stack(dev.base_url, dev.port, ports, services.database_url)
    finally:
        dev.stop()


@pytest.fixture(scope="package")
def ownership(stack: Stack) -> Iterator[Ownership]:
    owners = ClaimOwners(stack.database_url)
    found = Ownership(owners)
    for policy_id, owner, holder in owners.policies():
        found.add(owner, policy_id)
        if holder:
            found.add(owner, holder)
    for consumer in ("alice", "bob"):
        found.add(consumer, MARKER.format(consumer=consumer))
    try:
        yield found
    finally:
        owners.close()


@pytest.fixture(scope="package")
def api(stack: Stack, ownership: Ownership) -> Iterator[Api]:
    client = Api(stack.base_url, ownership)
    try:
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class EchoPair:
    """`portico gateway` in front of `portico serve` for each echo function."""

    api: Api
    gateway_port: int
    functions: dict[str, int]
    secret: str


@pytest.fixture(scope="package")
def echo(services: Services, ownership: Ownership) -> Iterator[EchoPair]:
    secret = secrets.token_urlsafe(24)
    env = services.process_env(ADVERSARIAL_FUNCTIONS_DIR, PORTICO_GATEWAY_SECRET=secret)
    with behind_a_gateway(ECHO_FUNCTIONS, env) as (gateway, functions):
        client = Api(gateway.url, ownership, manifests=load_all(ADVERSARIAL_FUNCTIONS_DIR))
        ports = {name: function.port for name, function in functions.items() if function.port}
        assert gateway.port is not None
        try:
            yield EchoPair(client, gateway.port, ports, secret)
        finally:
            client.close()
