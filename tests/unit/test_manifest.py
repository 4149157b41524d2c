from pathlib import Path

import pytest

from portico.manifest import (
    Api,
    Cache,
    Cors,
    Idempotency,
    Jwt,
    Manifest,
    ManifestError,
    ManifestErrors,
    RateLimit,
    Resource,
    Route,
    Scale,
    Trigger,
    check_deployment,
    load_all,
    load_manifest,
)

FOUNDING_EXAMPLE = """\
api:
  route: POST /claims
  auth: required
  request_validation:
    - policyId required
    - documentKey required

function:
  handler: src/claims.submit
  timeout_seconds: 20

resources:
  claims_store: claims
  workflow_queue: claim-review-jobs
"""


def write(directory: Path, text: str, filename: str = "submit-claim.yaml") -> Path:
    """Write a manifest and the handler module src/claims.py next to it."""
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "src" / "claims.py").touch()
    path = directory / filename
    path.write_text(text)
    return path


def errors_of(path: Path) -> list[ManifestError]:
    with pytest.raises(ManifestErrors) as caught:
        load_manifest(path)
    return caught.value.errors


# Builders for the error cases: in each, the first line given is line 4 of the file.


def api(*lines: str, route: str = "POST /claims") -> str:
    return _lines("function: {handler: src/claims.submit}", "api:", f"  route: {route}", lines)


def function(*lines: str) -> str:
    return _lines("api: {route: POST /claims}", "function:", "  handler: src/claims.submit", lines)


def trigger(*lines: str) -> str:
    return _lines("# a worker", "function: {handler: src/claims.submit}", "trigger:", lines)


def resources(*lines: str) -> str:
    return _lines(
        "api: {route: POST /claims}", "function: {handler: src/claims.submit}", "resources:", lines
    )


def _lines(first: str, second: str, third: str, rest: tuple[str, ...]) -> str:
    return "\n".join([first, second, third, *(f"  {line}" for line in rest)]) + "\n"


# --- Loading valid manifests ------------------------------------------------------------------


def test_founding_example_loads_exactly_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, FOUNDING_EXAMPLE)
    manifest = load_manifest(path)
    assert manifest.name == "submit-claim"
    assert manifest.path == path.resolve()
    assert manifest.directory == tmp_path.resolve()
    assert manifest.api == Api(
        route=Route("POST", "/claims", ()),
        auth="required",
        jwt=None,
        request_schema={
            "type": "object",
            "properties": {
                "policyId": {"type": "string", "minLength": 1, "maxLength": 1024},
                "documentKey": {"type": "string", "minLength": 1, "maxLength": 1024},
            },
            "required": ["policyId", "documentKey"],
        },
        rate_limit=None,
        cache=None,
        max_body_bytes=1048576,
        idempotency=Idempotency(24),  # on by default for POST
        cors=None,
    )
    assert manifest.trigger is None
    spec = manifest.function
    assert (spec.handler, spec.handler_attr) == ("src/claims.submit", "submit")
    assert spec.handler_file == tmp_path.resolve() / "src" / "claims.py"
    assert spec.handler_file.is_absolute()
    assert (spec.timeout_seconds, spec.concurrency, spec.scale, spec.memory) == (
        20,
        8,
        Scale(0, 5),
        "256Mi",
    )
    assert manifest.resources == (
        Resource("claims_store", "store", "claims"),
        Resource("workflow_queue", "queue", "claim-review-jobs"),
    )
    assert manifest.stores == (Resource("claims_store", "store", "claims"),)
    assert manifest.queues == (Resource("workflow_queue", "queue", "claim-review-jobs"),)
    assert manifest.is_http
    assert not manifest.is_worker


def test_every_extension_is_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
name: update-claim
api:
  route: PUT /claims/{claimId}
  auth: none
  request_validation: {type: object, required: [status]}
  rate_limit: {per_second: 5, per_hour: 1000}
  max_body_bytes: 2048
  idempotency: {retention_hours: 48}
  cors: {allow_origins: ["https://app.example.com", "http://localhost:3000"]}
function:
  handler: src/claims.update
  timeout_seconds: 900
  concurrency: 1000
  scale: {min: 1, max: 1}
  memory: 1Gi
resources:
  reviews: {kind: queue, name: claim-review-jobs}
  documents: {kind: store, name: claim_documents}
