"""The OpenAPI document: valid 3.1, true to the manifests, and the committed copy is current."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from portico.manifest import load_all
from portico.render.openapi import render
from tests.conftest import FUNCTIONS_DIR, ROOT, TEST_FUNCTIONS_DIR

DOCUMENT = render(load_all(FUNCTIONS_DIR))


def test_the_document_is_valid_openapi_3_1():
    validate(DOCUMENT)
    validate(render(load_all(TEST_FUNCTIONS_DIR)))  # full JSON Schema bodies, auth: none


def test_the_committed_document_is_current():
    committed = json.loads((ROOT / "gateway-config" / "openapi.json").read_text())
    assert committed == DOCUMENT, "gateway-config/openapi.json is stale: run `make render`"


def test_every_route_is_documented_with_its_method_and_path_parameters():
    paths = DOCUMENT["paths"]
    claims = [(p, m) for p, methods in paths.items() for m in methods if p.startswith("/claims")]
    assert sorted(claims) == [
        ("/claims", "get"),
        ("/claims", "post"),
        ("/claims/{claimId}", "get"),
        ("/claims/{claimId}/status", "get"),
    ]
    [parameter] = paths["/claims/{claimId}"]["get"]["parameters"]
    assert (parameter["name"], parameter["in"], parameter["required"]) == ("claimId", "path", True)


def test_the_submit_operation_carries_its_schema_security_and_errors():
    submit = DOCUMENT["paths"]["/claims"]["post"]
    schema = submit["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["policyId", "documentKey"]
    assert submit["security"] == [{"apiKey": []}]
    assert {"400", "401", "409", "413", "415", "422", "500", "503", "504"} <= set(
        submit["responses"]
    )
    problem = submit["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert any(p["name"] == "Idempotency-Key" for p in submit["parameters"])
    assert DOCUMENT["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "apikey",
    }


def test_a_jwt_route_takes_a_bearer_token_and_documents_its_refusals():
    status = DOCUMENT["paths"]["/claims/{claimId}/status"]["get"]
    assert status["security"] == [{"jwt": []}]
    assert DOCUMENT["components"]["securitySchemes"]["jwt"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    refused = status["responses"]["401"]
    assert "portico-claims" in refused["description"]
    assert refused["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JwtError"
    }


def test_rate_limited_routes_document_429_with_kongs_headers():
    get_claim = DOCUMENT["paths"]["/claims/{claimId}"]["get"]["responses"]
    assert set(get_claim["429"]["headers"]) == {
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "Retry-After",
    }
    assert "429" in DOCUMENT["paths"]["/claims"]["post"]["responses"]  # writes are limited too
    testapp = render(load_all(TEST_FUNCTIONS_DIR))
    assert "429" not in testapp["paths"]["/failures/{kind}"]["post"]["responses"]


def test_every_string_of_the_claims_api_has_a_length_limit():
    body = DOCUMENT["paths"]["/claims"]["post"]["requestBody"]["content"]["application/json"]
    strings = {
        name: field["maxLength"]
        for name, field in body["schema"]["properties"].items()
        if field["type"] == "string"
    }
    assert strings == {"policyId": 1024, "documentKey": 1024, "description": 2000}


def test_routes_without_auth_or_body_document_neither():
    testapp = render(load_all(TEST_FUNCTIONS_DIR))
    failures = testapp["paths"]["/failures/{kind}"]["post"]
    assert failures["security"] == []
    assert "401" not in failures["responses"]
    assert failures["requestBody"]["required"] is False
