"""Dependency bindings: each `dependencies.<binding>` of a manifest is `ctx.<binding>`, a small
HTTP client over httpx for a system the handler calls while its client waits.

    response = ctx.payments.post("/charges", json={...}, headers={"Idempotency-Key": key})

One `httpx.Client` per dependency per process (its connections are reused); a binding per
invocation carries what the call needs from it: the deadline, the request id, the trace context
(portico.tracing.carrier; while tracing, each attempt is a client span the callee continues),
the effects ledger. Every attempt is bounded by the smaller of the dependency's timeout_seconds
and what is left of the function's deadline, and is counted (the ledger,
`portico_dependency_calls_total`, `portico_dependency_call_seconds`). A timeout is a 504
`DependencyTimeout`, a connection failure a 503 `DependencyUnavailable`; a response of any
status is the handler's to judge (raise `BadGateway` on a 5xx).

Retries (`retries`, after a connection failure or a 502/503/504) are made only for requests
safe to repeat: an idempotent method, or one carrying an Idempotency-Key header. A POST without
a key is sent once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from portico import headers as header_names
from portico import metrics, tracing
from portico.manifest import Dependency
from portico.problems import DependencyTimeout, DependencyUnavailable
from portico.runtime.effects import DependencyCall, Effects, status_class
from portico.settings import dependency_base_url

log = logging.getLogger("portico.runtime.dependencies")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
FIRST_BACKOFF_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 1.0


def safe_to_repeat(method: str, sent: Mapping[str, str] | None) -> bool:
    if method in IDEMPOTENT_METHODS:
        return True
    return sent is not None and any(
        name.lower() == header_names.IDEMPOTENCY_KEY.lower() for name in sent
    )


class DependencyClient:
    """The process's client for one dependency of one function."""

    def __init__(
        self,
        function: str,
        dependency: Dependency,
        base_url: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport`: httpx's, for a test that answers in memory."""
        self.function = function
        self.dependency = dependency
        self.base_url = base_url
        self._http: httpx.Client | None = None
        if base_url:
            # trust_env=False: no proxy or .netrc from the environment; what the manifest
            # declares is what is called.
            self._http = httpx.Client(
                base_url=base_url, trust_env=False, follow_redirects=False, transport=transport
            )
        else:
            log.warning(
                "dependency %s of %s has no base URL: set %s",
                dependency.binding,
                function,
                dependency.url_env,
            )

    def bind(
        self, deadline: float, request_id: str, trace: Mapping[str, str], effects: Effects
    ) -> DependencyBinding:
        return DependencyBinding(self, deadline, request_id, trace, effects)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def send(self, request: httpx.Request, timeout: float) -> httpx.Response:
        """One attempt. The caller has checked there is a base URL."""
        assert self._http is not None
        extensions = dict(request.extensions)
        extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        request.extensions = extensions
        return self._http.send(request)

    def build(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> httpx.Request:
        assert self._http is not None
        return self._http.build_request(method, path, json=json, params=params, headers=headers)


class DependencyBinding:
    """`ctx.<binding>` for one invocation."""

    __slots__ = ("_client", "_deadline", "_effects", "_headers")

    def __init__(
        self,
        client: DependencyClient,
        deadline: float,
        request_id: str,
        trace: Mapping[str, str],
        effects: Effects,
    ) -> None:
        self._client = client
        self._deadline = deadline
        self._headers = {header_names.REQUEST_ID: request_id, **trace}
        self._effects = effects

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Call the dependency at `path` (relative to its base URL) and return its response,
        whatever its status."""
        method = method.upper()
        dependency = self._client.dependency
        if self._client.base_url is None:
            raise DependencyUnavailable(
                f"the dependency {dependency.binding!r} has no base URL: set {dependency.url_env}"
            )
        if "://" in path or path.startswith("//"):
            raise ValueError(f"{dependency.binding}: call a path of its base URL, not {path!r}")
        sent = {**self._headers, **(headers or {})}
        request = self._client.build(method, path, json=json, params=params, headers=sent)
        attempts = 1 + (dependency.retries if safe_to_repeat(method, headers) else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            response = self._attempt(request, method, path, last)
            if response is not None and (last or response.status_code not in RETRY_STATUSES):
                return response
            if not self._back_off(attempt):
                if response is not None:
                    return response
                raise self._unavailable("connection failed, and no time is left to retry")
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _bound(self) -> float:
        """This attempt's timeout; none at all left is a timeout now."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DependencyTimeout(
                f"the dependency {self._client.dependency.binding!r} was not called: the "
                "function's deadline has passed"
            )
        return min(self._client.dependency.timeout_seconds, left)

    def _attempt(
        self, request: httpx.Request, method: str, path: str, last: bool
    ) -> httpx.Response | None:
        """One attempt (a client span of its own when tracing): its response, or None after a
        connection failure worth retrying."""
        if not tracing.enabled():
            return self._attempt_once(request, method, path, last)
        name = self._client.dependency.binding
        attributes = {"http.request.method": method, "url.path": path, "peer.service": name}
        with tracing.span(f"{name} {method} {path}", "client", attributes) as current:
            request.headers.update(tracing.carrier())  # the callee continues this span
            response = self._attempt_once(request, method, path, last)
            if response is not None:
                current.set_attribute("http.response.status_code", response.status_code)
            return response

    def _attempt_once(
        self, request: httpx.Request, method: str, path: str, last: bool
    ) -> httpx.Response | None:
        bound = self._bound()
        started = time.perf_counter()
        try:
            response = self._client.send(request, bound)
        except httpx.TimeoutException as exc:
            seconds = self._record(method, path, "timeout", started)
            raise DependencyTimeout(
                f"the dependency {self._client.dependency.binding!r} did not answer "
                f"{method} {path} within {bound:.2f} s (after {seconds:.2f} s)"
            ) from exc
        except httpx.TransportError as exc:
            seconds = self._record(method, path, "unavailable", started)
            if last or not isinstance(exc, httpx.ConnectError):
                why = f"{method} {path} failed after {seconds:.2f} s: {exc}"
                raise self._unavailable(why) from exc
            return None
        response.read()
        self._record(method, path, status_class(response.status_code), started)
        return response

    def _back_off(self, attempt: int) -> bool:
        """Wait before the next attempt; False when the deadline leaves no room for one."""
        wait = min(FIRST_BACKOFF_SECONDS * 2**attempt, MAX_BACKOFF_SECONDS)
        if self._deadline - time.monotonic() <= wait:
            return False
        time.sleep(wait)
        return True

    def _unavailable(self, why: str) -> DependencyUnavailable:
        client = self._client
        return DependencyUnavailable(
            f"the dependency {client.dependency.binding!r} at {client.base_url} is unavailable: "
            f"{why}"
        )

    def _record(self, method: str, path: str, outcome: str, started: float) -> float:
        seconds = time.perf_counter() - started
        client = self._client
        self._effects.calls.append(
            DependencyCall(client.dependency.binding, method, path, outcome, seconds)
        )
        metrics.dependency_call(client.function, client.dependency.binding, outcome, seconds)
        return seconds


def clients_for(
    function: str, dependencies: tuple[Dependency, ...], environ: Mapping[str, str] | None = None
) -> dict[str, DependencyClient]:
    """binding -> the process's client for it, its base URL read now (from `environ`, by
    default the process's environment)."""
    return {
        d.binding: DependencyClient(function, d, dependency_base_url(d.url_env, d.url, environ))
        for d in dependencies
    }
