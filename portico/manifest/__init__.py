"""Function manifests: one YAML file per function under `functions/`, loaded into plain data.

As in Chalice, routes are data: the runtime, the gateway and the chart all read the same
immutable `Manifest`. Loading checks everything it can and reports every problem with its
file, field path and line, so a manifest can be fixed in one pass.

May import: the top-level modules only.
"""

from __future__ import annotations

import dataclasses
import difflib
import keyword
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import yaml

from portico.manifest.request_schema import RequestSchemaError, check_schema, compile_shorthand

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})

_BODY_METHODS = ("POST", "PUT", "PATCH")
_STATE_CHANGING_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
_ROUTE_FORM = "'METHOD /path' such as 'POST /claims'"

FieldPath = tuple[str | int, ...]
_T = TypeVar("_T")
_D = TypeVar("_D")


# --- The loaded data --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    params: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Route:
        """Parse "METHOD /path"; raise ValueError saying what is wrong."""
        words = text.split()
        if len(words) != 2:
            raise ValueError(f"expected {_ROUTE_FORM}, got {text!r}")
        method, path = words
        if method not in HTTP_METHODS:
            hint = (
                f" (write {method.upper()!r})"
                if method.upper() in HTTP_METHODS
                else _did_you_mean(method, HTTP_METHODS)
            )
            raise ValueError(
                f"expected one of {', '.join(HTTP_METHODS)} as the method, got {method!r}{hint}"
            )
        return cls(method, path, _path_params(path))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The URL-decoded path parameters if this route serves the request, else None.

        `path` is the request path without the query string.
        """
        return self._match_path(path) if method == self.method else None

    def matches_path(self, path: str) -> bool:
        return self._match_path(path) is not None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def _match_path(self, path: str) -> dict[str, str] | None:
        if not path.startswith("/"):
            return None
        pattern, segments = _segments(self.path), _segments(path)
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        # Split before decoding, so an encoded "/" (%2F) stays inside its segment.
        for expected, segment in zip(pattern, segments, strict=True):
            if not _is_param(expected):
                if unquote(segment) != expected:
                    return None
            elif segment:
                params[expected[1:-1]] = unquote(segment)
            else:
                return None
        return params


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
class Api:
    route: Route
    auth: str
    jwt: Jwt | None
    request_schema: dict[str, Any] | None
    rate_limit: RateLimit | None
    cache: Cache | None
    max_body_bytes: int
    idempotency: Idempotency | None
    cors: Cors | None


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
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    path: Path
    directory: Path
    api: Api | None
    trigger: Trigger | None
    function: FunctionSpec
    resources: tuple[Resource, ...]
    # Where each field is written, so cross-manifest errors can point at a line.
    _lines: _LineIndex = dataclasses.field(
        default_factory=lambda: _LineIndex(), repr=False, compare=False
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


class ManifestError(Exception):
    """One problem, located by file, dotted field path ("" for the whole file) and line."""

    def __init__(self, file: Path, field: str, line: int | None, message: str) -> None:
        super().__init__(file, field, line, message)
        self.file = file
        self.field = field
        self.line = line
        self.message = message

    def __str__(self) -> str:
        line = f":{self.line}" if self.line is not None else ""
        field = f"{self.field}: " if self.field else ""
        return f"{_display(self.file)}{line}: {field}{self.message}"


class ManifestErrors(Exception):
    def __init__(self, errors: list[ManifestError]) -> None:
        super().__init__(errors)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


# --- Loading ----------------------------------------------------------------------------------

_SKIPPED_DIRECTORIES = frozenset({"migrations", "seed", "src", "tests"})
_MANIFEST_SECTIONS = frozenset({"api", "trigger", "function"})


def load_manifest(path: Path) -> Manifest:
    """Load and check one manifest; raise ManifestErrors listing every problem in the file."""
    path = path.resolve()
    document, lines = _read_document(path)
    checker = _Checker(path, lines)
    for at, first_line in lines.duplicates:
        checker.error(
            at,
            f"duplicate field {at[-1]!r} (first set on line {first_line}); "
            "YAML would silently keep only this last value",
            key=True,
        )
    manifest = _build_manifest(checker, document)
    if checker.errors or manifest is None:
        raise ManifestErrors(sorted(checker.errors, key=lambda error: error.line or 0))
    return manifest


def load_all(functions_dir: Path) -> list[Manifest]:
    """Load every manifest under `functions_dir`, sorted by name, and check them together."""
    paths = [path for path in _yaml_files(functions_dir) if _is_manifest(path)]
    if not paths:
        message = (
            f"no function manifests found under {_display(functions_dir)} (expected "
            "<name>.yaml or <name>/function.yaml files with 'function' and 'api' or 'trigger')"
        )
        raise ManifestErrors([ManifestError(functions_dir, "", None, message)])
    manifests: list[Manifest] = []
    errors: list[ManifestError] = []
    for path in paths:
        try:
            manifests.append(load_manifest(path))
        except ManifestErrors as exc:
            errors.extend(exc.errors)
    manifests.sort(key=lambda manifest: (manifest.name, str(manifest.path)))
    errors.extend(check_deployment(manifests))
    if errors:
        raise ManifestErrors(errors)
    return manifests


def check_deployment(manifests: list[Manifest]) -> list[ManifestError]:
    """Problems between manifests, each reported on the later of the two clashing ones."""
    errors: list[ManifestError] = []
    for manifest, first in _clashes((m.name, m) for m in manifests):
        where = _where(first, ("name",))
        message = f"the name {manifest.name!r} is already used by {where}"
        errors.append(_error_in(manifest, ("name",), message))
    for (manifest, route), (first, first_route) in _route_clashes(manifests):
        where = _where(first, ("api", "route"))
        message = (
            f"{route} can match the same requests as {first_route} "
            f"of function {first.name!r} ({where})"
        )
        errors.append(_error_in(manifest, ("api", "route"), message))
    queues = ((m.trigger.queue, (m, m.trigger.queue)) for m in manifests if m.trigger)
    for (manifest, queue), (first, _) in _clashes(queues):
        where = _where(first, ("trigger", "queue"))
        message = (
            f"queue {queue!r} is already consumed by worker {first.name!r} ({where}); "
            "a queue feeds one worker function"
        )
        errors.append(_error_in(manifest, ("trigger", "queue"), message))
    return errors


def _clashes(keyed: Iterable[tuple[Hashable, _T]]) -> Iterator[tuple[_T, _T]]:
    """(later item, first item) for every item whose key an earlier item already had."""
    first_by_key: dict[Hashable, _T] = {}
    for key, item in keyed:
        if key in first_by_key:
            yield item, first_by_key[key]
        else:
            first_by_key[key] = item


def _error_in(manifest: Manifest, at: FieldPath, message: str) -> ManifestError:
    return ManifestError(manifest.path, _dotted(at), manifest._lines.line(at), message)


def _route_clashes(
    manifests: list[Manifest],
) -> Iterator[tuple[tuple[Manifest, Route], tuple[Manifest, Route]]]:
    """(later, first) for every route that can match a request an earlier route matches.

    The gateway serves a request with the first route that matches it, so any overlap, even
    /claims/latest against /claims/{id}, would make routing depend on the order of functions.
    """
    routes = [(m, m.api.route) for m in manifests if m.api]
    for index, (manifest, route) in enumerate(routes):
        first = next((earlier for earlier in routes[:index] if _overlap(earlier[1], route)), None)
        if first is not None:
            yield (manifest, route), first


def _overlap(first: Route, second: Route) -> bool:
    if first.method != second.method:
        return False
    first_segments, second_segments = _segments(first.path), _segments(second.path)
    return len(first_segments) == len(second_segments) and all(
        one == other or _is_param(one) or _is_param(other)
        for one, other in zip(first_segments, second_segments, strict=True)
    )


def _where(manifest: Manifest, at: FieldPath) -> str:
    line = manifest._lines.line(at)
    return _display(manifest.path) + (f":{line}" if line is not None else "")


def _yaml_files(functions_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in functions_dir.rglob("*")
        if path.suffix in (".yaml", ".yml")
        and path.is_file()
        and not _in_skipped_directory(path.relative_to(functions_dir))
    )


def _in_skipped_directory(relative_path: Path) -> bool:
    return any(
        part in _SKIPPED_DIRECTORIES or part.startswith(".") for part in relative_path.parts[:-1]
    )


def _is_manifest(path: Path) -> bool:
    """Whether a YAML file is a manifest. Broken files count, so that their errors are shown
    rather than the function silently disappearing."""
    if path.stem == "function":
        return True
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True
    return isinstance(root, yaml.MappingNode) and any(
        isinstance(key, yaml.ScalarNode) and key.value in _MANIFEST_SECTIONS
        for key, _ in root.value
    )


# --- Reading YAML with line numbers -----------------------------------------------------------


@dataclass
class _LineIndex:
    """1-based lines of the YAML nodes of one document, by field path."""

    values: dict[FieldPath, int] = dataclasses.field(default_factory=dict)
    keys: dict[FieldPath, int] = dataclasses.field(default_factory=dict)
    # (path of the repeated key, line of its first occurrence)
    duplicates: list[tuple[FieldPath, int]] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, root: yaml.Node) -> _LineIndex:
        index = cls()
        index._visit(root, (), frozenset())
        return index

    def line(self, at: FieldPath, *, key: bool = False) -> int | None:
        """The line of the key (key=True) or value at `at`; for a field that is not written in
        the file, the line of its nearest written parent."""
        if key and at in self.keys:
            return self.keys[at]
        if at in self.values:
            return self.values[at]
        for end in range(len(at) - 1, -1, -1):
            line = self.keys.get(at[:end]) or self.values.get(at[:end])
            if line is not None:
                return line
        return None

    def _visit(self, node: yaml.Node, at: FieldPath, enclosing: frozenset[int]) -> None:
        if id(node) in enclosing:
            raise yaml.composer.ComposerError(
                problem="found an alias inside the node it refers to", problem_mark=node.start_mark
            )
        self.values[at] = node.start_mark.line + 1
        enclosing |= {id(node)}
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._visit(item, (*at, index), enclosing)
        elif isinstance(node, yaml.MappingNode):
            first_lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # the constructor rejects complex keys
                name, line = key_node.value, key_node.start_mark.line + 1
                if name in first_lines:
                    self.duplicates.append(((*at, name), first_lines[name]))
                first_lines.setdefault(name, line)
                self.keys[(*at, name)] = line
                self._visit(value_node, (*at, name), enclosing)


def _read_document(path: Path) -> tuple[object, _LineIndex]:
    def failure(message: str, line: int | None = None) -> ManifestErrors:
        return ManifestErrors([ManifestError(path, "", line, message)])

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise failure(f"cannot read the file: {exc}") from None
    try:
        parsed = _parse_yaml(text)
    except yaml.MarkedYAMLError as exc:
        context = f"{exc.context}: " if exc.context else ""
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise failure(f"invalid YAML: {context}{exc.problem}", line) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"invalid YAML: {exc.reason} (character #x{exc.character:04x})"
        raise failure(message, line) from None
    if parsed is None:
        raise failure(
            "the file is empty; expected a manifest with 'function' and 'api' or 'trigger'"
        )
    return parsed


def _parse_yaml(text: str) -> tuple[object, _LineIndex] | None:
    """The document and the lines of its nodes; None for an empty document."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        lines = _LineIndex.of(root)  # before constructing: merge keys rewrite the node tree
        return loader.construct_document(root), lines
    finally:
        loader.dispose()


