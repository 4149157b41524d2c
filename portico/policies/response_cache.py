"""The response cache's rules for GET routes with `api.cache`, as Kong `proxy-cache` has them
(strategy `memory`): keyed by consumer, method, path and query; answers with a cacheable status
and a JSON body are stored for `ttl_seconds`. Rendered into Kong's plugin by
`portico.render.kong`; the dev gateway's store is `portico.gateway.cache`.
"""

from __future__ import annotations

import hashlib

CACHEABLE_STATUSES = frozenset({200, 301, 404})  # Kong's default response_code
CACHEABLE_TYPES = ("application/json",)


def cache_key(consumer_id: str, method: str, path: str, query: list[tuple[str, str]]) -> str:
    canonical = "|".join(
        [consumer_id, method, path, "&".join(f"{k}={v}" for k, v in sorted(query))]
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def cacheable(status: int, content_type: str) -> bool:
    return status in CACHEABLE_STATUSES and content_type.split(";")[0].strip() in CACHEABLE_TYPES
