"""The Flask app for one HTTP function, built from its manifest.

Request path: request id → body checks (size, content type, JSON, schema) → caller →
handler in a unit of work bounded by timeout_seconds → response. Every error is
problem+json; no stack trace ever reaches the client.

The handler runs on the request thread, its deadline watched by the process's watchdog
(portico.runtime.deadline), which answers 504 on the request's socket when it passes. A WSGI
server that gives no socket (Flask's test client) gets the older shape instead: the handler
runs on a thread of the function's executor while the request thread waits on the deadline.
"""

from __future__ import annotations

import contextvars
import functools
import hmac
import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import flask
import psycopg
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from portico import bounded_json, headers, metrics, problems, tracing
from portico.contract import Caller, Request, to_response
from portico.logs import RequestLog, request_id_var, trace_id_var
from portico.manifest import BODY_METHODS, Api, Manifest
from portico.runtime import deadline, effects, idempotency
from portico.runtime.effects import Effects
from portico.runtime.handler import Invoker
from portico.runtime.health import add_health_routes, json_response
from portico.runtime.request_scope import (
    ANSWERED,
    BODY_READ,
    EFFECTS,
    INVOKED,
    REQUEST_ID,
    STARTED,
    TRACE,
    RequestScope,
)
from portico.runtime.resources import Resources
from portico.settings import EgressMode
from portico.state.transaction import DeadlineExceeded, Transaction

if TYPE_CHECKING:  # imported when a function has a request schema (create_app)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

log = logging.getLogger("portico.runtime.app")


def environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


# The headers the runtime reads on every request, looked up in the WSGI environ directly.
ASSERTED_KEYS = tuple(environ_key(name) for name in headers.GATEWAY_ASSERTED)
SECRET_KEY = environ_key(headers.GATEWAY_SECRET)  # a handler never sees the gateway's secret
USERNAME_KEY = environ_key(headers.CONSUMER_USERNAME)
CONSUMER_ID_KEY = environ_key(headers.CONSUMER_ID)
IDEMPOTENCY_KEY = environ_key(headers.IDEMPOTENCY_KEY)
TRACEPARENT_KEY = environ_key(tracing.TRACEPARENT)
TRACESTATE_KEY = environ_key(tracing.TRACESTATE)
CONTENT_KEYS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
BODY_HEADER_KEYS = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})  # werkzeug skips these


@dataclass
class FunctionState:
    manifest: Manifest
    api: Api
    resources: Resources
    invoker: Invoker
    executor: ThreadPoolExecutor
    validator: Draft202012Validator | None
    gateway_secret: bytes | None = None
    draining: threading.Event = field(default_factory=threading.Event)
    watchdog: deadline.Watchdog = field(default_factory=deadline.Watchdog)
    request_log: RequestLog = field(init=False)
    span_name: str = field(init=False)
    tally: metrics.RouteTally = field(init=False)

    def __post_init__(self) -> None:
        self.span_name = f"{self.api.route.method} {self.api.route.path}"
        self.request_log = RequestLog(log, self.manifest.name, background=True)
        self.tally = metrics.REQUESTS.route(self.manifest.name, self.api.route.path)

    def answered(
        self,
        method: str,
        path: str,
        status: int,
        seconds: float,
        request_id: str,
        ledger: Effects | None = None,
    ) -> None:
        """One answer of the function's route: its metric series and its request log line,
        with the invocation's effects when it got as far as the handler."""
        self.tally.answered(method, status, seconds)
        self.request_log.write(
            f"{method} {path} -> {status} in {seconds * 1000:.1f} ms",
            request_id,
            trace_id=trace_id_var.get(),
            effects=None if ledger is None else ledger.log_field(),
        )

    def begin_span(self, environ: dict[str, Any]) -> tracing.Started:
        """The invocation's span, continuing the trace context the request came with."""
        received = {
            tracing.TRACEPARENT: environ.get(TRACEPARENT_KEY),
            tracing.TRACESTATE: environ.get(TRACESTATE_KEY),
        }
        attributes = None
        if tracing.enabled():
            attributes = {
                "http.request.method": self.api.route.method,
                "http.route": self.api.route.path,
                "url.path": environ.get("PATH_INFO", ""),
                "portico.request_id": environ[REQUEST_ID],
                "portico.function": self.manifest.name,
            }
        return tracing.start(self.span_name, "server", received, attributes)


