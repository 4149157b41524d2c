"""The Kong configuration: true to the manifests, every plugin field one Kong 3.x knows, and the
committed copy is current."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from portico import headers
from portico.cli import main
from portico.manifest import Cors, Manifest, load_all
from portico.policies.consumers import consumer_id, parse_consumers
from portico.policies.upstream import SECRET_REFERENCE, header_policy
from portico.render import kong
from tests.conftest import FUNCTIONS_DIR, ROOT, TEST_FUNCTIONS_DIR
from tests.keys import PUBLIC_KEY, consumer_yaml

SHIPPED = load_all(FUNCTIONS_DIR)  # every app: what gateway-config/kong.yaml is rendered from
CLAIMS = load_all(FUNCTIONS_DIR / "claims")  # the claims app alone, whatever else ships
TESTAPP = load_all(TEST_FUNCTIONS_DIR)
CONFIG = kong.render(CLAIMS)
SHIPPED_CONFIG = kong.render(SHIPPED)
SCHEMAS = json.loads((ROOT / "tests" / "unit" / "kong_plugin_schemas.json").read_text())
COMMITTED = ROOT / "gateway-config" / "kong.yaml"


def routes_by_name(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {route["name"]: route for route in config["routes"]}


def plugins_of(route: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {plugin["name"]: plugin["config"] for plugin in route["plugins"]}


def all_plugins(config: dict[str, Any]) -> list[dict[str, Any]]:
    scopes = [config, *config["routes"]]
    return [plugin for scope in scopes for plugin in scope["plugins"]]


def python_regex(kong_path: str) -> re.Pattern[str]:
    """Kong's regex path as a Python pattern; like Kong, match it with re.match (from the start)."""
    assert kong_path.startswith("~")
    return re.compile(kong_path[1:].replace("(?<", "(?P<"))


def render_with_cli(*options: str) -> Result:
    """`portico render kong` on the claims app, to standard output."""
    arguments = ["render", "kong", "--output", "-", "--functions-dir", str(FUNCTIONS_DIR)]
    return CliRunner().invoke(main, [*arguments, *options])


def with_cors(manifest: Manifest, cors: Cors) -> Manifest:
    assert manifest.api is not None
    return dataclasses.replace(manifest, api=dataclasses.replace(manifest.api, cors=cors))


# --- The committed file -------------------------------------------------------------------------


def test_the_committed_config_is_current():
    assert COMMITTED.read_text() == kong.to_yaml(SHIPPED_CONFIG), (
        "gateway-config/kong.yaml is stale: run `make render`"
    )


def test_the_cli_defaults_render_the_committed_config():
    result = render_with_cli()
    assert result.exit_code == 0, result.output
    assert result.output == COMMITTED.read_text()


def test_the_file_is_yaml_of_the_config_under_a_dev_only_warning():
    text = COMMITTED.read_text()
    assert yaml.safe_load(text) == SHIPPED_CONFIG
    assert text.startswith("# DEV-ONLY CREDENTIALS")
    assert "# rendered by `portico render kong` from functions/*.yaml; do not edit" in text
    assert "&id" not in text and "*id" not in text  # no YAML anchors or aliases


# --- Structure of the claims app ----------------------------------------------------------------


def test_format_version_and_one_service_per_http_function():
    assert CONFIG["_format_version"] == "3.0"
    assert [(s["name"], s["url"]) for s in CONFIG["services"]] == [
        ("claim-status", "http://portico-claim-status.portico.svc.cluster.local"),
        ("get-claim", "http://portico-get-claim.portico.svc.cluster.local"),
        ("list-claims", "http://portico-list-claims.portico.svc.cluster.local"),
        ("submit-claim", "http://portico-submit-claim.portico.svc.cluster.local"),
    ]  # review-claim is a queue worker: no service