""",
    )
    manifest = load_manifest(path)
    assert manifest.name == "update-claim"
    assert manifest.api == Api(
        route=Route("PUT", "/claims/{claimId}", ("claimId",)),
        auth="none",
        jwt=None,
        request_schema={"type": "object", "required": ["status"]},
        rate_limit=RateLimit(per_second=5, per_minute=None, per_hour=1000),
        cache=None,
        max_body_bytes=2048,
        idempotency=Idempotency(48),
        cors=Cors(("https://app.example.com", "http://localhost:3000"), 600),
    )
    spec = manifest.function
    assert (spec.timeout_seconds, spec.concurrency, spec.scale, spec.memory) == (
        900,
        1000,
        Scale(1, 1),
        "1Gi",
    )
    assert manifest.resources == (
        Resource("reviews", "queue", "claim-review-jobs"),
        Resource("documents", "store", "claim_documents"),
    )


@pytest.mark.parametrize(
    ("lines", "route", "field", "expected"),
    [
        (["cache: {ttl_seconds: 30}"], "GET /claims", "cache", Cache(30)),
        (["idempotency: true"], "POST /claims", "idempotency", Idempotency(24)),
        (["idempotency: {}"], "DELETE /claims/{id}", "idempotency", Idempotency(24)),
        (["idempotency: false"], "POST /claims", "idempotency", None),
        ([], "POST /claims", "idempotency", Idempotency(24)),
        ([], "PUT /claims/{id}", "idempotency", None),
        (["cors: {allow_origins: ['*'], max_age_seconds: 0}"], "GET /", "cors", Cors(("*",), 0)),
        (["rate_limit: {per_minute: 100}"], "GET /", "rate_limit", RateLimit(None, 100, None)),
        (["jwt: {audience: portico-claims}"], "GET /", "jwt", Jwt("portico-claims")),
        ([], "GET /", "jwt", None),
    ],
)
def test_api_options(tmp_path: Path, lines: list[str], route: str, field: str, expected: object):
    manifest = load_manifest(write(tmp_path, api(*lines, route=route)))
    assert getattr(manifest.api, field) == expected


def test_worker_manifest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
function:
  handler: src/claims.review
trigger:
  queue: claim-review-jobs
  retries: 0
resources:
  claims_store: claims
""",
        filename="review-claim.yml",
    )
    manifest = load_manifest(path)
    assert manifest.name == "review-claim"
    assert manifest.api is None
    assert manifest.trigger == Trigger("claim-review-jobs", 0)
    assert manifest.function.handler_attr == "review"
    assert manifest.is_worker
    assert not manifest.is_http
    assert manifest.queues == ()


def test_worker_retries_default_to_three(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, trigger("queue: jobs")))
    assert manifest.trigger == Trigger("jobs", 3)


def test_function_yaml_takes_its_name_from_the_directory(tmp_path: Path) -> None:
    path = write(tmp_path / "submit-claim", FOUNDING_EXAMPLE, filename="function.yaml")
    assert load_manifest(path).name == "submit-claim"


def test_handler_module_may_be_nested(tmp_path: Path) -> None:
    (tmp_path / "src" / "claims").mkdir(parents=True)
    (tmp_path / "src" / "claims" / "submit.py").touch()
    path = write(tmp_path, function().replace("src/claims.submit", "src/claims/submit.handle"))
    spec = load_manifest(path).function
    assert spec.handler_file == tmp_path.resolve() / "src" / "claims" / "submit.py"
    assert spec.handler_attr == "handle"


def test_manifest_is_immutable(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, FOUNDING_EXAMPLE))
    with pytest.raises(AttributeError):
        manifest.name = "other"  # type: ignore[misc]


# --- Routes -----------------------------------------------------------------------------------

CLAIM_DOCUMENT = Route.parse("GET /claims/{claimId}/documents/{docId}")


def test_route_parses_params_and_prints_as_written() -> None:
    assert Route.parse("GET /claims/{claimId}/documents/{docId}") == Route(
        "GET", "/claims/{claimId}/documents/{docId}", ("claimId", "docId")
    )
    assert str(CLAIM_DOCUMENT) == "GET /claims/{claimId}/documents/{docId}"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/claims/c-1/documents/d.pdf", {"claimId": "c-1", "docId": "d.pdf"}),
        ("/claims/c%201/documents/d%C3%A9", {"claimId": "c 1", "docId": "dé"}),
        ("/claims/a%2Fb/documents/d", {"claimId": "a/b", "docId": "d"}),
        ("/cl%61ims/c/documents/d", {"claimId": "c", "docId": "d"}),
    ],
)
def test_route_match_returns_decoded_params(path: str, params: dict[str, str]) -> None:
    assert CLAIM_DOCUMENT.match("GET", path) == params
    assert CLAIM_DOCUMENT.matches_path(path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/claims/c/documents/d"),
        ("get", "/claims/c/documents/d"),
        ("GET", "/claims/c/documents/d/extra"),
        ("GET", "/claims/c/documents"),
        ("GET", "/claims/c/documents/d/"),
        ("GET", "/claims//documents/d"),
        ("GET", "/claims/c/files/d"),
        ("GET", "claims/c/documents/d"),
    ],
)
def test_route_does_not_match(method: str, path: str) -> None:
    assert CLAIM_DOCUMENT.match(method, path) is None


