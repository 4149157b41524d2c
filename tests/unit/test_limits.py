from __future__ import annotations

import pytest

from portico.manifest import load_all
from portico.manifest.limits import (
    connection_problems,
    connection_use,
    timeout_chain,
    timeout_problems,
)
from tests.conftest import FUNCTIONS_DIR

CLAIMS = load_all(FUNCTIONS_DIR)


def test_worst_case_connections_count_pool_probe_relay_and_migrations():
    uses = {u.name: (u.processes, u.per_process) for u in connection_use(CLAIMS)}
    assert uses == {
        "submit-claim": (5, 9),  # default scale.max 5, concurrency 8 + 1 probe
        "get-claim": (3, 5),
        "list-claims": (3, 5),
        "claim-status": (2, 3),
        "review-claim": (5, 2),  # a worker's pool is 1
        "relay": (1, 2),
        "migrations": (1, 1),
    }
    assert sum(u.total for u in connection_use(CLAIMS)) == 94


def test_the_budget_is_enforced_and_the_message_names_the_biggest_users():
    assert connection_problems(CLAIMS, 94) == []
    [problem] = connection_problems(CLAIMS, 93)
    assert "worst case 94 Postgres connections exceeds the budget of 93" in problem
    assert "submit-claim 5x9=45" in problem


def test_the_timeout_chain_shrinks_inward(monkeypatch):
    submit = next(m for m in CLAIMS if m.name == "submit-claim")
    assert timeout_chain(submit) == (25, 20, 20)
    assert timeout_problems(CLAIMS) == []
    monkeypatch.setenv("PORTICO_GATEWAY_TIMEOUT_MARGIN_SECONDS", "0")
    problems = timeout_problems(CLAIMS)
    assert len(problems) == 4
    assert any(p.startswith("submit-claim: timeouts must shrink inward") for p in problems)


@pytest.mark.parametrize("budget", [1, 50])
def test_a_small_budget_always_fails(budget):
    assert connection_problems(CLAIMS, budget)