# --- Checking ---------------------------------------------------------------------------------
#
# Readers record an error and fall back to the default for an invalid value, so that checking
# goes on and every problem is reported; whatever was built is thrown away if any were found.


@dataclass
class _Checker:
    file: Path
    lines: _LineIndex
    errors: list[ManifestError] = dataclasses.field(default_factory=list)

    def error(self, at: FieldPath, message: str, *, key: bool = False) -> None:
        line = self.lines.line(at, key=key)
        self.errors.append(ManifestError(self.file, _dotted(at), line, message))

    def section(self, value: object, at: FieldPath, fields: Collection[str]) -> _Section | None:
        """`value` as a mapping with the given fields (all optional; unknown ones reported)."""
        if not isinstance(value, dict):
            self.error(
                at, f"expected a mapping with the fields {_listing(fields)}, got {_describe(value)}"
            )
            return None
        for name in value:
            if name not in fields:
                self.error(
                    (*at, str(name)),
                    f"unknown field {name!r} (expected one of: {_listing(fields)})"
                    f"{_did_you_mean(str(name), fields)}",
                    key=True,
                )
        return _Section(self, at, value)

    def parse(
        self, value: object, at: FieldPath, parse: Callable[[object], _T], default: _D
    ) -> _T | _D:
        try:
            return parse(value)
        except ValueError as exc:
            self.error(at, str(exc))
            return default