def test_matches_path_ignores_the_method() -> None:
    assert Route.parse("POST /claims").matches_path("/claims")
    assert not Route.parse("POST /claims").matches_path("/claims/1")


def test_root_route_matches_only_root() -> None:
    root = Route.parse("GET /")
    assert root.match("GET", "/") == {}
    assert root.match("GET", "/claims") is None


# --- Every error, with its field path and line ------------------------------------------------


def case(text: str, field: str, line: int | None, *words: str) -> pytest.ParameterSet:
    """A manifest with exactly one error, at `field` on `line`, whose message has all `words`."""
    return pytest.param(text, field, line, words, id=f"{field or '<document>'}:{line}")


# fmt: off
ERROR_CASES = [
    # The whole document
    case("api:\n  route: POST /claims\n auth: none\n", "", 3, "invalid YAML", "block mapping"),
    case("", "", None, "the file is empty"),
    case("# nothing but a comment\n", "", None, "the file is empty"),
    case("- api\n- function\n", "", 1, "expected a mapping with the fields", "got a list"),
    case("api: &a [1, *a]\n", "", 1, "invalid YAML", "alias inside the node"),
    case("api: !!python/name:os.system\n", "", 1, "invalid YAML", "constructor"),
    case("api: {route: POST /claims}\nfunction: {handler: \x07}\n", "", 2,
         "invalid YAML", "special characters are not allowed", "#x0007"),
    case(function() + "---\n" + function(), "", 4, "invalid YAML", "single document"),
    case(function() + "functions: {}\n", "functions", 4,
         "unknown field 'functions'", "did you mean 'function'?"),
    case(function() + "api: {route: GET /}\n", "api", 4,
         "duplicate field 'api'", "first set on line 1", "last value"),
    case("api: {route: POST /claims}\n", "function", 1,
         "missing required field 'function'", "handler:"),
    case("function: {handler: src/claims.submit}\n", "", 1, "missing 'api' or 'trigger'"),
    case(api() + "trigger: {queue: jobs}\n", "trigger", 4,
         "either 'api'", "or 'trigger'", "not both"),
    case("name: Submit_Claim\n" + function(), "name", 1,
         "expected a DNS-1123 label", "got 'Submit_Claim'"),
    case(f"name: {'a' * 64}\n" + function(), "name", 1, "at most 63 characters"),
    case("name: claim-\n" + function(), "name", 1, "DNS-1123", "got 'claim-'"),
    case("name: 7\n" + function(), "name", 1, "DNS-1123", "got 7"),
    # api
    case("function: {handler: src/claims.submit}\napi:\n  auth: none\n", "api.route", 2,
         "missing required field 'route'", "POST /claims"),
    case("function: {handler: src/claims.submit}\napi: POST /claims\n", "api", 2,
         "expected a mapping with the fields auth, cache", "got 'POST /claims'"),
    case(api("authentication: none"), "api.authentication", 4,
         "unknown field 'authentication'", "expected one of: auth, cache, cors"),
    case(api("max_body_size: 10"), "api.max_body_size", 4, "did you mean 'max_body_bytes'?"),
    case(api(route="/claims"), "api.route", 3, "expected 'METHOD /path'", "got '/claims'"),
    case(api(route="POST /claims now"), "api.route", 3, "expected 'METHOD /path'"),
    case(api(route="42"), "api.route", 3, "expected 'METHOD /path'", "got 42"),
    case(api(route="post /claims"), "api.route", 3,
         "GET, POST, PUT, PATCH, DELETE", "got 'post'", "write 'POST'"),
    case(api(route="FETCH /claims"), "api.route", 3, "as the method", "got 'FETCH'"),
    case(api(route="POST claims"), "api.route", 3, "start with '/'", "got 'claims'"),
    case(api(route="POST /claims/"), "api.route", 3, "no trailing '/'", "write '/claims'"),
    case(api(route="POST /claims//documents"), "api.route", 3, "no empty segments"),
    case(api(route="POST /claims/{id}x"), "api.route", 3, "path segments", "got '{id}x'"),
    case(api(route="POST /cl@ims"), "api.route", 3, "path segments of letters", "got 'cl@ims'"),
    case(api(route="GET /claims/{1st}"), "api.route", 3, "parameter name", "got '{1st}'"),
    case(api(route="GET /claims/{id}/documents/{id}"), "api.route", 3, "{id} appears twice"),
    case(api(route="GET /healthz"), "api.route", 3,
         "/healthz is reserved", "/metrics, /openapi.json, /readyz"),
    case(api(route="GET /openapi.json"), "api.route", 3, "/openapi.json is reserved"),
    case(api("auth: maybe"), "api.auth", 4, "expected 'required' or 'none'", "got 'maybe'"),
    case(api("auth: requried"), "api.auth", 4, "did you mean 'required'?"),
    case(api("auth: no"), "api.auth", 4, "expected 'required' or 'none'", "got false"),
    case(api("request_validation: policyId required"), "api.request_validation", 4,
         "expected a list of items", "or a JSON Schema mapping", "got 'policyId required'"),
    case(api("request_validation: []"), "api.request_validation", 4,
         "expected a list of items", "got an empty list"),
    case(api("request_validation:", "  - policyId"), "api.request_validation[0]", 5,
         "'policyId'", "'<field> required|optional [<type>]"),
    case(api("request_validation:", "  - policyId required string now"),
         "api.request_validation[0]", 5, "too many words"),
    case(api("request_validation:", "  - policyId required", "  - documentKey mandatory"),
         "api.request_validation[1]", 6,
         "expected 'required' or 'optional'", "got 'mandatory'"),
    case(api("request_validation:", "  - total required money"), "api.request_validation[0]", 5,
         "unknown type 'money'"),
    case(api("request_validation:", "  - policy-id required"), "api.request_validation[0]", 5,
         "field name", "got 'policy-id'"),
    case(api("request_validation:", "  - policyId required", "  - policyId optional"),
         "api.request_validation[1]", 6,
         "duplicate field", "'policyId required'"),
    case(api("request_validation:", "  - policyId: required"), "api.request_validation[0]", 5,
         "expected a string such as 'policyId required'", "got a mapping"),
    case(api("request_validation: {type: strng}"), "api.request_validation.type", 4,
         "not a valid JSON Schema", "'strng' is not one of"),
    case(api("request_validation:", "  type: object", "  properties:", "    total: {minimum: ten}"),
         "api.request_validation.properties.total.minimum", 7,
         "not a valid JSON Schema", "'ten'"),
    case(api("request_validation: [policyId required]", route="GET /claims"),
         "api.request_validation", 4,
         "not allowed on a GET route", "only POST, PUT and PATCH"),
    case(api("request_validation: [policyId required]", route="DELETE /claims/{id}"),
         "api.request_validation", 4,
         "not allowed on a DELETE route"),
    case(api("rate_limit: {}"), "api.rate_limit", 4,
         "expected at least one of per_hour, per_minute, per_second"),
    case(api("rate_limit: 5"), "api.rate_limit", 4,
         "expected a mapping with the fields per_hour, per_minute, per_second", "got 5"),
    case(api("rate_limit: {per_second: 0}"), "api.rate_limit.per_second", 4,
         "expected a positive whole number of requests", "got 0"),
    case(api("rate_limit: {per_second: 1, per_day: 9}"), "api.rate_limit.per_day", 4,
         "unknown field 'per_day'"),
    case(api("cache: {ttl_seconds: 30}"), "api.cache", 4,
         "not allowed on a POST route", "only GET responses are cached"),
    case(api("cache: {}", route="GET /claims"), "api.cache.ttl_seconds", 4,
         "missing required field 'ttl_seconds'"),
    case(api("cache:", "  ttl_seconds: 0", route="GET /claims"), "api.cache.ttl_seconds", 5,
         "positive whole number of seconds", "got 0"),
    case(api("cache: 30", route="GET /claims"), "api.cache", 4,
         "expected a mapping with the fields ttl_seconds", "got 30"),
    case(api("max_body_bytes: 1MB"), "api.max_body_bytes", 4,
         "expected a positive whole number of bytes", "got '1MB'"),
    case(api("max_body_bytes: 1.5"), "api.max_body_bytes", 4, "got 1.5"),
    case(api("idempotency: true", route="GET /claims"), "api.idempotency", 4,
         "not allowed on a GET route"),
    case(api("idempotency: always"), "api.idempotency", 4,
         "expected true, false or a mapping with retention_hours", "got 'always'"),
    case(api("idempotency: {retention_hours: 0}"), "api.idempotency.retention_hours", 4,
         "positive whole number of hours"),
    case(api("idempotency: {retention: 1}"), "api.idempotency.retention", 4,
         "unknown field 'retention'", "did you mean 'retention_hours'?"),
    case(api("cors: {max_age_seconds: 60}"), "api.cors.allow_origins", 4,
         "missing required field 'allow_origins'"),
    case(api("cors: {allow_origins: []}"), "api.cors.allow_origins", 4,
         "non-empty list of origins", "got an empty list"),
    case(api("cors: {allow_origins: '*'}"), "api.cors.allow_origins", 4,
         "non-empty list of origins", "got '*'"),
    case(api(
            "cors:",
            "  allow_origins:",
            "    - https://app.example.com",
            "    - https://app.example.com/",
        ), "api.cors.allow_origins[1]", 7,
         "'*' or an origin", "no path", "got 'https://app.example.com/'"),
    case(api("cors: {allow_origins: ['*'], max_age_seconds: -1}"), "api.cors.max_age_seconds", 4,
         "whole number of seconds, 0 or more", "got -1"),
    case(api("jwt: {audience: portico-claims}", "auth: none"), "api.jwt", 4,
         "needs 'auth: required'"),
    case(api("jwt: {}"), "api.jwt.audience", 4,
         "missing required field 'audience'", "portico-claims"),
    case(api("jwt: {audience: 'two words'}"), "api.jwt.audience", 4,
         "an audience such as 'portico-claims'", "got 'two words'"),
    case(api("jwt: {audience: a, issuer: b}"), "api.jwt.issuer", 4,
         "unknown field 'issuer'"),
    case(api("cors: true"), "api.cors", 4,
         "expected a mapping with the fields allow_origins, max_age_seconds", "got true"),
    # function
    case("api: {route: POST /claims}\nfunction:\n  timeout_seconds: 20\n", "function.handler", 2,
         "missing required field 'handler'", "src/claims.submit"),
    case("api: {route: POST /claims}\nfunction: src/claims.submit\n", "function", 2,
         "expected a mapping with the fields concurrency, handler", "got 'src/claims.submit'"),
    case(function("timeout: 20"), "function.timeout", 4,
         "unknown field 'timeout' (expected one of: concurrency, handler, memory, scale, "
         "timeout_seconds); did you mean 'timeout_seconds'?"),
    case(function("timeout_seconds: 1", "timeout_seconds: 2"), "function.timeout_seconds", 5,
         "duplicate field 'timeout_seconds'", "first set on line 4"),
    case(function("timeout_seconds: soon"), "function.timeout_seconds", 4,
         "expected a whole number of seconds from 1 to 900, got 'soon'"),
    case(function('timeout_seconds: "20"'), "function.timeout_seconds", 4,
         "got '20'", "without quotes"),
    case(function("timeout_seconds: 0"), "function.timeout_seconds", 4, "from 1 to 900, got 0"),
    case(function("timeout_seconds: 901"), "function.timeout_seconds", 4, "from 1 to 900, got 901"),
    case(function("timeout_seconds: true"), "function.timeout_seconds", 4, "got true"),
    case(function("timeout_seconds:"), "function.timeout_seconds", 4, "got nothing"),
    case(function("concurrency: 0"), "function.concurrency", 4,
         "expected a whole number from 1 to 1000, got 0"),
    case(function("concurrency: 1001"), "function.concurrency", 4, "from 1 to 1000, got 1001"),
    case(function("scale: {min: 3, max: 2}"), "function.scale", 4,
         "expected min <= max, got min 3 and max 2"),
    case(function("scale: {min: 6}"), "function.scale", 4, "got min 6 and max 5"),
    case(function("scale: {min: -1}"), "function.scale.min", 4,
         "whole number of replicas, 0 or more", "got -1"),
    case(function("scale: {max: 0}"), "function.scale.max", 4,
         "positive whole number of replicas", "got 0"),
    case(function("scale: {minimum: 1}"), "function.scale.minimum", 4,
         "unknown field 'minimum'", "did you mean 'min'?"),
    case(function("scale: 3"), "function.scale", 4,
         "expected a mapping with the fields max, min", "got 3"),
    case(function("memory: 256MB"), "function.memory", 4,
         "expected a memory size such as '256Mi' or '1Gi'", "got '256MB'"),
    case(function("memory: 256"), "function.memory", 4, "got 256"),
    case(function("memory: 0Mi"), "function.memory", 4, "got '0Mi'"),
    case(function("memory: 1.5Gi"), "function.memory", 4, "got '1.5Gi'"),
    case(function().replace("src/claims.submit", "claims"), "function.handler", 3,
         "expected '<module path>.<function>'", "got 'claims'"),
    case(function().replace("src/claims.submit", "src.claims.submit"), "function.handler", 3,
         "src/claims.submit", "got 'src.claims.submit'"),
    case(function().replace("src/claims.submit", "src/claims.submit()"), "function.handler", 3,
         "got 'src/claims.submit()'"),
    case(function().replace("src/claims.submit", "src/1claims.submit"), "function.handler", 3,
         "got 'src/1claims.submit'"),
    case(function().replace("src/claims.submit", "src/other.submit"), "function.handler", 3,
         "handler module src/other.py next to the manifest", "does not exist"),
    # trigger
    case(trigger("retries: 1"), "trigger.queue", 3,
         "missing required field 'queue'", "claim-review-jobs"),
    case(trigger("queue: Claim Jobs"), "trigger.queue", 4,
         "expected a queue name", "got 'Claim Jobs'"),
    case(trigger(f"queue: {'q' * 101}"), "trigger.queue", 4, "at most 100 characters"),
    case(trigger("queue: -jobs"), "trigger.queue", 4,
         "starting with a letter or digit", "got '-jobs'"),
    case(trigger("queue: 123"), "trigger.queue", 4, "expected a queue name", "got 123"),
    case(trigger("queue: jobs", "retries: 21"), "trigger.retries", 5,
         "expected a whole number from 0 to 20, got 21"),
    case(trigger("queue: jobs", "retries: -1"), "trigger.retries", 5, "from 0 to 20, got -1"),
    case(trigger("queue: jobs", "retry: 2"), "trigger.retry", 5,
         "unknown field 'retry'", "did you mean 'retries'?"),
    case("function: {handler: src/claims.submit}\ntrigger: jobs\n", "trigger", 2,
         "expected a mapping with the fields queue, retries", "got 'jobs'"),
    # resources
    case(resources("claims-store: claims"), "resources.claims-store", 4,
         "expected a Python identifier as the binding name", "got 'claims-store'"),
    case(resources("class: claims"), "resources.class", 4, "Python identifier", "got 'class'"),
    case(resources("7: claims"), "resources.7", 4, "Python identifier", "got 7"),
    case(resources("reviews: claim-review-jobs"), "resources.reviews", 4,
         "cannot tell the kind of resource 'reviews'", "end the name in _store or _queue",
         "{kind: store|queue, name: ...}"),
    case(resources("claims_store: Claims"), "resources.claims_store", 4,
         "expected a store name", "got 'Claims'"),
    case(resources("claims_store: claim-data"), "resources.claims_store", 4,
         "store name", "got 'claim-data'"),
    case(resources("claims_store: 5"), "resources.claims_store", 4, "store name", "got 5"),
    case(resources("jobs_queue: Jobs!"), "resources.jobs_queue", 4,
         "expected a queue name", "got 'Jobs!'"),
    case(resources("reviews: {kind: table, name: claims}"), "resources.reviews.kind", 4,
         "expected 'store' or 'queue'", "got 'table'"),
    case(resources("reviews: {kind: stor, name: claims}"), "resources.reviews.kind", 4,
         "did you mean 'store'?"),
    case(resources("reviews: {name: claims}"), "resources.reviews.kind", 4,
         "missing required field 'kind'"),
    case(resources("reviews: {kind: queue}"), "resources.reviews.name", 4,
         "missing required field 'name'"),
    case(resources("reviews:", "  kind: store", "  name: claim-review-jobs"),
         "resources.reviews.name", 6,
         "expected a store name", "got 'claim-review-jobs'"),
    case(resources("reviews: {kind: queue, name: jobs, size: 3}"), "resources.reviews.size", 4,
         "unknown field 'size'", "expected one of: kind, name"),
    case("api: {route: POST /claims}\nfunction: {handler: src/claims.submit}\nresources: [a]\n",
         "resources", 3,
         "expected a mapping of binding names to resources", "got a list"),
]
# fmt: on