def test_service_timeouts_are_the_upstream_timeout_in_milliseconds_without_retries():
    services = {s["name"]: s for s in CONFIG["services"]}
    # function timeout + the 5 s gateway margin
    for name, timeout_ms in [
        ("get-claim", 10_000),
        ("list-claims", 10_000),
        ("submit-claim", 25_000),
    ]:
        service = services[name]
        assert service["connect_timeout"] == service["read_timeout"] == timeout_ms
        assert service["write_timeout"] == timeout_ms
        assert service["retries"] == 0


def test_routes_have_their_method_an_anchored_regex_path_and_keep_the_path():
    routes = routes_by_name(CONFIG)
    assert {name: (r["methods"], r["paths"]) for name, r in routes.items()} == {
        "claim-status": (["GET"], ["~/claims/(?<claimId>[^/]+)/status$"]),
        "get-claim": (["GET"], ["~/claims/(?<claimId>[^/]+)$"]),
        "list-claims": (["GET"], ["~/claims$"]),
        "submit-claim": (["POST"], ["~/claims$"]),
    }
    assert all(route["strip_path"] is False for route in routes.values())


@pytest.mark.parametrize(
    ("route", "path", "params"),
    [
        ("get-claim", "/claims/c-123", {"claimId": "c-123"}),
        ("get-claim", "/claims/a/b", None),
        ("claim-status", "/claims/c-1/status", {"claimId": "c-1"}),
        ("claim-status", "/claims/c-1", None),
        ("get-claim", "/claims/", None),
        ("get-claim", "/claims", None),
        ("list-claims", "/claims", {}),
        ("list-claims", "/claimsX", None),
        ("list-claims", "/claims/", None),
        ("list-claims", "/claims/a/b", None),
        ("list-claims", "/v1/claims", None),
    ],
)
def test_each_regex_path_matches_its_route_and_nothing_else(route, path, params):
    [kong_path] = routes_by_name(CONFIG)[route]["paths"]
    match = python_regex(kong_path).match(path)
    assert (match.groupdict() if match else None) == params


def test_a_literal_dot_in_a_path_is_escaped():
    assert kong.segment_pattern("v1.2") == r"v1\.2"


def test_plugins_per_route():
    routes = routes_by_name(CONFIG)
    assert {name: sorted(plugins_of(r)) for name, r in routes.items()} == {
        "claim-status": [
            "jwt",
            "pre-function",
            "rate-limiting",
            "request-size-limiting",
            "request-transformer",
        ],
        "get-claim": ["key-auth", "rate-limiting", "request-size-limiting", "request-transformer"],
        "list-claims": [
            "key-auth",
            "rate-limiting",
            "request-size-limiting",
            "request-transformer",
        ],
        "submit-claim": [
            "key-auth",
            "rate-limiting",
            "request-size-limiting",
            "request-transformer",
        ],
    }
    plugins = plugins_of(routes["get-claim"])
    assert plugins["key-auth"] == {
        "key_names": ["apikey"],
        "key_in_query": False,
        "hide_credentials": True,
    }
    assert plugins["rate-limiting"] == {
        "second": 10,
        "minute": 300,
        "limit_by": "consumer",
        "policy": "redis",
        "redis": {"host": "portico-redis", "port": 6379},
        "fault_tolerant": True,
    }
    assert plugins["request-size-limiting"] == {
        "allowed_payload_size": 1_048_576,
        "size_unit": "bytes",
    }


def test_global_plugins():
    assert CONFIG["plugins"] == [
        {
            "name": "correlation-id",
            "config": {"header_name": "X-Request-ID", "generator": "uuid", "echo_downstream": True},
        },
        {"name": "prometheus", "config": {"status_code_metrics": True, "latency_metrics": True}},
    ]


def test_jwt_routes_take_bearer_tokens_checked_for_expiry():
    plugins = plugins_of(routes_by_name(CONFIG)["claim-status"])
    assert plugins["jwt"] == {
        "header_names": ["authorization"],
        "uri_param_names": [],
        "cookie_names": [],
        "key_claim_name": "iss",
        "claims_to_verify": ["exp"],
        "secret_is_base64": False,
    }
    assert "key-auth" not in plugins