@dataclass
class _Section:
    checker: _Checker
    at: FieldPath
    values: dict[Any, object]

    def get(self, name: str, parse: Callable[[object], _T], default: _D) -> _T | _D:
        """The field parsed, or `default` if it is absent or invalid (an error is recorded)."""
        if name not in self.values:
            return default
        return self.checker.parse(self.values[name], (*self.at, name), parse, default)

    def require(self, name: str, parse: Callable[[object], _T], example: str) -> _T | None:
        if name not in self.values:
            self.missing(name, example)
            return None
        return self.get(name, parse, None)

    def missing(self, name: str, example: str) -> None:
        self.checker.error((*self.at, name), f"missing required field {name!r} (e.g. {example})")

    def child(self, name: str, fields: Collection[str]) -> _Section | None:
        if name not in self.values:
            return None
        return self.checker.section(self.values[name], (*self.at, name), fields)

    def misplaced(self, name: str, route: Route | None, allowed: Collection[str], why: str) -> bool:
        """Report and return True if the field is set on a route whose method does not allow
        it. An invalid route (None) was reported already, so nothing more is said about it."""
        if name not in self.values or route is None or route.method in allowed:
            return False
        message = f"not allowed on a {route.method} route: {why}"
        self.checker.error((*self.at, name), message, key=True)
        return True


