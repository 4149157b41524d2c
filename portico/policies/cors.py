"""CORS for routes with `api.cors`, as Kong's `cors` plugin does it (it runs before auth):
a preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered 200 by the
gateway itself; every other answer on the route gets Access-Control-Allow-Origin."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from portico.manifest import Cors

KONG_DEFAULT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    return (
        method == "OPTIONS" and "Origin" in headers and "Access-Control-Request-Method" in headers
    )


def normalize(origin: str) -> str:
    """scheme://host[:port], without a default port: how browsers and Kong compare origins."""
    parts = urlsplit(origin)
    if not parts.hostname:
        return origin
    port = parts.port if parts.port not in (None, DEFAULT_PORTS.get(parts.scheme)) else None
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")


def origin_headers(policy: Cors, request_origin: str | None) -> dict[str, str]:
    origins = policy.allow_origins
    if not origins or origins == ("*",):
        return {"Access-Control-Allow-Origin": "*"}
    headers = {"Vary": "Origin"}
    if len(origins) == 1 and origins[0] != "*":
        headers["Access-Control-Allow-Origin"] = origins[0]
        return headers
    if request_origin is not None:
        if "*" in origins:
            return {"Access-Control-Allow-Origin": "*"}
        wanted = normalize(request_origin)
        if any(normalize(allowed) == wanted for allowed in origins):
            headers["Access-Control-Allow-Origin"] = wanted
    return headers


def preflight_headers(policy: Cors, request_headers: Mapping[str, str]) -> dict[str, str]:
    headers = origin_headers(policy, request_headers.get("Origin"))
    requested = request_headers.get("Access-Control-Request-Headers")
    if requested:
        headers["Access-Control-Allow-Headers"] = requested
    headers["Access-Control-Allow-Methods"] = KONG_DEFAULT_METHODS
    headers["Access-Control-Max-Age"] = str(policy.max_age_seconds)
    return headers
