"""The dev gateway's response cache for GET routes with `api.cache`, with Kong `proxy-cache`'s
behaviour (strategy `memory`): keyed by consumer, method, path and query; 200 answers with a
JSON body are stored for `ttl_seconds`; `X-Cache-Status: Miss|Hit|Bypass`, `X-Cache-Key`, and
`Age` on hits. Memory is per gateway process, as Kong's is per node.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

from multidict import CIMultiDict

CACHEABLE_STATUSES = frozenset({200, 301, 404})  # Kong's default response_code
CACHEABLE_TYPES = ("application/json",)
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Entry:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    stored_at: float
    expires_at: float


def cache_key(consumer_id: str, method: str, path: str, query: list[tuple[str, str]]) -> str:
    canonical = "|".join(
        [consumer_id, method, path, "&".join(f"{k}={v}" for k, v in sorted(query))]
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def cacheable(status: int, content_type: str) -> bool:
    return status in CACHEABLE_STATUSES and content_type.split(";")[0].strip() in CACHEABLE_TYPES


class ResponseCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.max_entries = max_entries

    def get(self, key: str, now: float | None = None) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if (now or time.time()) >= entry.expires_at:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