def flask_rule(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


def create_app(
    manifest: Manifest,
    resources: Resources,
    gateway_secret: str | None = None,
    started_at: float | None = None,
    *,
    egress: EgressMode = "enforce",
    server_timing: bool = False,
) -> Flask:
    """The function's app. Caller identity is believed only from requests that carry
    gateway_secret (portico.policies.upstream); without one, from none. `egress` and
    `server_timing` as Settings has them (PORTICO_EGRESS, PORTICO_SERVER_TIMING)."""
    if manifest.api is None:
        raise ValueError(f"{manifest.name} is a queue function; it has no HTTP app")
    api = manifest.api
    if gateway_secret is None:
        log.warning(
            "no PORTICO_GATEWAY_SECRET: %s refuses every request that names a caller", manifest.name
        )
    state = FunctionState(
        manifest=manifest,
        api=api,
        resources=resources,
        invoker=Invoker(manifest, resources, egress_mode=egress),
        executor=ThreadPoolExecutor(manifest.function.concurrency, thread_name_prefix="handler"),
        validator=schema_validator(api.request_schema),
        gateway_secret=gateway_secret.encode() if gateway_secret else None,
    )
    app = Flask(manifest.name)
    app.config["MAX_CONTENT_LENGTH"] = api.max_body_bytes
    app.extensions["portico"] = state

    app.add_url_rule(
        flask_rule(api.route.path),
        endpoint="function",
        view_func=lambda **params: invoke(state, params),
        methods=[api.route.method],
    )
    add_health_routes(app, manifest.name, state.draining, resources.is_ready)
    app.wsgi_app = RequestScope(  # type: ignore[method-assign]
        app.wsgi_app, state.answered, server_timing=server_timing
    )
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(problems.Problem, problem_response)
    app.register_error_handler(Exception, lambda exc: unexpected_error(state, exc))

    if started_at is not None:
        metrics.COLD_START_SECONDS.labels(manifest.name).set(time.time() - started_at)
    return app


def schema_validator(schema: dict[str, Any] | None) -> Draft202012Validator | None:
    if schema is None:
        return None
    from jsonschema import Draft202012Validator  # about 100 ms of imports: only when needed

    return Draft202012Validator(schema)


def current_request() -> flask.Request:
    """The request itself rather than Flask's context-local proxy, each access to which costs
    a context lookup (measurable on a trivial handler; see bench/README.md)."""
    return request._get_current_object()  # type: ignore[attr-defined, no-any-return]


def invoke(state: FunctionState, path_params: dict[str, str]) -> Response:
    incoming = current_request()
    environ = incoming.environ
    environ[INVOKED] = True  # from here on, RequestScope calls state.answered
    environ[TRACE] = state.begin_span(environ)  # and ends this span
    state.tally.started()
    query = incoming.args.to_dict()
    check_url_text(path_params, query)
    event = Request(
        body=parse_body(state, incoming),
        path_params=path_params,
        query=query,
        caller=authenticated_caller(state, environ),
        headers=HandlerHeaders(environ),
        request_id=environ[REQUEST_ID],
    )
    idempotent = idempotent_request(state.api, event, incoming)
    result = run_with_deadline(state, event, idempotent, incoming)
    response = to_response(result)
    out = (
        json_response(response.body, response.status)
        if response.body is not None
        else Response(status=response.status)
    )
    if response.headers:
        out.headers.update(response.headers)
    return out


class HandlerHeaders(Mapping[str, str]):
    """The request's headers as werkzeug names them, less the gateway's secret: read from the
    WSGI environ when the handler first looks (most never do)."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self._environ = environ
        self._headers: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._headers is None:
            found = {}
            for key, value in self._environ.items():
                if key.startswith("HTTP_"):
                    if key not in BODY_HEADER_KEYS and key != SECRET_KEY:
                        found[key[5:].replace("_", "-").title()] = value
                elif key in CONTENT_KEYS and value:
                    found[key.replace("_", "-").title()] = value
            self._headers = found
        return self._headers

    def __getitem__(self, name: str) -> str:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


def idempotent_request(
    api: Api, event: Request, incoming: flask.Request
) -> idempotency.IdempotentRequest | None:
    value = incoming.environ.get(IDEMPOTENCY_KEY)
    if api.idempotency is None or value is None:
        return None
    return idempotency.IdempotentRequest(
        consumer=event.caller.username if event.caller else "",
        key=idempotency.parse_key(value),
        fingerprint=idempotency.fingerprint(incoming.method, incoming.path, event.body),
        retention_hours=api.idempotency.retention_hours,
    )


def run_with_deadline(
    state: FunctionState,
    event: Request,
    idempotent: idempotency.IdempotentRequest | None,
    incoming: flask.Request,
) -> Any:
    tx = state.invoker.begin(time.monotonic() + state.manifest.function.timeout_seconds)
    incoming.environ[EFFECTS] = effects.of(tx)
    try:
        sock = answerable_socket(incoming.environ)
        if sock is None:
            return run_handed_off(state, tx, event, idempotent)
        return run_watched(state, tx, event, idempotent, sock, incoming)
    except (DeadlineExceeded, psycopg.errors.QueryCanceled) as exc:
        if not incoming.environ.get(ANSWERED):
            log_timeout(state)
        raise timeout_problem(state) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        log.warning("database unavailable: %s", exc)
        raise problems.ServiceUnavailable(
            "the database is unavailable; try again shortly", headers={headers.RETRY_AFTER: "1"}
        ) from exc
    except psycopg.DataError as exc:
        raise refused_value(exc) from exc


def answerable_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The client's socket, when the watchdog can answer on it: gunicorn's, over HTTP/1."""
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket) or environ.get("HTTP_VERSION") == "2":
        return None
    return sock


