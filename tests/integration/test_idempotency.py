"""Idempotency-Key on POST /claims, through the runtime, on real Postgres and Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from portico import headers
from portico.manifest import load_all
from portico.runtime.app import create_app
from tests.conftest import FUNCTIONS_DIR, TEST_FUNCTIONS_DIR, Services, open_resources
from tests.identity import GATEWAY_SECRET, caller

pytestmark = pytest.mark.integration

ALICE = caller("alice", "a")
BOB = caller("bob", "b")
PHOTO = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}


@pytest.fixture()
def client(clean_state: Services) -> Iterator[FlaskClient]:
    manifests = load_all(FUNCTIONS_DIR)
    resources = open_resources(clean_state.database_url, clean_state.redis_url, FUNCTIONS_DIR, 8)
    manifest = next(m for m in manifests if m.name == "submit-claim")
    yield create_app(manifest, resources, GATEWAY_SECRET).test_client()
    resources.close()


def claims(services: Services) -> int:
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM claims").fetchone()
        return int(row[0]) if row else 0


def post(client: FlaskClient, key: str | None, body: dict[str, Any] = PHOTO, who=ALICE) -> Any:
    extra = {headers.IDEMPOTENCY_KEY: key} if key is not None else {}
    return client.post("/claims", json=body, headers={**who, **extra})


def test_a_retry_with_the_same_key_replays_the_first_response(client, clean_state):
    first = post(client, '"retry-1"')
    again = post(client, "retry-1")  # bare and quoted forms name the same key

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers[headers.IDEMPOTENT_REPLAYED] == "true"
    assert headers.IDEMPOTENT_REPLAYED not in first.headers
    assert claims(clean_state) == 1


def test_the_same_key_with_a_different_body_is_422(client, clean_state):
    post(client, "k-2")
    response = post(client, "k-2", {**PHOTO, "documentKey": "claims/2026/other.jpg"})

    assert response.status_code == 422
    assert "different request" in response.get_json()["detail"]
    assert claims(clean_state) == 1


def test_keys_are_scoped_to_the_consumer(client, clean_state):
    assert post(client, "shared-key").status_code == 201
    assert post(client, "shared-key", {**PHOTO, "policyId": "P-2001"}, who=BOB).status_code == 201
    assert claims(clean_state) == 2


def test_without_a_key_every_request_runs(client, clean_state):
    post(client, None)
    post(client, None)
    assert claims(clean_state) == 2


def test_a_failed_request_stores_nothing_so_its_retry_runs(client, clean_state):
    assert post(client, "k-3", {**PHOTO, "policyId": "P-9999"}).status_code == 404
    assert post(client, "k-3").status_code == 201
    assert claims(clean_state) == 1


def test_an_expired_key_runs_again(client, clean_state):
    post(client, "k-4")
    with psycopg.connect(clean_state.database_url) as conn:
        conn.execute("UPDATE portico_idempotency_keys SET expires_at = now() - interval '1 s'")
    response = post(client, "k-4")

    assert response.status_code == 201
    assert headers.IDEMPOTENT_REPLAYED not in response.headers
    assert claims(clean_state) == 2


def test_a_malformed_key_is_400(client):
    response = post(client, '"unterminated')
    assert response.status_code == 400
    assert "Idempotency-Key" in response.get_json()["detail"]


def test_concurrent_retries_make_exactly_one_claim(client, clean_state):
    statuses: list[int] = []
    bodies: list[Any] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        response = post(client, "burst")
        statuses.append(response.status_code)
        bodies.append(response.get_json())

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert claims(clean_state) == 1
    assert set(statuses) <= {201, 409}, statuses
    assert len({b["claimId"] for b, s in zip(bodies, statuses, strict=True) if s == 201}) == 1
    conflict = next((b for b, s in zip(bodies, statuses, strict=True) if s == 409), None)
    if conflict is not None:
        assert "still being processed" in conflict["detail"]


def test_a_retry_while_the_first_is_still_running_is_409(clean_state):
    manifests = load_all(TEST_FUNCTIONS_DIR)
    resources = open_resources(clean_state.database_url, clean_state.redis_url, TEST_FUNCTIONS_DIR)
    slow = create_app(
        next(m for m in manifests if m.name == "write-then-sleep"), resources, GATEWAY_SECRET
    )
    client = slow.test_client()
    body = {"note": "slow", "sleep": 0.6}
    first: list[Any] = []
    try:
        running = threading.Thread(
            target=lambda: first.append(
                client.post("/writes", json=body, headers={headers.IDEMPOTENCY_KEY: "slow"})
            )
        )
        running.start()
        time.sleep(0.2)
        second = client.post("/writes", json=body, headers={headers.IDEMPOTENCY_KEY: "slow"})
        running.join()
        third = client.post("/writes", json=body, headers={headers.IDEMPOTENCY_KEY: "slow"})
    finally:
        resources.close()

    assert second.status_code == 409
    assert second.headers[headers.RETRY_AFTER] == "1"
    assert first[0].status_code == 200
    assert third.status_code == 200 and third.headers[headers.IDEMPOTENT_REPLAYED] == "true"