def test_jwt_routes_check_their_audience_in_a_pre_function():
    [lua] = plugins_of(routes_by_name(CONFIG)["claim-status"])["pre-function"]["access"]
    assert lua.startswith('local audience = "portico-claims"\n')
    assert 'kong.response.exit(401, { message = "Invalid audience" })' in lua
    assert 'require("cjson.safe")' in lua  # allowed by KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES


def test_audiences_are_quoted_as_lua_strings():
    assert kong.lua_string('a"b\\c') == '"a\\"b\\\\c"'


def test_the_default_consumers_are_the_dev_consumers():
    assert CONFIG["consumers"] == [
        {
            "username": name,
            "id": consumer_id(name),
            "keyauth_credentials": [{"key": f"{name}-dev-key"}],
            "jwt_secrets": [
                {
                    "key": f"{name}-dev-issuer",
                    "algorithm": "HS256",
                    "secret": f"{name}-dev-jwt-secret-not-for-production",
                }
            ],
        }
        for name in ("alice", "bob")
    ]


def test_parameters_reach_services_and_redis():
    config = kong.render(
        CLAIMS,
        upstream_template="http://{name}.fns.example:8080",
        redis_host="redis.example",
        redis_port=6380,
    )
    assert config["services"][1]["url"] == "http://get-claim.fns.example:8080"
    redis = plugins_of(routes_by_name(config)["get-claim"])["rate-limiting"]["redis"]
    assert redis == {"host": "redis.example", "port": 6380}


# --- Every field is one Kong knows ----------------------------------------------------------------


def unknown_fields(config: dict[str, Any], schema: dict[str, Any], at: str) -> list[str]:
    """Fields or values of a plugin config that its schema fixture does not allow."""
    problems = []
    for field, value in config.items():
        where = f"{at}.{field}"
        if field not in schema or field == "_source":
            problems.append(f"{where}: unknown field")
        elif isinstance(schema[field], dict):
            problems += unknown_fields(value, schema[field], where)
        elif isinstance(schema[field], list):
            values = value if isinstance(value, list) else [value]
            problems += [f"{where}: {v!r} not allowed" for v in values if v not in schema[field]]
    return problems


@pytest.mark.parametrize("manifests", [CLAIMS, TESTAPP], ids=["claims", "testapp"])
def test_every_plugin_field_and_value_is_in_kongs_schema(manifests):
    cors = Cors(("https://app.example.com",), 600)
    config = kong.render([with_cors(m, cors) if m.api else m for m in manifests])
    problems = []
    for plugin in all_plugins(config):
        assert set(plugin) == {"name", "config"}
        schema = SCHEMAS.get(plugin["name"])
        assert schema is not None, f"no schema fixture for plugin {plugin['name']}"
        problems += unknown_fields(plugin["config"], schema, plugin["name"])
    assert problems == []


def test_every_entity_field_is_in_kongs_schema():
    entities = SCHEMAS["_entities"]
    for kind in ("services", "routes", "consumers"):
        assert all(set(entity) <= set(entities[kind]) for entity in SHIPPED_CONFIG[kind]), kind
    assert all(set(p) <= set(entities["plugins"]) for p in all_plugins(SHIPPED_CONFIG))
    secrets = [s for consumer in SHIPPED_CONFIG["consumers"] for s in consumer["jwt_secrets"]]
    assert secrets and all(set(secret) <= set(entities["jwt_secrets"]) for secret in secrets)


def test_the_fixture_names_a_source_for_every_plugin():
    for name, schema in SCHEMAS.items():
        if not name.startswith("_"):
            assert {"kong_version", "repository", "path", "commit"} <= set(schema["_source"])