@pytest.mark.parametrize(("text", "field", "line", "words"), ERROR_CASES)
def test_error_names_field_line_and_what_was_expected(
    tmp_path: Path, text: str, field: str, line: int | None, words: tuple[str, ...]
) -> None:
    path = write(tmp_path, text)
    [error] = errors_of(path)
    assert (error.file, error.field, error.line) == (path.resolve(), field, line)
    for word in words:
        assert word in error.message


@pytest.mark.parametrize(
    ("directory", "filename", "words"),
    [
        (
            ".",
            "Submit_Claim.yaml",
            ["'Submit_Claim' taken from the file name", "add a 'name:' field"],
        ),
        (".", "submit.claim.yaml", ["'submit.claim' taken from the file name"]),
        ("Submit_Claim", "function.yaml", ["'Submit_Claim' taken from the directory name"]),
    ],
)
def test_inferred_name_must_be_a_dns_label(
    tmp_path: Path, directory: str, filename: str, words: list[str]
) -> None:
    path = write(tmp_path / directory, FOUNDING_EXAMPLE, filename=filename)
    [error] = errors_of(path)
    assert (error.field, error.line) == ("name", 1)
    for word in words:
        assert word in error.message


def test_explicit_name_overrides_a_bad_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "name: submit-claim\n" + FOUNDING_EXAMPLE, filename="Submit_Claim.yaml")
    assert load_manifest(path).name == "submit-claim"


