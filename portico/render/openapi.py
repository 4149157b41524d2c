"""OpenAPI 3.1 for the whole deployment, a pure function of the manifests (as in Chalice).

Every route documents what the platform itself can answer: the handler's success (2XX), the
runtime's problem+json errors (400/415/422 for bodies, 409/422 for Idempotency-Key, 504, 503,
500), the gateway's Kong-style rejections (401, 404, 413, 429, 503), and a problem+json 4XX for
whatever a handler raises.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from portico import headers
from portico.manifest import BODY_METHODS, Api, Manifest, RequestExample
from portico.policies.rate_limit import configured_windows

PROBLEM = {"$ref": "#/components/schemas/Problem"}
GATEWAY_ERROR = {"$ref": "#/components/schemas/GatewayError"}
JWT_ERROR = {"$ref": "#/components/schemas/JwtError"}

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "apiKey": {"type": "apiKey", "in": "header", "name": headers.API_KEY},
        "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    },
    "schemas": {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details, as every function error is answered.",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "requestId": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        },
        "GatewayError": {
            "type": "object",
            "description": "A rejection by the gateway, in Kong's shape.",
            "required": ["message"],
            "properties": {"message": {"type": "string"}},
        },
        "JwtError": {
            "description": "A JWT refused by the gateway: Kong's message, or the failed claim.",
            "anyOf": [
                GATEWAY_ERROR,
                {
                    "type": "object",
                    "required": ["exp"],
                    "properties": {"exp": {"type": "string"}},
                },
            ],
        },
    },
}

RATE_LIMIT_HEADERS = {
    name: {"description": description, "schema": {"type": "integer"}}
    for name, description in (
        ("RateLimit-Limit", "Requests allowed in the window that runs out first"),
        ("RateLimit-Remaining", "Requests left in that window"),
        ("RateLimit-Reset", "Seconds until that window resets"),
        ("Retry-After", "Seconds to wait before retrying"),
    )
}


def render(manifests: list[Manifest]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for manifest in manifests:
        if manifest.api is not None:
            route = manifest.api.route
            paths.setdefault(route.path, {})[route.method.lower()] = operation(
                manifest, manifest.api
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Portico API",
            "version": version("portico"),
            "description": "Rendered from the function manifests by `portico render openapi`.",
        },
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }


def operation(manifest: Manifest, api: Api) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": manifest.name,
        "summary": f"{api.route} ({manifest.name})",
        "security": security(api),
        "responses": responses(manifest, api),
    }
    if api.rate_limit is not None:
        # Per consumer, counted by the gateway: {"second": 10, "minute": 300}
        spec["x-rate-limit"] = dict(configured_windows(api.rate_limit))
    example = api.example or RequestExample({}, {}, None)
    parameters = [path_parameter(name, example.path.get(name)) for name in api.route.params]
    parameters += [query_parameter(name, value) for name, value in example.query.items()]
    if api.idempotency is not None:
        parameters.append(idempotency_parameter())
    if parameters:
        spec["parameters"] = parameters
    if api.route.method in BODY_METHODS:
        spec["requestBody"] = request_body(api, example)
    return spec


def request_body(api: Api, example: RequestExample) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": api.request_schema or {}}
    if example.body is not None:
        media["example"] = example.body
    return {"required": api.request_schema is not None, "content": {"application/json": media}}


def security(api: Api) -> list[dict[str, list[str]]]:
    if api.auth != "required":
        return []
    return [{"jwt": []}] if api.jwt is not None else [{"apiKey": []}]


def path_parameter(name: str, example: str | None = None) -> dict[str, Any]:
    parameter = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    return parameter if example is None else {**parameter, "example": example}


def query_parameter(name: str, example: str) -> dict[str, Any]:
    """A query parameter the manifest's example sends (the handler defines the rest)."""
    schema = {"type": "string"}
    return {"name": name, "in": "query", "required": False, "schema": schema, "example": example}


def idempotency_parameter() -> dict[str, Any]:
    return {
        "name": headers.IDEMPOTENCY_KEY,
        "in": "header",
        "required": False,
        "description": "Retry-safe POST: the first response is replayed for the same key.",
        "schema": {"type": "string", "maxLength": 257},
    }


def responses(manifest: Manifest, api: Api) -> dict[str, Any]:
    out: dict[str, Any] = {"2XX": {"description": "The handler's answer", "content": _json({})}}
    if api.route.method in BODY_METHODS:
        out["400"] = problem("The body is not JSON, or a malformed header")
        out["413"] = either("The body is larger than max_body_bytes")
        out["415"] = problem("The body is not application/json")
        out["422"] = problem("The body failed validation; errors lists each field")
    if api.auth == "required" and api.jwt is not None:
        out["401"] = {
            "description": f"No JWT, or one that is invalid, expired or not for {api.jwt.audience}",
            "content": _json(JWT_ERROR),
        }
    elif api.auth == "required":
        out["401"] = gateway("No API key, or an unknown one")
    out["404"] = either("No such resource, or (from the gateway) no route for this path")
    if api.idempotency is not None:
        out["409"] = problem("A request with this Idempotency-Key is still running")
        out.setdefault("422", problem("The Idempotency-Key was used for a different request"))
    if api.rate_limit is not None:
        out["429"] = {
            **gateway("Over the consumer's rate limit; retry after Retry-After"),
            "headers": RATE_LIMIT_HEADERS,
        }
    out["4XX"] = problem("An error the handler raised")
    out["500"] = problem("An unexpected error; quote the requestId")
    out["503"] = either("The database is unavailable, or the function could not be started")
    out["504"] = problem(f"The function ran past its {manifest.function.timeout_seconds} s timeout")
    return out


def problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM}},
    }


def gateway(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(GATEWAY_ERROR)}


def either(description: str) -> dict[str, Any]:
    """Answered by the gateway (Kong's shape) or, behind it, by the function (problem+json)."""
    return {
        "description": description,
        "content": {
            **_json(GATEWAY_ERROR),
            "application/problem+json": {"schema": PROBLEM},
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