@dataclass(frozen=True)
class _WholeNumber:
    low: int
    high: int | None = None
    unit: str = ""

    @property
    def description(self) -> str:
        number = f"whole number of {self.unit}" if self.unit else "whole number"
        if self.high is not None:
            return f"a {number} from {self.low} to {self.high}"
        return f"a positive {number}" if self.low == 1 else f"a {number}, {self.low} or more"

    def _in_range(self, value: int) -> bool:
        return self.low <= value and (self.high is None or value <= self.high)

    def __call__(self, value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and self._in_range(value):
            return value
        quoted = isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)
        hint = " (a string: write the number without quotes)" if quoted else ""
        raise ValueError(f"expected {self.description}, got {_describe(value)}{hint}")


@dataclass(frozen=True)
class _Text:
    pattern: re.Pattern[str]
    description: str

    def __call__(self, value: object) -> str:
        if isinstance(value, str) and self.pattern.fullmatch(value):
            return value
        raise ValueError(f"expected {self.description}, got {_describe(value)}")


@dataclass(frozen=True)
class _OneOf:
    options: tuple[str, ...]

    def __call__(self, value: object) -> str:
        if isinstance(value, str) and value in self.options:
            return value
        hint = _did_you_mean(value, self.options) if isinstance(value, str) else ""
        expected = " or ".join(repr(option) for option in self.options)
        raise ValueError(f"expected {expected}, got {_describe(value)}{hint}")


