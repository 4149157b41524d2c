from __future__ import annotations

from pathlib import Path

import pytest

from portico.manifest import Manifest, load_all, load_manifest
from portico.manifest.limits import (
    GATEWAY_MARGIN_SECONDS,
    connection_problems,
    connection_use,
    timeout_chain,
    timeout_problems,
    upstream_timeout_seconds,
)
from portico.state.transaction import CANCEL_SECONDS
from tests.conftest import FUNCTIONS_DIR

CLAIMS = load_all(FUNCTIONS_DIR / "claims")  # the claims app alone, whatever else ships


def test_worst_case_connections_count_pool_probe_relay_and_migrations():
    uses = {u.name: (u.processes, u.per_process) for u in connection_use(CLAIMS)}
    assert uses == {
        "submit-claim": (3, 9),  # scale.max 3, default concurrency 8 + 1 probe
        "get-claim": (3, 5),
        "list-claims": (3, 5),
        "claim-status": (2, 3),
        "review-claim": (4, 2),  # a worker's pool is 1
        "relay": (1, 2),
        "migrations": (1, 1),
    }
    assert sum(u.total for u in connection_use(CLAIMS)) == 74


def test_the_budget_is_enforced_and_the_message_names_the_biggest_users():
    assert connection_problems(CLAIMS, 74) == []
    [problem] = connection_problems(CLAIMS, 73)
    assert "worst case 74 Postgres connections exceeds the budget of 73" in problem
    assert "submit-claim 3x9=27" in problem


def chains(margin_seconds: int, cancel_seconds: float = CANCEL_SECONDS) -> list[str]:
    return timeout_problems(CLAIMS, margin_seconds=margin_seconds, cancel_seconds=cancel_seconds)


def test_the_timeout_chain_shrinks_inward():
    submit = next(m for m in CLAIMS if m.name == "submit-claim")
    chain = timeout_chain(submit, margin_seconds=5, cancel_seconds=CANCEL_SECONDS)
    assert (chain.gateway, chain.answer, chain.deadline) == (25, 21.0, 20)
    assert chains(GATEWAY_MARGIN_SECONDS) == []


@pytest.mark.parametrize("margin_seconds", [0, 1])
def test_a_gateway_that_gives_up_before_the_functions_own_504_is_reported(margin_seconds):
    problems = chains(margin_seconds)
    assert len(problems) == 4  # every HTTP function of the claims app, none of its workers
    [submit] = [p for p in problems if p.startswith("submit-claim:")]
    assert f"the gateway gives up after {20 + margin_seconds} s" in submit
    assert "must be more than 1 s" in submit


def test_the_chain_counts_the_time_to_cancel_a_statement():
    assert chains(3, cancel_seconds=2.5) == []
    assert len(chains(3, cancel_seconds=3.0)) == 4


def test_the_margin_is_an_argument_not_the_environment(monkeypatch):
    monkeypatch.setenv("PORTICO_GATEWAY_TIMEOUT_MARGIN_SECONDS", "0")
    submit = next(m for m in CLAIMS if m.name == "submit-claim")
    assert upstream_timeout_seconds(submit) == 25
    assert upstream_timeout_seconds(submit, 9) == 29


@pytest.mark.parametrize("budget", [1, 50])
def test_a_small_budget_always_fails(budget):
    assert connection_problems(CLAIMS, budget)


def with_dependency(tmp_path: Path, timeout: str, function_timeout: int = 5) -> Manifest:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "app.py").touch()
    path = tmp_path / "pay.yaml"
    path.write_text(
        "api: {route: POST /pay}\n"
        f"function: {{handler: src/app.pay, timeout_seconds: {function_timeout}}}\n"
        f"dependencies:\n  payments: {{timeout_seconds: {timeout}}}\n"
    )
    return load_manifest(path)


@pytest.mark.parametrize("timeout", ["5", "7.5"])
def test_a_dependency_that_may_wait_as_long_as_the_function_is_reported(tmp_path, timeout):
    [problem] = chains_of([with_dependency(tmp_path, timeout)])
    assert problem.startswith(f"pay: dependency payments waits up to {timeout} s per call")
    assert "the function's timeout_seconds of 5 s" in problem


def test_a_dependency_shorter_than_the_function_fits_the_chain(tmp_path):
    assert chains_of([with_dependency(tmp_path, "4.9")]) == []


def chains_of(manifests: list[Manifest]) -> list[str]:
    return timeout_problems(
        manifests, margin_seconds=GATEWAY_MARGIN_SECONDS, cancel_seconds=CANCEL_SECONDS
    )
