"""What only a local `portico dev` can show: its logs and its OpenAPI endpoint. The API
contract itself is tested by tests/conformance, against any gateway."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from portico.local.ports import free_port
from tests.conftest import Services, scratch_dir
from tests.integration.devstack import DevStack

pytestmark = pytest.mark.integration

ALICE = {"apikey": "alice-dev-key"}


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[DevStack]:
    dev = DevStack(
        scratch_dir("portico-test-dev-"),
        free_port(),
        env=services.urls,
        extra_args=("--no-scale-to-zero",),
    )
    try:
        dev.wait_ready()
        yield dev
    finally:
        dev.stop()


@pytest.fixture()
def api(stack: DevStack, clean_state: Services) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def test_request_ids_appear_in_the_function_logs(api, stack):
    api.post("/claims", json={}, headers={**ALICE, "X-Request-ID": "find-me-in-logs"})
    time.sleep(0.5)
    tagged = [
        line for line in stack.text().splitlines() if '"request_id": "find-me-in-logs"' in line
    ]
    assert any(" submit-claim " in line and "-> 422" in line for line in tagged), tagged
    assert any(" gateway " in line and "-> 422" in line for line in tagged), tagged


def test_the_gateway_serves_the_openapi_document(api):
    from portico.manifest import load_all
    from portico.render.openapi import render
    from tests.conftest import FUNCTIONS_DIR

    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == render(load_all(FUNCTIONS_DIR))
