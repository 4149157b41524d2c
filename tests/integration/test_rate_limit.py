"""Rate limit counters on real Redis: exact under concurrency from several gateways."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from portico.manifest import RateLimit
from portico.policies.rate_limit import RateLimiter, Window, kong_headers
from tests.conftest import Services

pytestmark = pytest.mark.integration


def test_two_gateways_together_admit_exactly_the_limit(clean_state: Services):
    limits = RateLimit(per_second=None, per_minute=50, per_hour=None)

    async def burst() -> list[bool]:
        gateways = [RateLimiter(Redis.from_url(clean_state.redis_url)) for _ in range(2)]
        now = 1_000_000_020.0  # one fixed minute for every request
        decisions = await asyncio.gather(
            *(gateways[i % 2].check("fn", "alice", limits, now) for i in range(200))
        )
        for gateway in gateways:
            await gateway.redis.aclose()
        return [d.allowed for d in decisions]

    allowed = asyncio.run(burst())
    assert allowed.count(True) == 50
    assert len(allowed) == 200


def test_redis_down_lets_requests_through_like_kongs_fault_tolerant_default():
    async def check() -> bool:
        limiter = RateLimiter(
            Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
        )
        decision = await limiter.check("fn", "alice", RateLimit(1, None, None), 0.0)
        await limiter.redis.aclose()
        return decision.allowed and decision.headers == {}

    assert asyncio.run(check())


def test_headers_name_every_window_and_reset_the_tightest():
    windows: list[tuple[Window, int]] = [("second", 10), ("minute", 100)]
    headers = kong_headers(windows, [10, 40], now=120.25, allowed=False)
    assert headers == {
        "X-RateLimit-Limit-Second": "10",
        "X-RateLimit-Remaining-Second": "0",
        "X-RateLimit-Limit-Minute": "100",
        "X-RateLimit-Remaining-Minute": "60",
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "1",
        "Retry-After": "1",
    }
    tie = kong_headers([("second", 5), ("minute", 5)], [0, 0], now=90.0, allowed=True)
    assert (tie["RateLimit-Limit"], tie["RateLimit-Reset"]) == ("5", "30")  # longer window wins
