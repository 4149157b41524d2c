"""Per-consumer rate limits for the dev gateway, with Kong's `rate-limiting` semantics (policy
`redis`): fixed windows aligned to the second/minute/hour, counters in Redis so several
gateway processes share them, and Kong's headers.

One Lua script checks every window and counts the request only if all have room, so the limit
is exact across processes: one EVALSHA per request, on a connection of its own
(portico.policies.redis_script). If Redis is unreachable the request goes through (Kong's
default, `fault_tolerant: true`) and the failure is logged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

from portico.manifest import RateLimit
from portico.policies.redis_script import ScriptClient

log = logging.getLogger("portico.policies.rate_limit")

# Kong's window names (its plugin's config fields, its headers' suffixes), with their lengths.
Window = Literal["second", "minute", "hour"]
WINDOWS: dict[Window, int] = {"second": 1, "minute": 60, "hour": 3600}
KEY_PREFIX = "portico:ratelimit"
HEADERS: dict[Window, tuple[str, str]] = {
    name: (f"X-RateLimit-Limit-{name.title()}", f"X-RateLimit-Remaining-{name.title()}")
    for name in WINDOWS
}

# KEYS: one counter per window; ARGV: the limits, then the TTLs, in the same order.
# Returns the usage of every window after this request, and 1 if it was counted (allowed).
CHECK_AND_COUNT = """
local n = #KEYS
local usage, full = {}, false
for i = 1, n do
  usage[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if usage[i] >= tonumber(ARGV[i]) then full = true end
end
if full then
  usage[n + 1] = 0
  return usage
end
for i = 1, n do
  usage[i] = redis.call('INCR', KEYS[i])
  if usage[i] == 1 then redis.call('EXPIRE', KEYS[i], ARGV[n + i]) end
end
usage[n + 1] = 1
return usage
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    headers: dict[str, str]


def configured_windows(limits: RateLimit) -> list[tuple[Window, int]]:
    pairs: list[tuple[Window, int | None]] = [
        ("second", limits.per_second),
        ("minute", limits.per_minute),
        ("hour", limits.per_hour),
    ]
    return [(name, limit) for name, limit in pairs if limit is not None]


@dataclass(frozen=True)
class Plan:
    """What a route's limits mean for every request: worked out once per route."""

    windows: list[tuple[Window, int]]
    limits: list[int]
    ttls: list[int]


def plan(limits: RateLimit) -> Plan:
    windows = configured_windows(limits)
    return Plan(windows, [lim for _, lim in windows], [WINDOWS[name] + 1 for name, _ in windows])


class RateLimiter:
    """Counters in the Redis at `url`; `timeout` bounds the connect and each answer (past it,
    the request goes through)."""

    def __init__(self, url: str, timeout: float = 0.5) -> None:
        self.counters = ScriptClient(url, CHECK_AND_COUNT, timeout)
        self.plans: dict[RateLimit, Plan] = {}

    async def check(self, scope: str, identifier: str, limits: RateLimit, now: float) -> Decision:
        route = self.plans.get(limits)
        if route is None:
            route = self.plans[limits] = plan(limits)
        keys = [key(scope, identifier, name, now) for name, _ in route.windows]
        try:
            result = await self.counters.run(keys, [*route.limits, *route.ttls])
            if not isinstance(result, list):
                raise ConnectionError(f"unexpected answer from the script: {result!r}")
            *usage, counted = (int(value) for value in result)
        except Exception as exc:
            log.error("rate limit counters unavailable, letting the request through: %s", exc)
            return Decision(True, {})
        allowed = counted == 1
        return Decision(allowed, kong_headers(route.windows, usage, now, allowed))

    async def aclose(self) -> None:
        await self.counters.aclose()


def key(scope: str, identifier: str, window: Window, now: float) -> str:
    start = int(now // WINDOWS[window]) * WINDOWS[window]
    return f"{KEY_PREFIX}:{scope}:{identifier}:{window}:{start}"


def kong_headers(
    windows: list[tuple[Window, int]], usage: list[int], now: float, allowed: bool
) -> dict[str, str]:
    """X-RateLimit-*-<Window> for each window; RateLimit-* for the tightest (the least
    remaining, the longer window on a tie); Retry-After when the request is refused."""
    headers: dict[str, str] = {}
    tightest: tuple[int, int, int] | None = None  # (remaining, -window, limit)
    for (name, limit), used in zip(windows, usage, strict=True):
        remaining = max(0, limit - used)
        limit_header, remaining_header = HEADERS[name]
        headers[limit_header] = str(limit)
        headers[remaining_header] = str(remaining)
        candidate = (remaining, -WINDOWS[name], limit)
        if tightest is None or candidate < tightest:
            tightest = candidate
    assert tightest is not None
    remaining, negative_window, limit = tightest
    window = -negative_window
    reset = max(1, math.ceil(window - (now % window)))
    headers |= {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }
    if not allowed:
        headers["Retry-After"] = str(reset)
    return headers