def test_the_walk_catches_unknown_fields_and_values():
    schema = SCHEMAS["rate-limiting"]
    config = {"minute": 1, "policy": "cluster", "redis": {"hostname": "x"}, "redis_host": "x"}
    assert unknown_fields(config, schema, "rl") == [
        "rl.policy: 'cluster' not allowed",
        "rl.redis.hostname: unknown field",
        "rl.redis_host: unknown field",
    ]


@pytest.mark.parametrize("manifests", [CLAIMS, TESTAPP], ids=["claims", "testapp"])
def test_names_are_unique_and_every_route_references_a_service(manifests):
    config = kong.render(manifests)
    services = [s["name"] for s in config["services"]]
    routes = [r["name"] for r in config["routes"]]
    assert len(set(services)) == len(services)
    assert len(set(routes)) == len(routes)
    assert all(route["service"] in services for route in config["routes"])
    for scope in [config, *config["routes"]]:
        names = [p["name"] for p in scope["plugins"]]
        assert len(set(names)) == len(names)


# --- The varied testapp manifests ----------------------------------------------------------------


TESTAPP_ROUTES = routes_by_name(kong.render(TESTAPP))


def test_auth_none_routes_have_no_key_auth():
    for name in ("write-then-fail", "write-then-sleep"):
        assert "key-auth" not in plugins_of(TESTAPP_ROUTES[name])
    assert "key-auth" in plugins_of(TESTAPP_ROUTES["cached"])


def test_a_cached_route_gets_proxy_cache():
    plugins = plugins_of(TESTAPP_ROUTES["cached"])
    assert plugins["proxy-cache"] == {
        "strategy": "memory",
        "cache_ttl": 2,
        "request_method": ["GET", "HEAD"],
        "response_code": [200, 301, 404],
        "content_type": ["application/json"],
    }
    assert "proxy-cache" not in plugins_of(TESTAPP_ROUTES["limited"])


def test_rate_limits_keep_their_windows():
    limits = plugins_of(TESTAPP_ROUTES["limited"])["rate-limiting"]
    assert (limits["second"], limits["minute"]) == (3, 5)
    assert "hour" not in limits


def test_a_put_route_gets_its_body_limit_and_parameter():
    route = TESTAPP_ROUTES["shaped-body"]
    assert route["methods"] == ["PUT"]
    assert python_regex(route["paths"][0]).match("/shapes/s1")
    assert plugins_of(route)["request-size-limiting"] == {
        "allowed_payload_size": 256,
        "size_unit": "bytes",
    }


def test_queue_workers_get_no_service_or_route():
    names = {s["name"] for s in kong.render(TESTAPP)["services"]} | set(TESTAPP_ROUTES)
    assert not names & {"note-taker", "tally"}


def test_cors_adds_the_plugin_and_lets_preflights_reach_it():
    [list_claims] = [m for m in CLAIMS if m.name == "list-claims"]
    manifest = with_cors(list_claims, Cors(("https://app.example.com",), 600))
    [route] = kong.render([manifest])["routes"]
    assert route["methods"] == ["GET", "OPTIONS"]
    assert plugins_of(route)["cors"] == {"origins": ["https://app.example.com"], "max_age": 600}


# --- Consumers ------------------------------------------------------------------------------------


def test_a_consumers_file_replaces_the_dev_consumers_and_their_warning(tmp_path):
    consumers = tmp_path / "consumers.yaml"
    consumers.write_text(
        "- username: globex\n  keys: [g-key-2, g-key-1]\n" + consumer_yaml("acme", "acme-idp")
    )
    result = render_with_cli("--consumers", str(consumers))
    assert result.exit_code == 0, result.output
    assert "DEV-ONLY" not in result.output and "dev-key" not in result.output
    assert result.output.startswith("# rendered by `portico render kong`")
    assert yaml.safe_load(result.output)["consumers"] == [
        {
            "username": "acme",
            "id": consumer_id("acme"),
            "jwt_secrets": [
                {"key": "acme-idp", "algorithm": "RS256", "rsa_public_key": PUBLIC_KEY + "\n"}
            ],
        },
        {
            "username": "globex",
            "id": consumer_id("globex"),
            "keyauth_credentials": [{"key": "g-key-1"}, {"key": "g-key-2"}],
        },
    ]