@pytest.mark.parametrize("content", [None, b"api: {route: POST /caf\xe9}\n"])
def test_unreadable_file_is_an_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "submit-claim.yaml"
    if content is not None:
        path.write_bytes(content)
    [error] = errors_of(path)
    assert (error.field, error.line) == ("", None)
    assert error.message.startswith("cannot read the file: ")


def test_all_errors_in_a_file_are_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
name: Submit_Claim
api:
  route: GET /claims
  auth: maybe
  request_validation:
    - policyId required
    - policyId optional
function:
  handler: src/claims.submit
  timeout: 20
  timeout_seconds: "20"
  memory: 256MB
resources:
  reviews: claim-review-jobs
""",
    )
    assert [(error.field, error.line) for error in errors_of(path)] == [
        ("name", 1),
        ("api.auth", 4),
        ("api.request_validation", 5),
        ("function.timeout", 10),
        ("function.timeout_seconds", 11),
        ("function.memory", 12),
        ("resources.reviews", 14),
    ]


def test_every_invalid_item_of_a_list_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        api(
            "request_validation:",
            "  - 42",
            "  - policyId maybe",
            "  - documentKey required",
            "  - x y z w",
        ),
    )
    assert [(error.field, error.line) for error in errors_of(path)] == [
        ("api.request_validation[0]", 5),
        ("api.request_validation[1]", 6),
        ("api.request_validation[3]", 8),
    ]


# --- Error text -------------------------------------------------------------------------------


def test_error_text_shows_the_file_relative_to_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = FOUNDING_EXAMPLE.replace("timeout_seconds: 20", "timeout_seconds: soon")
    write(tmp_path / "functions" / "claims", manifest)
    with pytest.raises(ManifestErrors) as caught:
        load_manifest(Path("functions/claims/submit-claim.yaml"))
    assert str(caught.value) == (
        "functions/claims/submit-claim.yaml:10: function.timeout_seconds: "
        "expected a whole number of seconds from 1 to 900, got 'soon'"
    )


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ManifestError(Path("/elsewhere/a.yaml"), "api.route", 3, "bad"),
            "/elsewhere/a.yaml:3: api.route: bad",
        ),
        (
            ManifestError(Path("/elsewhere/a.yaml"), "", None, "the file is empty"),
            "/elsewhere/a.yaml: the file is empty",
        ),
        (
            ManifestError(Path("/elsewhere/a.yaml"), "", 2, "invalid YAML"),
            "/elsewhere/a.yaml:2: invalid YAML",
        ),
    ],
)
def test_error_text_omits_what_is_unknown(error: ManifestError, text: str) -> None:
    assert str(error) == text


def test_errors_text_has_one_error_per_line() -> None:
    errors = ManifestErrors(
        [
            ManifestError(Path("/x/a.yaml"), "name", 1, "one"),
            ManifestError(Path("/x/b.yaml"), "", None, "two"),
        ]
    )
    assert str(errors) == "/x/a.yaml:1: name: one\n/x/b.yaml: two"


# --- Loading a functions directory ------------------------------------------------------------

BROKEN = "function: {}\n"


def test_load_all_finds_manifests_and_skips_other_yaml(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    write(functions / "claims", FOUNDING_EXAMPLE)
    write(
        functions / "reviews" / "review-claim", trigger("queue: claim-review-jobs"), "function.yml"
    )
    write(functions / "claims", api(route="GET /claims"), "list-claims.yml")
    for skipped in ["migrations", "seed", "src", "tests", ".cache", "claims/tests"]:
        write(functions / skipped, BROKEN, "looks-like-a-manifest.yaml")
    write(functions / "claims", "type: object\nproperties: {}\n", "schema.yaml")
    write(functions / "claims", "- just\n- data\n", "list.yaml")
    write(functions / "claims", "", "empty.yaml")
    write(functions / "claims", BROKEN, "notes.txt")
    manifests = load_all(functions)
    assert [manifest.name for manifest in manifests] == [
        "list-claims",
        "review-claim",
        "submit-claim",
    ]


def test_load_all_reports_errors_from_every_file(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    write(functions / "a", BROKEN, "broken-a.yaml")
    write(functions / "b", "api: [\n", "function.yaml")
    write(
        functions / "c",
        "name: x\nfunction: {handler: src/claims.submit}\ntrigger:\n  queue: [\n",
        "odd.yaml",
    )
    with pytest.raises(ManifestErrors) as caught:
        load_all(functions)
    assert sorted((error.file.name, error.field) for error in caught.value.errors) == [
        ("broken-a.yaml", ""),
        ("broken-a.yaml", "function.handler"),
        ("function.yaml", ""),
        ("odd.yaml", ""),
    ]


@pytest.mark.parametrize("make_directory", [True, False])
def test_load_all_needs_at_least_one_manifest(tmp_path: Path, make_directory: bool) -> None:
    functions = tmp_path / "functions"
    if make_directory:
        write(functions / "claims", "type: object\n", "schema.yaml")
    with pytest.raises(ManifestErrors) as caught:
        load_all(functions)
    [error] = caught.value.errors
    assert (error.file, error.field, error.line) == (functions, "", None)
    assert error.message.startswith("no function manifests found under")


def test_load_all_raises_cross_manifest_errors(tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    write(functions / "a", api(route="GET /claims/{id}"), "get-claim.yaml")
    write(functions / "b", api(route="GET /claims/{claimId}"), "fetch-claim.yaml")
    with pytest.raises(ManifestErrors) as caught:
        load_all(functions)
    [error] = caught.value.errors
    assert (error.file.name, error.field, error.line) == ("get-claim.yaml", "api.route", 3)


# --- Checks across manifests ------------------------------------------------------------------


def load_each(tmp_path: Path, manifests: dict[str, str]) -> list[Manifest]:
    return [
        load_manifest(write(tmp_path / file.split("/")[0], text, file.split("/")[1]))
        for file, text in manifests.items()
    ]


@pytest.mark.parametrize(
    ("second", "field", "line", "words"),
    [
        (
            api(route="GET /claims/{claimId}/documents"),
            "api.route",
            3,
            [
                "GET /claims/{claimId}/documents can match the same requests as "
                "GET /claims/{id}/documents",
                "of function 'first'",
                "first/first.yaml:3",
            ],
        ),
        (
            "name: first\n" + api(route="GET /other"),
            "name",
            1,
            ["the name 'first' is already used by", "first/first.yaml:1"],
        ),
        (
            trigger("queue: claim-review-jobs"),
            "trigger.queue",
            4,
            [
                "already consumed by worker 'worker'",
                "worker/worker.yaml:4",
                "a queue feeds one worker",
            ],
        ),
    ],
)
def test_clash_is_reported_on_the_second_manifest(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    second: str,
    field: str,
    line: int,
    words: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    manifests = load_each(
        tmp_path,
        {
            "first/first.yaml": api(route="GET /claims/{id}/documents"),
            "worker/worker.yaml": trigger("queue: claim-review-jobs"),
            "second/second.yaml": second,
        },
    )
    [error] = check_deployment(manifests)
    assert (error.file, error.field, error.line) == (manifests[2].path, field, line)
    for word in words:
        assert word in error.message


@pytest.mark.parametrize(
    "route",
    [
        "GET /claims/{claimId}/documents",
        "GET /claims/latest/documents",
        "GET /{collection}/{id}/documents",
    ],
)
def test_routes_that_can_match_the_same_request_clash(tmp_path: Path, route: str) -> None:
    manifests = load_each(
        tmp_path,
        {
            "first/first.yaml": api(route="GET /claims/{id}/documents"),
            "second/second.yaml": api(route=route),
        },
    )
    [error] = check_deployment(manifests)
    assert (error.file, error.field) == (manifests[1].path, "api.route")
    assert f"{route} can match the same requests as GET /claims/{{id}}/documents" in error.message


@pytest.mark.parametrize(
    "route",
    [
        "POST /claims/{id}/documents",
        "GET /claims/{id}",
        "GET /claims/{id}/documents/{docId}",
        "GET /claims/{id}/files",
        "GET /policies/{id}/documents",
    ],
)
def test_routes_that_cannot_match_the_same_request_do_not_clash(tmp_path: Path, route: str) -> None:
    manifests = load_each(
        tmp_path,
        {
            "first/first.yaml": api(route="GET /claims/{id}/documents"),
            "second/second.yaml": api(route=route),
        },
    )
    assert check_deployment(manifests) == []
