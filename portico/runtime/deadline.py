"""Each invocation's deadline, watched by one thread per process.

The handler runs on the request's own thread; nothing is handed to a second one. The watchdog
keeps the invocations in flight by deadline. When one passes its deadline unsettled, the
watchdog runs its expiry: the runtime's expires the unit of work (the running statement is
cancelled and the transaction can no longer commit) and answers the client 504 itself, on the
request's socket, so a handler stuck anywhere (in Postgres, in a sleep, in a loop) still gets
its client an answer on time. The request thread, when it comes back, learns from `settle`
that its request was answered and must write nothing more.

Settled invocations leave the heap lazily, from its top: in steady traffic the watchdog wakes
about once per timeout, not once per request, and a request costs a heap push and two short
lock holds.
"""

from __future__ import annotations

import heapq
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable

from portico import headers, problems


class Watch:
    """One invocation's deadline. Its expiry returns whether it answered the client."""

    __slots__ = ("answered", "deadline", "done", "expiry", "settled")

    def __init__(self, deadline: float, expiry: Callable[[], bool]) -> None:
        self.deadline = deadline
        self.expiry = expiry
        self.settled = False
        self.answered = False
        self.done: threading.Event | None = None  # made when the expiry starts: it rarely does


class Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._wake_at: float | None = None  # None: waiting for work
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, expiry: Callable[[], bool]) -> Watch:
        """Run `expiry` at `deadline` (on the watchdog's thread) unless settled first."""
        watch = Watch(deadline, expiry)
        with self._cond:
            if self._thread is None:  # started on first use: never before a fork
                self._thread = threading.Thread(target=self._run, name="deadline", daemon=True)
                self._thread.start()
            self._drop_settled()
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._wake_at is None or deadline < self._wake_at:
                self._cond.notify()
        return watch

    def settle(self, watch: Watch) -> bool:
        """The invocation is over. Returns True when the watchdog answered its client (then the
        request thread must not); an expiry already running is waited for."""
        with self._cond:
            watch.settled = True
            done = watch.done
        if done is None:
            return False
        done.wait()
        return watch.answered

    def _drop_settled(self) -> None:
        while self._heap and self._heap[0][2].settled:
            heapq.heappop(self._heap)

    def _run(self) -> None:
        while True:
            for watch, done in self._next_expired():
                try:
                    watch.answered = watch.expiry()
                finally:
                    done.set()

    def _next_expired(self) -> list[tuple[Watch, threading.Event]]:
        with self._cond:
            while True:
                self._drop_settled()
                if not self._heap:
                    self._wake_at = None
                    self._cond.wait()
                    continue
                self._wake_at = self._heap[0][0]
                wait = self._wake_at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                expired = []
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    watch = heapq.heappop(self._heap)[2]
                    if not watch.settled:
                        watch.done = threading.Event()
                        expired.append((watch, watch.done))
                return expired


def answer(sock: socket.socket, problem: problems.Problem, request_id: str) -> None:
    """Write `problem` as the whole HTTP/1.1 answer on the request's socket and shut it: the
    request thread's own answer, if it ever comes, then fails to write (gunicorn ignores a
    broken pipe) instead of reaching the client."""
    payload = json.dumps(problem.body(request_id)).encode()
    head = (
        f"HTTP/1.1 {problem.status} {problem.title}\r\n"
        f"Server: {headers.SERVER_NAME}\r\n"
        f"Content-Type: {problems.PROBLEM_JSON}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"{headers.REQUEST_ID}: {request_id}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in problem.headers.items())
        + "Connection: close\r\n\r\n"
    )
    try:
        sock.sendall(head.encode("latin-1") + payload)
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the client is gone: there is no one to answer