_NAME = _Text(
    re.compile(r"(?!.{64})[a-z]([-a-z0-9]*[a-z0-9])?"),
    "a DNS-1123 label (lower-case letters, digits and '-'; starting with a letter, ending with "
    "a letter or digit; at most 63 characters) such as 'submit-claim'",
)
_QUEUE_NAME = _Text(
    re.compile(r"(?!.{101})[a-z0-9][a-z0-9._-]*"),
    "a queue name (lower-case letters, digits, '.', '_' and '-'; starting with a letter or "
    "digit; at most 100 characters) such as 'claim-review-jobs'",
)
_STORE_NAME = _Text(
    re.compile(r"[a-z][a-z0-9_]*"),
    "a store name (lower-case letters, digits and '_', starting with a letter) such as 'claims'",
)
_RESOURCE_NAMES = {"store": _STORE_NAME, "queue": _QUEUE_NAME}
_HANDLER = _Text(
    re.compile(r"[A-Za-z_]\w*(/[A-Za-z_]\w*)*\.[A-Za-z_]\w*", re.ASCII),
    "'<module path>.<function>' such as 'src/claims.submit' (function submit in src/claims.py)",
)
_MEMORY = _Text(re.compile(r"[1-9][0-9]*(Mi|Gi)"), "a memory size such as '256Mi' or '1Gi'")
_ORIGIN = _Text(
    re.compile(r"\*|https?://[^/\s]+"),
    "'*' or an origin such as 'https://app.example.com' (scheme, host and port; no path)",
)
_AUTH = _OneOf(("required", "none"))
_RESOURCE_KIND = _OneOf(("store", "queue"))
_AUDIENCE = _Text(re.compile(r"[^\s]{1,200}"), "an audience such as 'portico-claims' (no spaces)")

_TIMEOUT = _WholeNumber(1, 900, "seconds")
_CONCURRENCY = _WholeNumber(1, 1000)
_RETRIES = _WholeNumber(0, 20)
_MIN_REPLICAS = _WholeNumber(0, unit="replicas")
_MAX_REPLICAS = _WholeNumber(1, unit="replicas")
_REQUESTS = _WholeNumber(1, unit="requests")
_BYTES = _WholeNumber(1, unit="bytes")
_SECONDS = _WholeNumber(1, unit="seconds")
_SECONDS_OR_ZERO = _WholeNumber(0, unit="seconds")
_HOURS = _WholeNumber(1, unit="hours")

_DEFAULT_SCALE = Scale(min=0, max=5)
_DEFAULT_RETENTION_HOURS = 24

_TOP_FIELDS = ("name", "api", "trigger", "function", "resources")
_API_FIELDS = (
    "route",
    "auth",
    "jwt",
    "request_validation",
    "rate_limit",
    "cache",
    "max_body_bytes",
    "idempotency",
    "cors",
)
_FUNCTION_FIELDS = ("handler", "timeout_seconds", "concurrency", "scale", "memory")
_RATE_LIMIT_FIELDS = ("per_second", "per_minute", "per_hour")


def _build_manifest(checker: _Checker, document: object) -> Manifest | None:
    top = checker.section(document, (), _TOP_FIELDS)
    if top is None:
        return None
    _check_kind(top)
    name = _manifest_name(top)
    api = _api(top)
    trigger = _trigger(top)
    function = _function(top)
    resources = _resources(top)
    if function is None:
        return None
    file = checker.file
    return Manifest(name, file, file.parent, api, trigger, function, resources, checker.lines)


def _check_kind(top: _Section) -> None:
    has_api, has_trigger = "api" in top.values, "trigger" in top.values
    if has_api and has_trigger:
        top.checker.error(
            ("trigger",),
            "a function has either 'api' (served over HTTP) or 'trigger' (fed by a queue), "
            "not both",
            key=True,
        )
    elif not has_api and not has_trigger:
        top.checker.error(
            (),
            "missing 'api' or 'trigger': add 'api' (with a route) for an HTTP function, or "
            "'trigger' (with a queue) for a worker",
        )