def run_watched(
    state: FunctionState,
    tx: Transaction,
    event: Request,
    idempotent: idempotency.IdempotentRequest | None,
    sock: socket.socket,
    incoming: flask.Request,
) -> Any:
    expiry = functools.partial(
        contextvars.copy_context().run, answer_timed_out, state, tx, sock, incoming
    )
    watch = state.watchdog.watch(tx.deadline, expiry)
    try:
        return state.invoker.run(tx, event, event.request_id, idempotent)
    finally:
        if state.watchdog.settle(watch):
            incoming.environ[ANSWERED] = True


def answer_timed_out(
    state: FunctionState, tx: Transaction, sock: socket.socket, incoming: flask.Request
) -> bool:
    """The watchdog's expiry: nothing of the invocation may commit, and the client gets its
    504 now, whatever the handler is doing."""
    if not tx.expire():
        return False  # it was already committing: let it finish and answer
    log_timeout(state)
    request_id = incoming.environ[REQUEST_ID]
    deadline.answer(sock, timeout_problem(state), request_id)
    elapsed = time.perf_counter() - incoming.environ[STARTED]
    state.answered(incoming.method, incoming.path, 504, elapsed, request_id, effects.of(tx))
    return True


def run_handed_off(
    state: FunctionState,
    tx: Transaction,
    event: Request,
    idempotent: idempotency.IdempotentRequest | None,
) -> Any:
    context = contextvars.copy_context()
    future = state.executor.submit(
        context.run, state.invoker.run, tx, event, event.request_id, idempotent
    )
    try:
        return future.result(timeout=max(0.0, tx.remaining()))
    except FutureTimeout:
        if not tx.expire():
            return future.result()  # it was already committing: let it finish
        raise DeadlineExceeded("the function's timeout_seconds ran out") from None


def refused_value(exc: psycopg.DataError) -> problems.BadRequest:
    """SQLSTATE class 22: Postgres refused a value (an unparsable timestamp, a number out of
    range, text too long for its column): in a request path, a value the client sent."""
    log.info("Postgres refused a value (SQLSTATE %s): %s", exc.sqlstate, exc.diag.message_primary)
    return problems.BadRequest(
        f"a value in the request was refused: {exc.diag.message_primary or 'invalid value'}"
    )


def log_timeout(state: FunctionState) -> None:
    seconds = state.manifest.function.timeout_seconds
    log.warning("handler exceeded timeout_seconds=%s; its work was rolled back", seconds)


def timeout_problem(state: FunctionState) -> problems.GatewayTimeout:
    seconds = state.manifest.function.timeout_seconds
    return problems.GatewayTimeout(
        f"the function did not finish within its {seconds} s timeout; nothing was changed"
    )


def parse_body(state: FunctionState, incoming: flask.Request) -> Any:
    if incoming.method not in BODY_METHODS:
        return None
    with tracing.span("validate"):
        return read_valid_body(state, incoming)


