"""The console's live requests: the gateway's latest requests, newest last, in a ring buffer.

Each has a sequence number, so the page asks only for what it has not seen (`since`).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any

MAX_REQUESTS = 500


@dataclass(frozen=True)
class RequestRecord:
    seq: int
    at: float  # seconds since the epoch, when the gateway received it
    method: str
    path: str
    route: str | None  # the manifest's route that matched, if one did
    function: str | None
    consumer: str | None
    status: int
    latency_ms: float
    request_id: str
    trace_id: str | None
    cold_start: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestFeed:
    def __init__(self, size: int = MAX_REQUESTS) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)
        self._next = 1
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> RequestRecord:
        """Keep `record` under the next sequence number (whatever its own `seq`)."""
        with self._lock:
            kept = replace(record, seq=self._next)
            self._next += 1
            self._records.append(kept)
        return kept

    def last(self) -> int:
        """The latest sequence number given (0 before any)."""
        with self._lock:
            return self._next - 1

    def since(self, after: int) -> list[RequestRecord]:
        """The records after sequence number `after` still held, oldest first; all of them for
        a number this feed never gave (a page that polled an earlier gateway)."""
        with self._lock:
            if after >= self._next:
                after = 0
            return [r for r in self._records if r.seq > after]