def _manifest_name(top: _Section) -> str:
    file = top.checker.file
    if "name" in top.values:
        return top.get("name", _NAME, file.stem)
    from_directory = file.stem == "function"
    name = file.parent.name if from_directory else file.stem
    if not _NAME.pattern.fullmatch(name):
        source = "directory name" if from_directory else "file name"
        top.checker.error(
            ("name",),
            f"the name {name!r} taken from the {source} is not {_NAME.description}; "
            "add a 'name:' field",
        )
    return name


def _api(top: _Section) -> Api | None:
    api = top.child("api", _API_FIELDS)
    if api is None:
        return None
    route = api.require("route", _parse_route, "route: POST /claims")
    auth = api.get("auth", _AUTH, "required")
    jwt = _jwt(api, auth)
    request_schema = _request_schema(api, route)
    rate_limit = _rate_limit(api)
    cache = _cache(api, route)
    max_body_bytes = api.get("max_body_bytes", _BYTES, 1024 * 1024)
    idempotency = _idempotency(api, route)
    cors = _cors(api)
    if route is None:
        return None
    return Api(
        route, auth, jwt, request_schema, rate_limit, cache, max_body_bytes, idempotency, cors
    )


def _jwt(api: _Section, auth: str) -> Jwt | None:
    section = api.child("jwt", ("audience",))
    if section is None:
        return None
    if auth != "required":
        api.checker.error(
            (*api.at, "jwt"), "'jwt' says how callers authenticate; it needs 'auth: required'"
        )
        return None
    audience = section.require("audience", _AUDIENCE, "audience: portico-claims")
    return Jwt(audience) if audience is not None else None


def _parse_route(value: object) -> Route:
    if not isinstance(value, str):
        raise ValueError(f"expected {_ROUTE_FORM}, got {_describe(value)}")
    return Route.parse(value)


def _request_schema(api: _Section, route: Route | None) -> dict[str, Any] | None:
    name = "request_validation"
    why = "only POST, PUT and PATCH requests have a body to validate"
    if name not in api.values or api.misplaced(name, route, _BODY_METHODS, why):
        return None
    value, at = api.values[name], (*api.at, name)
    if isinstance(value, list) and value:
        return _compile_shorthand(api.checker, value, at)
    if isinstance(value, dict):
        try:
            check_schema(value)
        except RequestSchemaError as exc:
            for location, message in exc.problems:
                api.checker.error((*at, *location), message)
        return value
    api.checker.error(
        at,
        "expected a list of items such as 'policyId required' or a JSON Schema mapping, "
        f"got {_describe(value)}",
    )
    return None


def _compile_shorthand(
    checker: _Checker, items: list[object], at: FieldPath
) -> dict[str, Any] | None:
    texts: list[str] = []
    positions: list[int] = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            texts.append(item)
            positions.append(position)
        else:
            message = f"expected a string such as 'policyId required', got {_describe(item)}"
            checker.error((*at, position), message)
    try:
        return compile_shorthand(texts)
    except RequestSchemaError as exc:
        for location, message in exc.problems:
            checker.error((*at, positions[int(location[0])]), message)
        return None


def _rate_limit(api: _Section) -> RateLimit | None:
    section = api.child("rate_limit", _RATE_LIMIT_FIELDS)
    if section is None:
        return None
    if not any(name in section.values for name in _RATE_LIMIT_FIELDS):
        section.checker.error(
            section.at, f"expected at least one of {_listing(_RATE_LIMIT_FIELDS)}, got none"
        )
    return RateLimit(*(section.get(name, _REQUESTS, None) for name in _RATE_LIMIT_FIELDS))