def read_valid_body(state: FunctionState, incoming: flask.Request) -> Any:
    raw = incoming.get_data(cache=False)  # werkzeug enforces MAX_CONTENT_LENGTH (413)
    incoming.environ[BODY_READ] = True
    if not raw:
        if state.validator is not None:
            raise problems.BadRequest("this route needs a JSON request body")
        return None
    mimetype = incoming.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise problems.UnsupportedMediaType(
            f"send the body as application/json (got {mimetype or 'no content type'!r})"
        )
    try:
        body = bounded_json.loads(raw)
    except ValueError as exc:  # not UTF-8, not JSON, or nested too deeply
        raise problems.BadRequest(f"the request body is not valid JSON: {exc}") from None
    # In valid JSON a NUL or a surrogate can only arrive as a \\u escape: most bodies skip the walk.
    failures = unstorable_text(body, "") if b"\\u" in raw else []
    if not failures and state.validator is not None:
        failures = schema_failures(state.validator, body)
    if failures:
        raise problems.Unprocessable("the request body failed validation", errors=failures)
    return body


def unstorable_text(value: Any, at: str) -> list[dict[str, str]]:
    """Text Postgres cannot store (a NUL character, or a lone UTF-16 surrogate that JSON's \\u
    escapes allow) is refused up front: a handler would otherwise fail writing it."""
    if isinstance(value, str):
        problem = text_problem(value)
        return [{"field": at or "(body)", "message": problem}] if problem else []
    if isinstance(value, list):
        return [f for i, item in enumerate(value) for f in unstorable_text(item, join(at, str(i)))]
    if isinstance(value, dict):
        failures = []
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                failures.append({"field": join(at, repr(key)), "message": f"its name {problem}"})
            failures += unstorable_text(item, join(at, key))
        return failures
    return []


def text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate, which is not valid Unicode text"
    return None


def check_url_text(path_params: dict[str, str], query: dict[str, str]) -> None:
    for kind, values in (("path parameter", path_params), ("query parameter", query)):
        for name, value in values.items():
            problem = text_problem(name) or text_problem(value)
            if problem:
                raise problems.BadRequest(f"the {kind} {name!r} {problem}")


def schema_failures(validator: Draft202012Validator, body: Any) -> list[dict[str, str]]:
    failures: list[dict[str, str]] = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        failures.extend(f for f in describe(error) if f not in failures)
    return failures


def describe(error: ValidationError) -> list[dict[str, str]]:
    at = ".".join(str(part) for part in error.absolute_path)
    required = error.validator_value
    if (
        error.validator == "required"
        and isinstance(error.instance, dict)
        and isinstance(required, list)
    ):
        missing = [name for name in required if name not in error.instance]
        return [{"field": join(at, name), "message": "is required"} for name in missing]
    return [{"field": at or "(body)", "message": error.message}]


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def authenticated_caller(state: FunctionState, environ: dict[str, Any]) -> Caller | None:
    """The caller the gateway names, believed only when the request proves it came from the
    gateway; a request that names a caller without that proof is refused, never served as
    anonymous."""
    named = any(key in environ for key in ASSERTED_KEYS)
    if named and not from_gateway(state, environ.get(SECRET_KEY)):
        raise problems.Unauthorized(
            "caller identity headers are accepted only from the gateway: call this API "
            "through the gateway"
        )
    username = environ.get(USERNAME_KEY)
    if username:
        return Caller(username=username, id=environ.get(CONSUMER_ID_KEY, ""))
    if state.api.auth == "required":
        raise problems.Unauthorized(
            "no authenticated caller: this route requires auth and must be called through "
            "the gateway"
        )
    return None


def from_gateway(state: FunctionState, presented: str | None) -> bool:
    if state.gateway_secret is None or presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), state.gateway_secret)


def problem_response(problem: problems.Problem) -> Response:
    response = json_response(
        problem.body(request_id_var.get()), problem.status, problems.PROBLEM_JSON
    )
    response.headers.update(problem.headers)
    return response


def http_error(exc: HTTPException) -> Response:
    by_status: dict[int, type[problems.Problem]] = {
        404: problems.NotFound,
        405: problems.MethodNotAllowed,
        413: problems.ContentTooLarge,
    }
    problem_class = by_status.get(exc.code or 500)
    if problem_class is None:
        return problem_response(problems.Problem(exc.description, status=exc.code, title=exc.name))
    return problem_response(problem_class(exc.description))


def unexpected_error(state: FunctionState, exc: Exception) -> Response:
    log.error("unhandled exception in %s", state.manifest.name, exc_info=exc)
    return problem_response(
        problems.InternalError("an unexpected error occurred; quote the request id when reporting")
    )
