"""Scale from and to zero on a laptop: the dev gateway starts a function on its first request
and stops it when idle."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from portico.local.ports import free_port
from tests.conftest import TEST_FUNCTIONS_DIR, Services
from tests.processes import Process

pytestmark = pytest.mark.integration


@pytest.fixture()
def gateway(services: Services) -> Iterator[str]:
    env = services.process_env(TEST_FUNCTIONS_DIR)
    port = free_port()
    on_demand = ["--scale-to-zero", f"cached={free_port()}"]
    on_demand += ["--scale-to-zero", f"broken-start={free_port()}"]
    process = Process(
        ["gateway", "--port", str(port), "--idle-seconds", "2", *on_demand], env, port
    )
    try:
        process.wait_ready(path="/healthz")
        yield process.url
    finally:
        process.stop()


def test_the_first_request_starts_the_function_and_idleness_stops_it(gateway):
    alice = {"apikey": "alice-dev-key"}
    with httpx.Client(base_url=gateway, timeout=60) as api:
        cold = api.get("/cached/x", headers=alice)
        warm = api.get("/cached/y", headers=alice)
        time.sleep(4)  # idle for 2 s, checked every second
        cold_again = api.get("/cached/z", headers=alice)
        metrics = api.get("/metrics").text

    assert cold.status_code == 200
    assert cold.headers["X-Portico-Cold-Start"] == "true"
    assert int(cold.headers["X-Portico-Cold-Start-Ms"]) > 0
    assert warm.status_code == 200 and "X-Portico-Cold-Start" not in warm.headers
    assert cold_again.headers["X-Portico-Cold-Start"] == "true"  # it had been stopped
    assert 'portico_gateway_cold_starts_total{function="cached"} 2.0' in metrics


def test_a_function_that_cannot_start_gets_503_with_retry_after(gateway):
    response = httpx.get(f"{gateway}/broken", timeout=60)

    assert response.status_code == 503
    assert response.json() == {"message": "The function could not be started"}
    assert response.headers["Retry-After"] == "5"


def test_a_port_held_by_another_function_is_never_mistaken_for_ours(services):
    """The function on the port answers /readyz, but with its own name: the gateway must not
    route to it (it would answer someone else's requests)."""
    env = services.process_env(TEST_FUNCTIONS_DIR)
    taken = free_port()
    impostor = Process(["serve", "cached", "--port", str(taken)], env, taken)
    port = free_port()
    gateway = Process(
        ["gateway", "--port", str(port), "--scale-to-zero", f"shared={taken}"], env, port
    )
    try:
        impostor.wait_ready()
        gateway.wait_ready(path="/healthz")
        response = httpx.get(
            f"{gateway.url}/shared", headers={"apikey": "alice-dev-key"}, timeout=60
        )
    finally:
        gateway.stop()
        impostor.stop()

    assert response.status_code == 503
    assert response.json() == {"message": "The function could not be started"}
