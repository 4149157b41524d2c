"""The handler contract: what a handler receives and may return. No Flask in sight.

    def submit(request: Request, ctx: Context) -> dict | tuple[int, dict] | Response | None

An HTTP handler gets the validated body, path and query parameters and the caller; a queue
handler gets a Message. Both get a Context whose attributes are the resources the manifest
names (``ctx.claims_store``, ``ctx.workflow_queue``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portico.problems import BadRequest

# ASCII digits only: int() also takes Arabic-Indic, full-width and mathematical digits, " 5" and
# "5_0", and str.isdigit() says yes to "\u00b2" (superscript two), which int() then refuses.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")


@dataclass(frozen=True)
class Caller:
    """The consumer the gateway authenticated (Kong's X-Consumer-Username / X-Consumer-ID)."""

    username: str
    id: str


@dataclass(frozen=True)
class Request:
    body: Any
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    caller: Caller | None
    headers: Mapping[str, str]
    request_id: str

    def query_int(self, name: str, *, default: int, minimum: int, maximum: int) -> int:
        """The query parameter `name` as a whole number from minimum to maximum (`default`
        when absent); anything else is a 400 naming the parameter and the range."""
        text = self.query.get(name)
        if text is None:
            return default
        if _WHOLE_NUMBER.fullmatch(text) and minimum <= int(text) <= maximum:
            return int(text)
        raise BadRequest(f"{name} must be a whole number from {minimum} to {maximum}")


@dataclass(frozen=True)
class Message:
    """A queue message, as a worker handler sees it. `trace_context`: the W3C trace context
    of the work that published it (`traceparent`, `tracestate`), which its processing joins."""

    id: str
    queue: str
    payload: Mapping[str, Any]
    request_id: str | None = None
    trace_context: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Context:
    """Per-invocation context: the manifest's resources as attributes, plus the deadline."""

    def __init__(
        self,
        function: str,
        request_id: str,
        deadline: float,
        resources: Mapping[str, Any],
    ) -> None:
        self.function = function
        self.request_id = request_id
        self.deadline = deadline
        self.resources = dict(resources)
        self.log = logging.getLogger(f"portico.function.{function}")

    def remaining_seconds(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["resources"][name]
        except KeyError:
            known = ", ".join(sorted(self.__dict__.get("resources", {}))) or "none"
            raise AttributeError(
                f"the manifest of {self.function!r} binds no resource {name!r} (bound: {known})"
            ) from None


def to_response(result: Any) -> Response:
    """Normalise what a handler returned: a body, (status, body), (status, body, headers),
    a Response, or None (204)."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status=204)
    if isinstance(result, tuple):
        if len(result) == 2 and isinstance(result[0], int):
            return Response(status=result[0], body=result[1])
        if len(result) == 3 and isinstance(result[0], int):
            return Response(status=result[0], body=result[1], headers=dict(result[2]))
        raise TypeError("a handler may return (status, body) or (status, body, headers)")
    return Response(status=200, body=result)
