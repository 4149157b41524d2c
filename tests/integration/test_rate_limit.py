"""Rate limit counters on real Redis: exact under concurrency from several gateways."""

from __future__ import annotations

import asyncio

import pytest
import redis

from portico.manifest import RateLimit
from portico.policies.rate_limit import KEY_PREFIX, RateLimiter, Window, kong_headers
from tests.conftest import Services

pytestmark = pytest.mark.integration


def test_two_gateways_together_admit_exactly_the_limit(clean_state: Services):
    limits = RateLimit(per_second=None, per_minute=50, per_hour=None)

    async def burst() -> list[bool]:
        # Each limiter pipelines its hundred calls on its one connection.
        gateways = [RateLimiter(clean_state.redis_url) for _ in range(2)]
        now = 1_000_000_020.0  # one fixed minute for every request
        decisions = await asyncio.gather(
            *(gateways[i % 2].check("fn", "alice", limits, now) for i in range(200))
        )
        for gateway in gateways:
            await gateway.aclose()
        return [d.allowed for d in decisions]

    allowed = asyncio.run(burst())
    assert allowed.count(True) == 50
    assert len(allowed) == 200


def test_redis_down_lets_requests_through_like_kongs_fault_tolerant_default():
    async def check() -> bool:
        limiter = RateLimiter("redis://127.0.0.1:1", timeout=0.2)
        decision = await limiter.check("fn", "alice", RateLimit(1, None, None), 0.0)
        await limiter.aclose()
        return decision.allowed and decision.headers == {}

    assert asyncio.run(check())


def test_a_redis_that_forgot_the_script_gets_it_again(clean_state: Services):
    limits = RateLimit(per_second=None, per_minute=3, per_hour=None)
    now = 1_000_000_020.0

    async def checks() -> list[bool]:
        limiter = RateLimiter(clean_state.redis_url)
        allowed = [(await limiter.check("fn", "bob", limits, now)).allowed]
        redis.Redis.from_url(clean_state.redis_url).script_flush()  # as a restarted Redis
        for _ in range(3):
            decision = await limiter.check("fn", "bob", limits, now)
            assert decision.headers, "counted, not let through for want of the script"
            allowed.append(decision.allowed)
        await limiter.aclose()
        return allowed

    assert asyncio.run(checks()) == [True, True, True, False]


def test_a_connection_redis_dropped_is_opened_again(clean_state: Services):
    limits = RateLimit(per_second=None, per_minute=100, per_hour=None)
    now = 1_000_000_020.0

    async def checks() -> list[dict[str, str]]:
        limiter = RateLimiter(clean_state.redis_url)
        first = await limiter.check("fn", "carol", limits, now)
        redis.Redis.from_url(clean_state.redis_url).client_kill_filter(_type="normal")
        await limiter.check("fn", "carol", limits, now)  # may pass uncounted: fault tolerant
        last = await limiter.check("fn", "carol", limits, now)
        await limiter.aclose()
        return [first.headers, last.headers]

    first, last = asyncio.run(checks())
    assert first["X-RateLimit-Remaining-Minute"] == "99"
    assert last["X-RateLimit-Remaining-Minute"] in ("98", "97")


def test_the_db_in_the_url_holds_the_counters(clean_state: Services):
    kwargs = redis.Redis.from_url(clean_state.redis_url).connection_pool.connection_kwargs
    url = f"redis://{kwargs['host']}:{kwargs['port']}/5"
    other = redis.Redis(host=kwargs["host"], port=kwargs["port"], db=5)
    other.flushdb()

    async def check() -> bool:
        limiter = RateLimiter(url)
        decision = await limiter.check("fn", "dave", RateLimit(None, 10, None), 1_000_000_020.0)
        await limiter.aclose()
        return decision.allowed and bool(decision.headers)

    try:
        assert asyncio.run(check())
        assert other.keys(f"{KEY_PREFIX}:fn:dave:*")
    finally:
        other.flushdb()


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
