"""The request examples of the OpenAPI document: every operation of the shipped functions has
one, taken from its manifest's `api.example`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from portico.manifest import load_all
from portico.render.openapi import render
from tests.conftest import FUNCTIONS_DIR

DOCUMENT = render(load_all(FUNCTIONS_DIR))


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def request_example(operation: dict[str, Any]) -> dict[str, Any]:
    """What a client would send, as the document shows it: each input's example."""
    found: dict[str, Any] = {
        f"{p['in']}:{p['name']}": p["example"]
        for p in operation.get("parameters", [])
        if "example" in p
    }
    media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "example" in media:
        found["body"] = media["example"]
    return found


def test_every_operation_of_the_shipped_functions_carries_a_request_example() -> None:
    missing = [name for name, op in operations(DOCUMENT).items() if not request_example(op)]
    assert missing == [], "add api.example to their manifests"


def test_every_path_parameter_and_every_body_has_its_example() -> None:
    for name, operation in operations(DOCUMENT).items():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert "example" in parameter, (name, parameter["name"])
        if "requestBody" in operation:
            assert "example" in operation["requestBody"]["content"]["application/json"], name


def test_the_examples_are_the_manifests_own(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").touch()
    (tmp_path / "put-note.yaml").write_text(
        "api:\n"
        "  route: PUT /notes/{noteId}\n"
        "  request_validation: [text required]\n"
        "  example:\n"
        "    path: {noteId: n-1}\n"
        "    query: {dryRun: 'yes'}\n"
        "    body: {text: hello}\n"
        "function: {handler: src/app.put}\n"
    )
    document = render(load_all(tmp_path))
    validate(document)
    [operation] = operations(document).values()
    assert request_example(operation) == {
        "path:noteId": "n-1",
        "query:dryRun": "yes",
        "body": {"text": "hello"},
    }
    query = next(p for p in operation["parameters"] if p["in"] == "query")
    assert query == {
        "name": "dryRun",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "example": "yes",
    }


def test_the_submit_example_is_alices_active_policy() -> None:
    body = request_example(operations(DOCUMENT)["POST /claims"])["body"]
    assert body["policyId"] == "P-1001"