@pytest.mark.parametrize(
    "text",
    [
        "- {username: alice, keys: [alice-dev-key]}\n",
        "- {username: eve, jwt: [{issuer: x, secret: bob-dev-jwt-secret-not-for-production}]}\n",
    ],
)
def test_a_dev_credential_in_a_consumers_file_keeps_the_warning(text):
    consumers = parse_consumers(text)
    assert kong.to_yaml(kong.render(CLAIMS, consumers=consumers)).startswith("# DEV-ONLY")


def test_a_bad_consumers_file_is_refused_naming_the_option(tmp_path):
    consumers = tmp_path / "consumers.yaml"
    consumers.write_text("- {username: acme, keys: [k], id: x}\n")
    result = render_with_cli("--consumers", str(consumers))
    assert result.exit_code == 2
    assert "--consumers" in result.output and "unknown field(s) id" in result.output


def test_an_upstream_template_without_name_is_refused():
    for template in ("http://fixed.example", "http://{name}.{namespace}.svc"):
        result = render_with_cli("--upstream-template", template)
        assert result.exit_code == 2
        assert "must contain {name}" in result.output


@pytest.mark.parametrize("manifests", [CLAIMS, TESTAPP], ids=["claims", "testapp"])
def test_what_reaches_a_function_is_the_upstream_header_policy(manifests):
    """Kong's plugins drop exactly the headers portico.policies.upstream says a function never gets:
    credentials by key-auth's hide_credentials or request-transformer, client copies of the
    identity headers by the auth plugin (which sets its own) or, without auth, by
    request-transformer; and request-transformer adds the gateway secret."""
    by_name = {m.name: m for m in manifests}
    for route in kong.render(manifests)["routes"]:
        api = by_name[route["name"]].api
        assert api is not None
        plugins = plugins_of(route)
        transformer = plugins["request-transformer"]
        removed = {h.lower() for h in transformer["remove"]["headers"]}
        if "key-auth" in plugins:
            assert plugins["key-auth"]["hide_credentials"] is True
            removed.add("apikey")
        if api.auth == "required":
            removed |= {h.lower() for h in headers.GATEWAY_ASSERTED}  # set by the auth plugin
        assert removed == header_policy(api).removed(), route["name"]
        assert transformer["add"]["headers"] == [f"{headers.GATEWAY_SECRET}:{SECRET_REFERENCE}"]


def test_kong_config_puts_the_gateway_secret_in_place_of_its_reference(tmp_path, monkeypatch):
    config = tmp_path / "kong.yaml"
    config.write_text(kong.to_yaml(CONFIG))
    output = tmp_path / "out.yaml"
    monkeypatch.setenv("PORTICO_GATEWAY_SECRET", "s3cret-value")
    result = CliRunner().invoke(main, ["kong-config", str(config), "--output", str(output)])
    assert result.exit_code == 0, result.output
    routes = yaml.safe_load(output.read_text())["routes"]
    added = [plugins_of(r)["request-transformer"]["add"]["headers"] for r in routes]
    assert added == [[f"{headers.GATEWAY_SECRET}:s3cret-value"]] * len(routes)
    assert SECRET_REFERENCE not in json.dumps(yaml.safe_load(output.read_text()))


def test_kong_config_without_a_consumers_file_adds_none(tmp_path):
    # The chart's Kong init container without a consumers Secret: never the dev consumers.
    config = tmp_path / "kong.yaml"
    config.write_text(kong.dump_yaml(kong.render(CLAIMS, consumers=())))
    output = tmp_path / "out.yaml"
    result = CliRunner().invoke(main, ["kong-config", str(config), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(output.read_text())["consumers"] == []
    assert not output.read_text().startswith("# DEV-ONLY")
