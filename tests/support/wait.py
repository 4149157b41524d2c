"""`wait_until`: the one poll loop of the tests and the bench."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar, overload

import httpx

T = TypeVar("T")
Ignored = type[BaseException] | tuple[type[BaseException], ...]


class WaitTimeout(AssertionError):
    """A wait that ran out of time. `summary` is its one line (what was awaited, for how long,
    what was last seen); the message adds the caller's details (a log tail, the pods)."""

    def __init__(self, summary: str, details: str = "") -> None:
        super().__init__(f"{summary}\n{details}" if details else summary)
        self.summary = summary


@overload
def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = ...,
    what: str = ...,
    *,
    interval: float = ...,
    ignoring: Ignored = ...,
    fail: Literal[True] = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


@overload
def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = ...,
    what: str = ...,
    *,
    interval: float = ...,
    ignoring: Ignored = ...,
    fail: bool,
    details: Callable[[], str] | None = ...,
) -> T | None: ...


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 30.0,
    what: str = "the condition holds",
    *,
    interval: float = 0.1,
    ignoring: Ignored = (),
    fail: bool = True,
    details: Callable[[], str] | None = None,
) -> T | None:
    """Call `predicate` every `interval` seconds until it returns something truthy; return that.

    It is called at least once, and once more at the deadline, so a wait is never shorter than
    `timeout`. An exception of a type in `ignoring` counts as "not yet" (and is remembered); any
    other propagates at once. After `timeout` seconds, raise WaitTimeout naming `what`, the last
    value or exception seen and, when given, `details()` (called only then); or, with
    fail=False, return the last value (falsy, or None if every call raised) for the caller to
    judge later.
    """
    deadline = time.monotonic() + timeout
    last_value: T | None = None
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except ignoring as error:
            last_error = error
        else:
            if value:
                return value
            last_value, last_error = value, None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
    if not fail:
        return last_value
    summary = f"timed out after {timeout:g} s waiting until {what}"
    if last_error is not None:
        summary += f"; the last try raised {last_error!r}"
    elif last_value is not None and last_value is not False:
        summary += f"; the last try returned {last_value!r}"
    raise WaitTimeout(summary, _described(details))


def _described(details: Callable[[], str] | None) -> str:
    if details is None:
        return ""
    try:
        return details()
    except Exception as error:  # a failure message must not fail for want of its details
        return f"(no details: {error!r})"


def answers(
    url: str, status: int = 200, client: httpx.Client | None = None
) -> Callable[[], httpx.Response]:
    """A predicate for wait_until: GET `url` (1 s timeout), return the response when it has
    `status`, else raise httpx.HTTPStatusError saying what it had. Pass
    `ignoring=httpx.HTTPError` so that refused connections and other statuses mean "not yet"."""

    def check() -> httpx.Response:
        response = client.get(url) if client is not None else httpx.get(url, timeout=1.0)
        if response.status_code != status:
            raise httpx.HTTPStatusError(
                f"{url} answered {response.status_code}, not {status}",
                request=response.request,
                response=response,
            )
        return response

    return check
