"""The loaded data: one immutable `Manifest` per function, read by the runtime, the gateway and
the renderers alike."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portico.manifest.lines import LineIndex
from portico.manifest.routes import Route
from portico.manifest.vocabulary import Auth, ResourceKind


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_second: int | None
    per_minute: int | None
    per_hour: int | None


@dataclass(frozen=True, slots=True)
class Cache:
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class Idempotency:
    retention_hours: int


@dataclass(frozen=True, slots=True)
class Cors:
    allow_origins: tuple[str, ...]
    max_age_seconds: int


@dataclass(frozen=True, slots=True)
class Jwt:
    """The route takes a JWT (`Authorization: Bearer`) instead of an API key. Issuers and their
    keys belong to the consumers; the audience belongs to the API."""

    audience: str


@dataclass(frozen=True, slots=True)
class RequestExample:
    """`api.example`: one request a client could send, for the OpenAPI document and the README."""

    path: dict[str, str]
    query: dict[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class Api:
    route: Route
    auth: Auth
    jwt: Jwt | None
    request_schema: dict[str, Any] | None
    rate_limit: RateLimit | None
    cache: Cache | None
    max_body_bytes: int
    idempotency: Idempotency | None
    cors: Cors | None
    example: RequestExample | None = None


@dataclass(frozen=True, slots=True)
class Scale:
    min: int
    max: int


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    handler: str
    handler_file: Path
    handler_attr: str
    timeout_seconds: int
    concurrency: int
    scale: Scale
    memory: str


@dataclass(frozen=True, slots=True)
class Trigger:
    queue: str
    retries: int


@dataclass(frozen=True, slots=True)
class Resource:
    binding: str
    kind: ResourceKind
    name: str


@dataclass(frozen=True, slots=True)
class StandIn:
    """`dependencies.<binding>.stand_in`: a WSGI app of the function's own that `portico dev`
    serves in place of the real system (a payment provider, a mail relay), on a port of its
    choosing, with its URL in the dependency's variable. Never deployed."""

    serve: str  # as written: "providers/payments.py:app"
    app_file: Path
    attr: str


@dataclass(frozen=True, slots=True)
class Dependency:
    """`dependencies.<binding>`: a system the handler calls while its client waits, reached as
    `ctx.<binding>` (an HTTP client bounded by `timeout_seconds` and the function's deadline)."""

    binding: str
    url_env: str  # the variable that holds the base URL (a chart value in the cluster)
    url: str | None  # the base URL when that variable is unset
    timeout_seconds: float
    # Extra attempts after a connection failure or a 502/503/504, made only for requests that
    # are safe to repeat: an idempotent method, or one carrying an Idempotency-Key header.
    retries: int
    stand_in: StandIn | None


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    path: Path
    directory: Path
    api: Api | None
    trigger: Trigger | None
    function: FunctionSpec
    resources: tuple[Resource, ...]
    dependencies: tuple[Dependency, ...] = ()
    # `lint.allow`: boundary rules silenced for this function, each with the reason given.
    lint_allow: tuple[tuple[str, str], ...] = ()
    # Where each field is written, so cross-manifest errors can point at a line.
    _lines: LineIndex = dataclasses.field(
        default_factory=lambda: LineIndex(), repr=False, compare=False
    )

    @property
    def is_http(self) -> bool:
        return self.api is not None

    @property
    def is_worker(self) -> bool:
        return self.trigger is not None

    @property
    def stores(self) -> tuple[Resource, ...]:
        return tuple(resource for resource in self.resources if resource.kind == "store")

    @property
    def queues(self) -> tuple[Resource, ...]:
        return tuple(resource for resource in self.resources if resource.kind == "queue")
