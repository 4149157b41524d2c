"""The dev gateway's response cache, with Kong `proxy-cache`'s behaviour (strategy `memory`):
`X-Cache-Status: Miss|Hit|Bypass`, `X-Cache-Key`, and `Age` on hits. Memory is per gateway
process, as Kong's is per node. What is cached, and under which key, is
`portico.policies.response_cache`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from multidict import CIMultiDict

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Entry:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    stored_at: float
    expires_at: float


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
