"""Per-consumer rate limits for the dev gateway, with Kong's `rate-limiting` semantics (policy
`redis`): fixed windows aligned to the second/minute/hour, counters in Redis so several
gateway processes share them, and Kong's headers.

One Lua script checks every window and counts the request only if all have room, so the limit
is exact across processes. If Redis is unreachable the request goes through (Kong's default,
`fault_tolerant: true`) and the failure is logged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from portico.manifest import RateLimit

log = logging.getLogger("portico.policies.rate_limit")

# Kong's window names (its plugin's config fields, its headers' suffixes), with their lengths.
Window = Literal["second", "minute", "hour"]
WINDOWS: dict[Window, int] = {"second": 1, "minute": 60, "hour": 3600}
KEY_PREFIX = "portico:ratelimit"

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


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.script = redis.register_script(CHECK_AND_COUNT)

    async def check(self, scope: str, identifier: str, limits: RateLimit, now: float) -> Decision:
        windows = configured_windows(limits)
        keys = [key(scope, identifier, name, now) for name, _ in windows]
        ttls = [WINDOWS[name] + 1 for name, _ in windows]
        try:
            result = await self.script(keys=keys, args=[*(lim for _, lim in windows), *ttls])
        except Exception as exc:
            log.error("rate limit counters unavailable, letting the request through: %s", exc)
            return Decision(True, {})
        *usage, counted = (int(value) for value in result)
        allowed = counted == 1
        return Decision(allowed, kong_headers(windows, usage, now, allowed))


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
        headers[f"X-RateLimit-Limit-{name.title()}"] = str(limit)
        headers[f"X-RateLimit-Remaining-{name.title()}"] = str(remaining)
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