def _cache(api: _Section, route: Route | None) -> Cache | None:
    if api.misplaced("cache", route, ("GET",), "only GET responses are cached"):
        return None
    section = api.child("cache", ("ttl_seconds",))
    if section is None:
        return None
    ttl_seconds = section.require("ttl_seconds", _SECONDS, "ttl_seconds: 30")
    return Cache(ttl_seconds) if ttl_seconds is not None else None


def _idempotency(api: _Section, route: Route | None) -> Idempotency | None:
    name = "idempotency"
    why = "GET requests are safe to repeat already"
    if name not in api.values:
        # On by default where a retry would otherwise create a second resource.
        return Idempotency(_DEFAULT_RETENTION_HOURS) if route and route.method == "POST" else None
    if api.misplaced(name, route, _STATE_CHANGING_METHODS, why):
        return None
    value = api.values[name]
    if isinstance(value, bool):
        return Idempotency(_DEFAULT_RETENTION_HOURS) if value else None
    if not isinstance(value, dict):
        api.checker.error(
            (*api.at, name),
            f"expected true, false or a mapping with retention_hours, got {_describe(value)}",
        )
        return None
    section = api.child(name, ("retention_hours",))
    if section is None:
        return None
    return Idempotency(section.get("retention_hours", _HOURS, _DEFAULT_RETENTION_HOURS))


def _cors(api: _Section) -> Cors | None:
    section = api.child("cors", ("allow_origins", "max_age_seconds"))
    if section is None:
        return None
    allow_origins = _allow_origins(section)
    max_age_seconds = section.get("max_age_seconds", _SECONDS_OR_ZERO, 600)
    return Cors(allow_origins, max_age_seconds) if allow_origins is not None else None


def _allow_origins(cors: _Section) -> tuple[str, ...] | None:
    if "allow_origins" not in cors.values:
        cors.missing("allow_origins", "allow_origins: ['https://app.example.com']")
        return None
    at, value = (*cors.at, "allow_origins"), cors.values["allow_origins"]
    if not isinstance(value, list) or not value:
        cors.checker.error(
            at,
            "expected a non-empty list of origins such as ['https://app.example.com'], "
            f"got {_describe(value)}",
        )
        return None
    origins = (
        cors.checker.parse(origin, (*at, index), _ORIGIN, None)
        for index, origin in enumerate(value)
    )
    return tuple(origin for origin in origins if origin is not None)


def _function(top: _Section) -> FunctionSpec | None:
    if "function" not in top.values:
        top.missing("function", "function: {handler: src/claims.submit}")
        return None
    function = top.child("function", _FUNCTION_FIELDS)
    if function is None:
        return None
    handler = function.require("handler", _HANDLER, "handler: src/claims.submit")
    timeout_seconds = function.get("timeout_seconds", _TIMEOUT, 10)
    concurrency = function.get("concurrency", _CONCURRENCY, 8)
    scale = _scale(function)
    memory = function.get("memory", _MEMORY, "256Mi")
    if handler is None:
        return None
    module, attr = handler.rsplit(".", 1)
    handler_file = function.checker.file.parent / f"{module}.py"
    if not handler_file.is_file():
        function.checker.error(
            (*function.at, "handler"),
            f"expected the handler module {module}.py next to the manifest, "
            f"but {_display(handler_file)} does not exist",
        )
    return FunctionSpec(handler, handler_file, attr, timeout_seconds, concurrency, scale, memory)


def _scale(function: _Section) -> Scale:
    section = function.child("scale", ("min", "max"))
    if section is None:
        return _DEFAULT_SCALE
    scale = Scale(
        section.get("min", _MIN_REPLICAS, _DEFAULT_SCALE.min),
        section.get("max", _MAX_REPLICAS, _DEFAULT_SCALE.max),
    )
    if scale.min > scale.max:
        section.checker.error(
            section.at, f"expected min <= max, got min {scale.min} and max {scale.max}"
        )
    return scale


