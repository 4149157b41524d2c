"""The dev gateway's policies, against real functions behind it: Kong's request-size-limiting,
rate-limiting (Redis) and proxy-cache behaviour, status codes, headers and bodies."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import TEST_FUNCTIONS_DIR, Services
from tests.processes import behind_a_gateway

pytestmark = pytest.mark.integration

ALICE = {"apikey": "alice-dev-key"}
BOB = {"apikey": "bob-dev-key"}
FUNCTIONS = ("limited", "cached", "shaped-body", "shared")


@pytest.fixture(scope="module")
def gateway_url(services: Services) -> Iterator[str]:
    env = services.process_env(TEST_FUNCTIONS_DIR)
    with behind_a_gateway(FUNCTIONS, env) as (gateway, _):
        yield gateway.url


@pytest.fixture()
def api(gateway_url: str, clean_state: Services) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=10) as client:
        yield client


def start_of_a_second() -> None:
    """Wait for a fresh second, so a quick burst stays inside one per-second window, and not
    one in a minute's last seconds, so a test spanning two seconds stays in one minute."""
    if time.time() % 60 > 56:
        time.sleep(60 - time.time() % 60)
    time.sleep(1 - time.time() % 1 + 0.01)


def test_a_burst_over_the_limit_gets_kongs_429(api):
    start_of_a_second()
    responses = [api.get("/limited", headers=ALICE) for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    refused = responses[-1]
    assert refused.json() == {"message": "API rate limit exceeded"}
    assert refused.headers["Retry-After"] == "1"  # the second window resets first
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Remaining-Second"] == "0"
    assert refused.headers["X-RateLimit-Limit-Minute"] == "5"
    first = responses[0]
    assert (
        first.headers["RateLimit-Remaining"],
        first.headers["X-RateLimit-Remaining-Minute"],
    ) == (
        "2",
        "4",
    )


def test_the_minute_window_holds_across_seconds_and_consumers_are_separate(api):
    start_of_a_second()
    first_second = [api.get("/limited", headers=ALICE).status_code for _ in range(3)]
    start_of_a_second()
    second_second = [api.get("/limited", headers=ALICE) for _ in range(3)]

    assert first_second == [200, 200, 200]
    assert [r.status_code for r in second_second] == [200, 200, 429]
    refused = second_second[-1]
    assert refused.headers["X-RateLimit-Remaining-Minute"] == "0"
    assert refused.headers["RateLimit-Limit"] == "5"  # the minute is now the tightest window
    assert int(refused.headers["Retry-After"]) > 1
    assert api.get("/limited", headers=BOB).status_code == 200


def test_an_oversized_body_is_413_from_the_gateway(api):
    big = {"kind": "circle", "size": 1, "tags": ["x" * 300]}
    response = api.put("/shapes/s1", json=big, headers=ALICE)

    assert response.status_code == 413
    assert response.json() == {
        "message": "Request size limit exceeded"
    }  # Kong's, not the function's
    assert (
        api.put("/shapes/s1", json={"kind": "circle", "size": 1}, headers=ALICE).status_code == 200
    )


def test_get_responses_are_cached_per_consumer_path_and_query(api):
    miss = api.get("/cached/a", headers=ALICE)
    hit = api.get("/cached/a", headers=ALICE)
    other_query = api.get("/cached/a", params={"v": "2"}, headers=ALICE)
    other_consumer = api.get("/cached/a", headers=BOB)

    assert miss.headers["X-Cache-Status"] == "Miss"
    assert hit.headers["X-Cache-Status"] == "Hit"
    assert hit.json() == miss.json()
    assert "Age" in hit.headers
    assert hit.headers["X-Cache-Key"] == miss.headers["X-Cache-Key"]
    assert other_query.headers["X-Cache-Status"] == "Miss"
    assert other_consumer.headers["X-Cache-Status"] == "Miss"
    assert other_consumer.json()["servedAt"] != miss.json()["servedAt"]


def test_cached_entries_expire_after_their_ttl(api):
    first = api.get("/cached/b", headers=ALICE)
    time.sleep(2.1)
    after = api.get("/cached/b", headers=ALICE)

    assert after.headers["X-Cache-Status"] == "Miss"
    assert after.json()["servedAt"] != first.json()["servedAt"]


def test_errors_are_not_cached(api):
    response = api.get("/cached/c", headers={"apikey": "wrong"})
    assert response.status_code == 401
    assert "X-Cache-Status" not in response.headers


def test_a_preflight_is_answered_by_the_gateway_without_a_key(api):
    response = api.options(
        "/shared",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "apikey",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert response.headers["Access-Control-Allow-Headers"] == "apikey"
    assert response.headers["Access-Control-Max-Age"] == "600"


def test_answers_carry_the_allowed_origin_even_rejections(api):
    allowed = api.get("/shared", headers={**ALICE, "Origin": "https://admin.example.com:8443"})
    unknown = api.get("/shared", headers={**ALICE, "Origin": "https://evil.example.com"})
    no_key = api.get("/shared", headers={"Origin": "https://app.example.com"})

    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://admin.example.com:8443"
    assert allowed.headers["Vary"] == "Origin"
    assert unknown.status_code == 200 and "Access-Control-Allow-Origin" not in unknown.headers
    assert no_key.status_code == 401
    assert no_key.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
