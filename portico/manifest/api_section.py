"""Reading the `api` section: the route, auth and the per-route policies."""

from __future__ import annotations

from typing import Any

from portico.manifest import fields
from portico.manifest.checker import Checker, Section
from portico.manifest.lines import FieldPath
from portico.manifest.model import Api, Cache, Cors, Idempotency, Jwt, RateLimit, RequestExample
from portico.manifest.request_schema import (
    Location,
    RequestSchemaError,
    check_schema,
    compile_shorthand,
)
from portico.manifest.routes import ROUTE_FORM, Route
from portico.manifest.vocabulary import BODY_METHODS, STATE_CHANGING_METHODS, Auth
from portico.manifest.wording import describe, listing

API_FIELDS = (
    "route",
    "auth",
    "jwt",
    "request_validation",
    "rate_limit",
    "cache",
    "max_body_bytes",
    "idempotency",
    "cors",
    "example",
)
_RATE_LIMIT_FIELDS = ("per_second", "per_minute", "per_hour")
_DEFAULT_RETENTION_HOURS = 24


def read_api(top: Section) -> Api | None:
    api = top.child("api", API_FIELDS)
    if api is None:
        return None
    route = api.require("route", _parse_route, "route: POST /claims")
    auth: Auth = api.get("auth", fields.AUTH, "required")
    jwt = _jwt(api, auth)
    request_schema = _request_schema(api, route)
    rate_limit = _rate_limit(api)
    cache = _cache(api, route)
    max_body_bytes = api.get("max_body_bytes", fields.BYTES, 1024 * 1024)
    idempotency = _idempotency(api, route)
    cors = _cors(api)
    example = _example(api, route, request_schema)
    if route is None:
        return None
    return Api(
        route,
        auth,
        jwt,
        request_schema,
        rate_limit,
        cache,
        max_body_bytes,
        idempotency,
        cors,
        example,
    )


def _jwt(api: Section, auth: Auth) -> Jwt | None:
    section = api.child("jwt", ("audience",))
    if section is None:
        return None
    if auth != "required":
        api.checker.error(
            (*api.at, "jwt"), "'jwt' says how callers authenticate; it needs 'auth: required'"
        )
        return None
    audience = section.require("audience", fields.AUDIENCE, "audience: portico-claims")
    return Jwt(audience) if audience is not None else None


def _parse_route(value: object) -> Route:
    if not isinstance(value, str):
        raise ValueError(f"expected {ROUTE_FORM}, got {describe(value)}")
    return Route.parse(value)


def _request_schema(api: Section, route: Route | None) -> dict[str, Any] | None:
    name = "request_validation"
    why = "only POST, PUT and PATCH requests have a body to validate"
    if name not in api.values or api.misplaced(name, route, BODY_METHODS, why):
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
        f"got {describe(value)}",
    )
    return None


def _compile_shorthand(
    checker: Checker, items: list[object], at: FieldPath
) -> dict[str, Any] | None:
    texts: list[str] = []
    positions: list[int] = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            texts.append(item)
            positions.append(position)
        else:
            message = f"expected a string such as 'policyId required', got {describe(item)}"
            checker.error((*at, position), message)
    try:
        return compile_shorthand(texts)
    except RequestSchemaError as exc:
        for location, message in exc.problems:
            checker.error((*at, positions[int(location[0])]), message)
        return None


def _rate_limit(api: Section) -> RateLimit | None:
    section = api.child("rate_limit", _RATE_LIMIT_FIELDS)
    if section is None:
        return None
    if not any(name in section.values for name in _RATE_LIMIT_FIELDS):
        section.checker.error(
            section.at, f"expected at least one of {listing(_RATE_LIMIT_FIELDS)}, got none"
        )
    return RateLimit(*(section.get(name, fields.REQUESTS, None) for name in _RATE_LIMIT_FIELDS))


def _cache(api: Section, route: Route | None) -> Cache | None:
    if api.misplaced("cache", route, ("GET",), "only GET responses are cached"):
        return None
    section = api.child("cache", ("ttl_seconds",))
    if section is None:
        return None
    ttl_seconds = section.require("ttl_seconds", fields.SECONDS, "ttl_seconds: 30")
    return Cache(ttl_seconds) if ttl_seconds is not None else None


def _idempotency(api: Section, route: Route | None) -> Idempotency | None:
    name = "idempotency"
    why = "GET requests are safe to repeat already"
    if name not in api.values:
        # On by default where a retry would otherwise create a second resource.
        return Idempotency(_DEFAULT_RETENTION_HOURS) if route and route.method == "POST" else None
    if api.misplaced(name, route, STATE_CHANGING_METHODS, why):
        return None
    value = api.values[name]
    if isinstance(value, bool):
        return Idempotency(_DEFAULT_RETENTION_HOURS) if value else None
    if not isinstance(value, dict):
        api.checker.error(
            (*api.at, name),
            f"expected true, false or a mapping with retention_hours, got {describe(value)}",
        )
        return None
    section = api.child(name, ("retention_hours",))
    if section is None:
        return None
    return Idempotency(section.get("retention_hours", fields.HOURS, _DEFAULT_RETENTION_HOURS))


