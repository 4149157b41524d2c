"""Kong OSS 3.9 DB-less declarative configuration, a pure function of the manifests.

One service and one route per HTTP function. The manifest's gateway policies become plugins on
the route with the dev gateway's behaviour (portico.gateway.app): key-auth on the `apikey` header,
or jwt with Portico's audience check (see AUDIENCE_CHECK); per-consumer rate limits counted in
Redis, request-size-limiting, proxy-cache, cors; correlation-id and prometheus apply to every
route. tests/unit/test_kong.py checks every plugin field rendered here against Kong 3.x's own
plugin schemas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from portico import headers
from portico.manifest import Api, Cache, Cors, Jwt, Manifest, RateLimit, Route
from portico.manifest.limits import GATEWAY_MARGIN_SECONDS, upstream_timeout_seconds
from portico.policies.consumers import DEV_CONSUMERS, DEV_SECRETS, Consumer, JwtCredential
from portico.policies.rate_limit import configured_windows
from portico.policies.response_cache import CACHEABLE_STATUSES, CACHEABLE_TYPES
from portico.policies.upstream import SECRET_REFERENCE, header_policy

FORMAT_VERSION = "3.0"
# The chart's name for a function's Service in release `portico` (namespace `portico`).
DEFAULT_UPSTREAM_TEMPLATE = "http://portico-{name}.portico.svc.cluster.local"
DEFAULT_REDIS_HOST = "portico-redis"
DEFAULT_REDIS_PORT = 6379

HEADER = (
    "# rendered by `portico render kong` from functions/*.yaml; do not edit\n"
    "# Kong OSS 3.9 DB-less declarative configuration (KONG_DECLARATIVE_CONFIG)\n"
    "# JWT routes' audience check needs KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES=cjson.safe\n"
    f"# {SECRET_REFERENCE}: `portico kong-config` writes PORTICO_GATEWAY_SECRET there\n"
)
DEV_CREDENTIALS_WARNING = (
    "# DEV-ONLY CREDENTIALS: these consumers carry the published dev keys and JWT secrets.\n"
    "# Never deploy them: the chart replaces the consumers from a Secret.\n"
)


def render(
    manifests: Iterable[Manifest],
    *,
    upstream_template: str = DEFAULT_UPSTREAM_TEMPLATE,
    redis_host: str = DEFAULT_REDIS_HOST,
    redis_port: int = DEFAULT_REDIS_PORT,
    consumers: Sequence[Consumer] = DEV_CONSUMERS,
    gateway_margin_seconds: int = GATEWAY_MARGIN_SECONDS,
) -> dict[str, Any]:
    functions = http_functions(manifests)
    redis = {"host": redis_host, "port": redis_port}
    return {
        "_format_version": FORMAT_VERSION,
        "services": [service(m, upstream_template, gateway_margin_seconds) for m, _ in functions],
        "routes": [route(m.name, api, redis) for m, api in functions],
        "plugins": global_plugins(),
        "consumers": [consumer(c) for c in sorted(consumers, key=lambda c: c.username)],
    }


def http_functions(manifests: Iterable[Manifest]) -> list[tuple[Manifest, Api]]:
    """(manifest, api) of every HTTP function, by name; queue workers have no route."""
    return sorted(((m, m.api) for m in manifests if m.api is not None), key=lambda f: f[0].name)


def service(manifest: Manifest, upstream_template: str, margin_seconds: int) -> dict[str, Any]:
    timeout_ms = upstream_timeout_seconds(manifest, margin_seconds) * 1000
    return {
        "name": manifest.name,
        "url": upstream_template.format(name=manifest.name),
        "connect_timeout": timeout_ms,
        "read_timeout": timeout_ms,
        "write_timeout": timeout_ms,
        # Kong retries 5 times by default: a retried POST could run its function twice, and the
        # wait would outlast the timeout chain. The dev gateway never retries either.
        "retries": 0,
    }


def route(name: str, api: Api, redis: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "service": name,
        "methods": route_methods(api),
        "paths": [regex_path(api.route)],
        "strip_path": False,
        "plugins": route_plugins(api, redis),
    }


def route_methods(api: Api) -> list[str]:
    # A CORS preflight is an OPTIONS request; the cors plugin answers it only if the route
    # matches it. It runs before key-auth, so a preflight needs no key.
    return [api.route.method, "OPTIONS"] if api.cors is not None else [api.route.method]


def regex_path(route: Route) -> str:
    """The route's path as a Kong 3.x regex path: "~" marks a regex (a plain path would match
    as a prefix), Kong anchors it at the start and "$" at the end; {param} matches one segment.
    """
    segments = (segment_pattern(segment) for segment in route.path.split("/")[1:])
    return "~/" + "/".join(segments) + "$"


def segment_pattern(segment: str) -> str:
    if segment.startswith("{") and segment.endswith("}"):
        return f"(?<{segment[1:-1]}>[^/]+)"
    return segment.replace(".", r"\.")  # the only regex metacharacter a literal segment allows


def route_plugins(api: Api, redis: dict[str, Any]) -> list[dict[str, Any]]:
    plugins = [request_size_limiting(api.max_body_bytes), request_transformer(api)]
    if api.auth == "required" and api.jwt is not None:
        plugins += [jwt(), jwt_audience(api.jwt)]
    elif api.auth == "required":
        plugins.append(key_auth())
    if api.rate_limit is not None:
        plugins.append(rate_limiting(api.rate_limit, redis))
    if api.cache is not None:
        plugins.append(proxy_cache(api.cache))
    if api.cors is not None:
        plugins.append(cors(api.cors))
    return sorted(plugins, key=lambda p: str(p["name"]))


def plugin(name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "config": config}


def request_transformer(api: Api) -> dict[str, Any]:
    """portico.policies.upstream's header policy. request-transformer runs after the auth plugins
    (priority 801 against key-auth's 1250 and jwt's 1450), which set the caller's identity
    headers themselves, replacing any a client sent: only a route without auth must drop them
    here. Removal comes before addition within the plugin, so a client's own copy of the
    secret header is gone before the real one is added."""
    policy = header_policy(api)
    removed = [*policy.credentials, *(() if api.auth == "required" else policy.asserted)]
    return plugin(
        "request-transformer",
        {
            "remove": {"headers": [*removed, policy.secret]},
            "add": {"headers": [f"{policy.secret}:{SECRET_REFERENCE}"]},
        },
    )


def key_auth() -> dict[str, Any]:
    return plugin(
        "key-auth",
        {
            "key_names": [headers.API_KEY],
            "key_in_query": False,  # the header only, as in dev: keys in URLs end up in logs
            "hide_credentials": True,  # functions never see a key
        },
    )


def jwt() -> dict[str, Any]:
    return plugin(
        "jwt",
        {
            "header_names": ["authorization"],  # Authorization: Bearer only, as in dev:
            "uri_param_names": [],  # tokens in URLs end up in logs
            "cookie_names": [],
            "key_claim_name": "iss",  # the consumer's jwt_secrets are keyed by issuer
            "claims_to_verify": ["exp"],
            "secret_is_base64": False,
        },
    )


# Kong OSS's jwt plugin has no audience check. This pre-function (priority 1000000, so it runs
# before jwt) refuses a readable token whose aud does not name the API; an unreadable or absent
# token is left to the jwt plugin to describe. Kong's Lua sandbox must allow cjson.safe:
# KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES=cjson.safe (the chart sets it).
AUDIENCE_CHECK = """\
local audience = %s
local token = (kong.request.get_header("authorization") or ""):match("[Bb]earer%%s+(%%S+)")
if not token then return end
local payload = token:match("^[^.]+%%.([^.]+)%%.")
if not payload then return end
payload = payload:gsub("%%-", "+"):gsub("_", "/")
payload = payload .. string.rep("=", (4 - #payload %% 4) %% 4)
local claims = require("cjson.safe").decode(ngx.decode_base64(payload) or "")
if type(claims) ~= "table" then return end
local aud = claims.aud
if type(aud) == "string" then aud = { aud } end
if type(aud) == "table" then
  for _, name in ipairs(aud) do
    if name == audience then return end
  end
end
return kong.response.exit(401, { message = "Invalid audience" })
"""


def jwt_audience(policy: Jwt) -> dict[str, Any]:
    return plugin("pre-function", {"access": [AUDIENCE_CHECK % lua_string(policy.audience)]})


def lua_string(text: str) -> str:
    """A double-quoted Lua string literal (audiences have no whitespace or control characters)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rate_limiting(limits: RateLimit, redis: dict[str, Any]) -> dict[str, Any]:
    return plugin(
        "rate-limiting",
        {
            **dict(configured_windows(limits)),
            "limit_by": "consumer",  # falls back to the client IP on auth: none routes
            "policy": "redis",
            "redis": dict(redis),
            "fault_tolerant": True,
        },
    )


def request_size_limiting(max_body_bytes: int) -> dict[str, Any]:
    return plugin(
        "request-size-limiting", {"allowed_payload_size": max_body_bytes, "size_unit": "bytes"}
    )


def proxy_cache(cache: Cache) -> dict[str, Any]:
    return plugin(
        "proxy-cache",
        {
            "strategy": "memory",  # per Kong node, keyed by consumer, route, path and query
            "cache_ttl": cache.ttl_seconds,
            "request_method": ["GET", "HEAD"],
            "response_code": sorted(CACHEABLE_STATUSES),
            "content_type": list(CACHEABLE_TYPES),
        },
    )


def cors(policy: Cors) -> dict[str, Any]:
    return plugin(
        "cors", {"origins": list(policy.allow_origins), "max_age": policy.max_age_seconds}
    )


def global_plugins() -> list[dict[str, Any]]:
    return [
        plugin(
            "correlation-id",
            {"header_name": headers.REQUEST_ID, "generator": "uuid", "echo_downstream": True},
        ),
        # Kong 3.x collects no per-route request metrics unless asked to.
        plugin("prometheus", {"status_code_metrics": True, "latency_metrics": True}),
    ]


def consumer(account: Consumer) -> dict[str, Any]:
    entry: dict[str, Any] = {"username": account.username, "id": account.id}
    if account.api_keys:
        entry["keyauth_credentials"] = [{"key": key} for key in sorted(account.api_keys)]
    if account.jwt_credentials:
        credentials = sorted(account.jwt_credentials, key=lambda c: c.issuer)
        entry["jwt_secrets"] = [jwt_secret(credential) for credential in credentials]
    return entry


def jwt_secret(credential: JwtCredential) -> dict[str, Any]:
    key_field = credential.key_field.kong
    return {"key": credential.issuer, "algorithm": credential.algorithm, key_field: credential.key}


# --- YAML ---------------------------------------------------------------------------------------


def to_yaml(config: dict[str, Any]) -> str:
    """The file: the header, a warning first whenever it carries dev credentials, the config."""
    warning = DEV_CREDENTIALS_WARNING if has_dev_credentials(config) else ""
    return warning + HEADER + dump_yaml(config)


def has_dev_credentials(config: dict[str, Any]) -> bool:
    return any(
        secret in DEV_SECRETS
        for account in config["consumers"]
        for secret in (
            *(credential["key"] for credential in account.get("keyauth_credentials", ())),
            *(credential.get("secret") for credential in account.get("jwt_secrets", ())),
        )
    )


class _PlainDumper(yaml.SafeDumper):
    """Writes a value shared by several places in full each time (no &anchors / *aliases), and
    multi-line text (Lua, PEM keys, embedded YAML) as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_PlainDumper.add_representer(str, _text)


def dump_yaml(document: object) -> str:
    """Block-style YAML in the document's own key order (the renderers order it stably)."""
    return yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False)


def with_consumers(
    config_text: str, consumers: Sequence[Consumer], gateway_secret: str | None = None
) -> str:
    """A rendered config (as the chart's ConfigMap holds it) with these consumers in it, and
    the gateway secret in place of its reference when one is given."""
    config = yaml.safe_load(config_text)
    config["consumers"] = [consumer(c) for c in sorted(consumers, key=lambda c: c.username)]
    if gateway_secret:
        for added in added_headers(config):
            lines = added["headers"]
            added["headers"] = [line.replace(SECRET_REFERENCE, gateway_secret) for line in lines]
    return to_yaml(config)


def added_headers(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The `add` part of every route's request-transformer."""
    return [
        entry["config"]["add"]
        for route_entry in config["routes"]
        for entry in route_entry["plugins"]
        if entry["name"] == "request-transformer"
    ]
