"""`api.example`: one request a client could send, checked as the runtime checks a request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from portico.manifest import ManifestError, ManifestErrors, RequestExample, load_manifest


def load(tmp_path: Path, api: str) -> RequestExample | None:
    manifest = load_manifest(write(tmp_path, api))
    assert manifest.api is not None
    return manifest.api.example


def errors(tmp_path: Path, api: str) -> list[ManifestError]:
    with pytest.raises(ManifestErrors) as caught:
        load_manifest(write(tmp_path, api))
    return caught.value.errors


def write(directory: Path, api: str) -> Path:
    (directory / "src").mkdir(exist_ok=True)
    (directory / "src" / "claims.py").touch()
    path = directory / "claims.yaml"
    path.write_text(f"function: {{handler: src/claims.submit}}\napi:\n{api}")
    return path


SUBMIT = """\
  route: POST /claims
  request_validation: [policyId required, note optional string max 5, count optional integer]
"""
FULL_SCHEMA = """\
  route: PUT /claims/{claimId}
  request_validation:
    type: object
    required: [status]
    properties: {status: {enum: [approved, rejected]}}
"""


def test_path_query_and_body_are_loaded(tmp_path: Path) -> None:
    example = load(
        tmp_path,
        "  route: PATCH /claims/{claimId}\n"
        "  example:\n"
        "    path: {claimId: 3b0c5f8e-8d2a-4c1e-9f6a-2e7d4b1c9a05}\n"
        "    query: {limit: 10, status: approved}\n"
        "    body: {note: hello}\n",
    )
    assert example == RequestExample(
        path={"claimId": "3b0c5f8e-8d2a-4c1e-9f6a-2e7d4b1c9a05"},
        query={"limit": "10", "status": "approved"},
        body={"note": "hello"},
    )


def test_no_example_is_none(tmp_path: Path) -> None:
    assert load(tmp_path, "  route: GET /claims\n") is None


def test_a_body_that_fits_the_shorthand_and_one_that_fits_a_full_schema_load(
    tmp_path: Path,
) -> None:
    body = {"policyId": "P-1001", "note": "short", "count": 2}
    assert load(tmp_path, SUBMIT + f"  example: {{body: {body}}}\n") == RequestExample({}, {}, body)
    full = FULL_SCHEMA + "  example: {path: {claimId: c-1}, body: {status: approved}}\n"
    assert load(tmp_path, full) == RequestExample({"claimId": "c-1"}, {}, {"status": "approved"})


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ("{note: x}", "api.example.body.policyId", "required field 'policyId' is missing"),
        ("{policyId: ''}", "api.example.body.policyId", "non-empty string"),
        ("{policyId: P-1, note: toolong}", "api.example.body.note", "at most 5 characters"),
        ("{policyId: P-1, count: '2'}", "api.example.body.count", "expected integer, got '2'"),
        ("{policyId: P-1, count: true}", "api.example.body.count", "expected integer, got true"),
        ("[P-1001]", "api.example.body", "expected a mapping of the request's fields"),
    ],
)
def test_a_body_the_shorthand_refuses_is_an_error(
    tmp_path: Path, body: str, field: str, words: str
) -> None:
    [error] = errors(tmp_path, SUBMIT + f"  example:\n    body: {body}\n")
    assert (error.field, error.line) == (field, 6)
    assert words in error.message


def test_a_body_a_full_schema_refuses_is_an_error(tmp_path: Path) -> None:
    text = FULL_SCHEMA + "  example:\n    path: {claimId: c-1}\n    body: {status: maybe}\n"
    [error] = errors(tmp_path, text)
    assert (error.field, error.line) == ("api.example.body.status", 10)
    assert "'maybe' is not one of ['approved', 'rejected']" in error.message


@pytest.mark.parametrize(
    ("route", "example", "field", "words"),
    [
        ("GET /claims/{claimId}", "{}", "api.example.path", "missing claimId"),
        ("GET /claims/{claimId}", "{path: {id: 1}}", "api.example.path", "unknown id"),
        ("GET /claims", "{path: {id: 1}}", "api.example.path", "the route has no parameters"),
        ("GET /claims", "{query: [limit]}", "api.example.query", "expected a mapping"),
        ("GET /claims", "{query: {limit: [1]}}", "api.example.query.limit", "a string or a number"),
        ("GET /claims", "{body: {a: 1}}", "api.example.body", "not allowed on a GET route"),
        ("GET /claims", "{headers: {}}", "api.example.headers", "unknown field 'headers'"),
        ("POST /claims", "[]", "api.example", "expected a mapping with the fields body, path"),
    ],
)
def test_an_example_that_does_not_fit_its_route_is_an_error(
    tmp_path: Path, route: str, example: str, field: str, words: str
) -> None:
    [error] = errors(tmp_path, f"  route: {route}\n  example: {example}\n")
    assert (error.file.name, error.field, error.line) == ("claims.yaml", field, 4)
    assert words in error.message


def test_a_route_with_a_schema_needs_the_example_body(tmp_path: Path) -> None:
    [error] = errors(tmp_path, SUBMIT + "  example: {query: {dryRun: 'yes'}}\n")
    assert error.field == "api.example.body"
    assert "missing required field 'body'" in error.message


def test_checking_a_shorthand_example_imports_no_jsonschema(tmp_path: Path) -> None:
    path = write(tmp_path, SUBMIT + "  example: {body: {policyId: P-1}}\n")
    code = (
        "import sys; from pathlib import Path; from portico.manifest import load_manifest; "
        f"load_manifest(Path({str(path)!r})); print('jsonschema' in sys.modules)"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert finished.stdout.strip() == "False", finished.stderr


SHORTHAND_BODIES = [
    {"policyId": "P-1", "note": "short", "count": 3, "flag": True, "ratio": 0.5},
    {"policyId": "P-1", "count": 3.0},  # JSON Schema's integer includes 3.0
    {"policyId": "P-1", "count": 3.5},
    {"policyId": "P-1", "count": True},
    {"policyId": "P-1", "ratio": False},
    {"policyId": "P-1", "flag": 1},
    {"policyId": ""},
    {"policyId": "P-1", "note": "too long"},
    {"policyId": "P-1", "items": {}, "meta": []},
    {"policyId": "P-1", "items": [], "meta": {}, "extra": "allowed"},
    {"note": "x"},
    ["policyId"],
]


@pytest.mark.parametrize("body", SHORTHAND_BODIES, ids=repr)
def test_the_shorthand_example_check_agrees_with_json_schema(body: object) -> None:
    """The loader checks a shorthand example without jsonschema (its import is what a start
    would pay); it must refuse exactly what the runtime's jsonschema refuses."""
    from jsonschema import Draft202012Validator

    from portico.manifest.api_section import _body_problems
    from portico.manifest.request_schema import compile_shorthand

    schema = compile_shorthand(
        [
            "policyId required",
            "note optional string max 5",
            "count optional integer",
            "ratio optional number",
            "flag optional boolean",
            "meta optional object",
            "items optional array",
        ]
    )
    refused_by_jsonschema = not Draft202012Validator(schema).is_valid(body)
    assert bool(_body_problems(schema, body, shorthand=True)) == refused_by_jsonschema