def _cors(api: Section) -> Cors | None:
    section = api.child("cors", ("allow_origins", "max_age_seconds"))
    if section is None:
        return None
    allow_origins = _allow_origins(section)
    max_age_seconds = section.get("max_age_seconds", fields.SECONDS_OR_ZERO, 600)
    return Cors(allow_origins, max_age_seconds) if allow_origins is not None else None


def _allow_origins(cors: Section) -> tuple[str, ...] | None:
    if "allow_origins" not in cors.values:
        cors.missing("allow_origins", "allow_origins: ['https://app.example.com']")
        return None
    at, value = (*cors.at, "allow_origins"), cors.values["allow_origins"]
    if not isinstance(value, list) or not value:
        cors.checker.error(
            at,
            "expected a non-empty list of origins such as ['https://app.example.com'], "
            f"got {describe(value)}",
        )
        return None
    origins = (
        cors.checker.parse(origin, (*at, index), fields.ORIGIN, None)
        for index, origin in enumerate(value)
    )
    return tuple(origin for origin in origins if origin is not None)


def _example(
    api: Section, route: Route | None, schema: dict[str, Any] | None
) -> RequestExample | None:
    """`api.example`: one request a client could send; checked as the runtime would check it."""
    section = api.child("example", ("path", "query", "body"))
    if section is None or route is None:
        return None
    path = _example_texts(section, "path")
    query = _example_texts(section, "query")
    _check_path_example(section, route, path)
    shorthand = isinstance(api.values.get("request_validation"), list)
    body = _example_body(section, route, schema, shorthand)
    return RequestExample(path, query, body)


def _example_texts(example: Section, name: str) -> dict[str, str]:
    """`example.path` or `example.query`: names to the text a client sends (numbers allowed,
    since a URL carries them as text anyway)."""
    if name not in example.values:
        return {}
    value, at = example.values[name], (*example.at, name)
    if not isinstance(value, dict):
        example.checker.error(at, f"expected a mapping of names to values, got {describe(value)}")
        return {}
    texts: dict[str, str] = {}
    for key, text in value.items():
        if isinstance(text, str | int | float) and not isinstance(text, bool):
            texts[str(key)] = str(text)
        else:
            message = f"expected a string or a number, got {describe(text)}"
            example.checker.error((*at, str(key)), message)
    return texts


def _check_path_example(example: Section, route: Route, path: dict[str, str]) -> None:
    missing = [name for name in route.params if name not in path]
    unknown = [name for name in path if name not in route.params]
    if not (missing or unknown):
        return
    expected = listing(route.params) if route.params else "none (the route has no parameters)"
    found = []
    if missing:
        found.append(f"missing {listing(missing)}")
    if unknown:
        found.append(f"unknown {listing(unknown)}")
    example.checker.error(
        (*example.at, "path"),
        f"expected exactly the route's parameters ({expected}), got {'; '.join(found)}",
    )


def _example_body(
    example: Section, route: Route, schema: dict[str, Any] | None, shorthand: bool
) -> Any:
    why = "only POST, PUT and PATCH requests have a body"
    if example.misplaced("body", route, BODY_METHODS, why):
        return None
    if "body" not in example.values:
        if schema is not None and route.method in BODY_METHODS:
            example.missing("body", "body: {policyId: P-1001}")
        return None
    body = example.values["body"]
    # A schema that is itself invalid was reported already; nothing can be checked against it.
    schema_errors = any(
        e.field.startswith("api.request_validation") for e in example.checker.errors
    )
    if schema is not None and not schema_errors:
        for location, message in _body_problems(schema, body, shorthand):
            example.checker.error((*example.at, "body", *location), message)
    return body


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _body_problems(
    schema: dict[str, Any], body: object, shorthand: bool
) -> list[tuple[Location, str]]:
    """What the runtime would refuse in `body`. A compiled shorthand schema is checked here, so
    that loading shorthand manifests never imports jsonschema (see request_schema)."""
    if not shorthand:
        from jsonschema import Draft202012Validator

        errors = Draft202012Validator(schema).iter_errors(body)
        return [(tuple(error.absolute_path), error.message) for error in errors]
    if not isinstance(body, dict):
        return [((), f"expected a mapping of the request's fields, got {describe(body)}")]
    problems: list[tuple[Location, str]] = [
        ((name,), f"the required field {name!r} is missing")
        for name in schema["required"]
        if name not in body
    ]
    for name, rule in schema["properties"].items():
        problem = _field_problem(rule, body[name]) if name in body else None
        if problem is not None:
            problems.append(((name,), problem))
    return problems


def _field_problem(rule: dict[str, Any], value: object) -> str | None:
    kind = rule["type"]
    is_bool = isinstance(value, bool)
    # JSON Schema's integer is a number with no fraction, 3.0 included.
    whole = kind == "integer" and isinstance(value, float) and value.is_integer()
    wrong_type = not isinstance(value, _JSON_TYPES[kind]) and not whole
    if wrong_type or (is_bool and kind != "boolean"):
        return f"expected {kind}, got {describe(value)}"
    if isinstance(value, str) and not rule.get("minLength", 0) <= len(value):
        return "expected a non-empty string (the field is required)"
    if isinstance(value, str) and len(value) > rule.get("maxLength", len(value)):
        return f"expected at most {rule['maxLength']} characters, got {len(value)}"
    return None