def _trigger(top: _Section) -> Trigger | None:
    trigger = top.child("trigger", ("queue", "retries"))
    if trigger is None:
        return None
    queue = trigger.require("queue", _QUEUE_NAME, "queue: claim-review-jobs")
    retries = trigger.get("retries", _RETRIES, 3)
    return Trigger(queue, retries) if queue is not None else None


def _resources(top: _Section) -> tuple[Resource, ...]:
    if "resources" not in top.values:
        return ()
    value = top.values["resources"]
    if not isinstance(value, dict):
        top.checker.error(
            ("resources",),
            "expected a mapping of binding names to resources such as "
            f"{{claims_store: claims}}, got {_describe(value)}",
        )
        return ()
    resources = _Section(top.checker, ("resources",), value)
    found = (_resource(resources, binding) for binding in value)
    return tuple(resource for resource in found if resource is not None)


def _resource(resources: _Section, binding: object) -> Resource | None:
    at = (*resources.at, str(binding))
    if not (isinstance(binding, str) and binding.isidentifier() and not keyword.iskeyword(binding)):
        resources.checker.error(
            at,
            "expected a Python identifier as the binding name (it becomes an attribute of "
            f"the handler's context), got {_describe(binding)}",
            key=True,
        )
        return None
    if isinstance(resources.values[binding], dict):
        return _explicit_resource(resources, binding)
    kind = next((kind for kind in _RESOURCE_NAMES if binding.endswith(f"_{kind}")), None)
    if kind is None:
        resources.checker.error(
            at,
            f"cannot tell the kind of resource {binding!r} from its name: end the name in "
            "_store or _queue, or write {kind: store|queue, name: ...}",
        )
        return None
    name = resources.get(binding, _RESOURCE_NAMES[kind], None)
    return Resource(binding, kind, name) if name is not None else None


def _explicit_resource(resources: _Section, binding: str) -> Resource | None:
    section = resources.child(binding, ("kind", "name"))
    if section is None:
        return None
    kind = section.require("kind", _RESOURCE_KIND, "kind: queue")
    if kind is None:
        return None  # the name can only be checked against the rules of its kind
    name = section.require("name", _RESOURCE_NAMES[kind], "name: claim-review-jobs")
    return Resource(binding, kind, name) if name is not None else None


# --- Helpers ----------------------------------------------------------------------------------


def _path_params(path: str) -> tuple[str, ...]:
    if not path.startswith("/"):
        raise ValueError(f"expected the path to start with '/', got {path!r}")
    if path in RESERVED_PATHS:
        reserved = ", ".join(sorted(RESERVED_PATHS))
        raise ValueError(f"{path} is reserved by Portico and cannot be routed ({reserved})")
    if path != "/" and path.endswith("/"):
        raise ValueError(f"expected no trailing '/', got {path!r} (write {path.rstrip('/')!r})")
    params: list[str] = []
    for segment in _segments(path):
        if not segment:
            raise ValueError(f"expected no empty segments ('//') in the path, got {path!r}")
        if not _is_param(segment):
            if not _LITERAL_SEGMENT.fullmatch(segment):
                raise ValueError(
                    "expected path segments of letters, digits, '.', '_', '~' and '-', or a "
                    f"{{parameter}}, got {segment!r}"
                )
        elif not _PARAM_NAME.fullmatch(segment[1:-1]):
            raise ValueError(
                "expected a parameter name of letters, digits and '_' not starting with a "
                f"digit, got {segment!r}"
            )
        elif segment[1:-1] in params:
            raise ValueError(f"path parameter {segment} appears twice in {path!r}")
        else:
            params.append(segment[1:-1])
    return tuple(params)


def _segments(path: str) -> tuple[str, ...]:
    return () if path == "/" else tuple(path[1:].split("/"))


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _dotted(at: FieldPath) -> str:
    text = ""
    for part in at:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return repr(value)
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    return f"{value} (a {type(value).__name__})"


def _listing(names: Collection[str]) -> str:
    return ", ".join(sorted(names))


def _did_you_mean(word: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
