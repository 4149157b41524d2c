"""Function manifests: one YAML file per function under `functions/`, loaded into plain data.

As in Chalice, routes are data: the runtime, the gateway and the chart all read the same
immutable `Manifest`. Loading checks everything it can and reports every problem with its
file, field path and line, so a manifest can be fixed in one pass.

May import: the top-level modules only.

The modules, one concept each: `vocabulary` (HTTP methods, auth modes, resource kinds),
`model` (the dataclasses), `routes` (parsing and matching routes), `errors`, `lines` (YAML
with the line of every field), `checker` and `fields` (the checking framework and the value
parsers), `sections`, `api_section` and `dependencies_section` (reading each section),
`deployment` (checks between manifests), `loading` (finding and loading files); `limits` and
`request_schema` as before.
"""

from portico.manifest.deployment import check_deployment
from portico.manifest.errors import ManifestError, ManifestErrors
from portico.manifest.loading import load_all, load_manifest
from portico.manifest.model import (
    Api,
    Cache,
    Cors,
    Dependency,
    FunctionSpec,
    Idempotency,
    Jwt,
    Manifest,
    RateLimit,
    RequestExample,
    Resource,
    Scale,
    StandIn,
    Trigger,
)
from portico.manifest.routes import Route
from portico.manifest.vocabulary import BODY_METHODS, HTTP_METHODS, Auth, HttpMethod, ResourceKind

__all__ = [
    "BODY_METHODS",
    "HTTP_METHODS",
    "Api",
    "Auth",
    "Cache",
    "Cors",
    "Dependency",
    "FunctionSpec",
    "HttpMethod",
    "Idempotency",
    "Jwt",
    "Manifest",
    "ManifestError",
    "ManifestErrors",
    "RateLimit",
    "RequestExample",
    "Resource",
    "ResourceKind",
    "Route",
    "Scale",
    "StandIn",
    "Trigger",
    "check_deployment",
    "load_all",
    "load_manifest",
]
