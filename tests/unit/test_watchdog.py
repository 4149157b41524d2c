"""The deadline watchdog on its own: what fires, when, and who answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from portico.runtime.deadline import Watchdog


def setting(event: threading.Event, answered: bool = True) -> Callable[[], bool]:
    """An expiry that sets `event` and says whether it answered the client."""

    def expiry() -> bool:
        event.set()
        return answered

    return expiry


def noting(order: list[str], name: str, answered: bool = True) -> Callable[[], bool]:
    def expiry() -> bool:
        order.append(name)
        return answered

    return expiry


def test_an_unsettled_watch_fires_at_its_deadline():
    fired = threading.Event()
    watchdog = Watchdog()
    start = time.monotonic()
    watch = watchdog.watch(start + 0.2, setting(fired))

    assert fired.wait(2)
    assert time.monotonic() - start >= 0.2
    assert watchdog.settle(watch) is True  # the expiry answered: the request thread must not


def test_a_watch_settled_in_time_never_fires():
    fired = threading.Event()
    watchdog = Watchdog()
    watch = watchdog.watch(time.monotonic() + 0.2, setting(fired))

    assert watchdog.settle(watch) is False
    assert not fired.wait(0.5)


def test_an_expiry_that_declines_leaves_the_answer_to_the_request_thread():
    watchdog = Watchdog()
    declined = threading.Event()
    watch = watchdog.watch(time.monotonic() + 0.05, setting(declined, answered=False))

    assert declined.wait(2)
    assert watchdog.settle(watch) is False


def test_settling_during_the_expiry_waits_for_its_outcome():
    watchdog = Watchdog()
    running, release = threading.Event(), threading.Event()

    def slow_expiry() -> bool:
        running.set()
        release.wait(5)
        return True

    watch = watchdog.watch(time.monotonic() + 0.05, slow_expiry)
    assert running.wait(2)
    outcome: list[bool] = []
    settler = threading.Thread(target=lambda: outcome.append(watchdog.settle(watch)))
    settler.start()
    time.sleep(0.1)
    assert outcome == []  # still waiting for the expiry to decide
    release.set()
    settler.join(2)
    assert outcome == [True]


def test_deadlines_fire_in_deadline_order_whatever_the_order_they_came_in():
    watchdog = Watchdog()
    order: list[str] = []
    done = threading.Event()
    now = time.monotonic()
    for name, delay in (("late", 0.3), ("early", 0.1), ("middle", 0.2)):
        watchdog.watch(now + delay, noting(order, name))
    watchdog.watch(now + 0.35, setting(done))

    assert done.wait(3)
    assert order == ["early", "middle", "late"]


def test_many_settled_watches_cost_no_wake_ups_and_do_not_hide_a_live_one():
    watchdog = Watchdog()
    fired: list[str] = []
    now = time.monotonic()
    for n in range(1000):
        watchdog.settle(watchdog.watch(now + 0.1, noting(fired, str(n))))
    live = watchdog.watch(now + 0.2, noting(fired, "live"))

    time.sleep(0.5)
    assert fired == ["live"]
    assert watchdog.settle(live) is True
