"""The OpenFaaS stack file: one function per HTTP function, true to the manifests, current."""

from __future__ import annotations

import yaml

from portico.manifest import load_all
from portico.render import openfaas
from tests.conftest import FUNCTIONS_DIR, ROOT, TEST_FUNCTIONS_DIR

SHIPPED = load_all(FUNCTIONS_DIR)  # every app: what gateway-config/openfaas is rendered from
CLAIMS = load_all(FUNCTIONS_DIR / "claims")  # the claims app alone, whatever else ships
STACK = openfaas.render(CLAIMS)
COMMITTED = ROOT / "gateway-config" / "openfaas" / "stack.yml"


def test_the_committed_stack_file_is_current():
    assert COMMITTED.read_text() == openfaas.document(SHIPPED), (
        "gateway-config/openfaas/stack.yml is stale: run `make render`"
    )


def test_the_file_is_yaml_of_the_stack_with_its_notes():
    text = COMMITTED.read_text()
    assert yaml.safe_load(text) == openfaas.render(SHIPPED)
    assert text.startswith("# rendered by `portico render openfaas`")
    assert "OpenFaaS CE cannot scale\n# to zero" in text
    assert "queue workers are not OpenFaaS functions: " in text
    assert "not OpenFaaS functions: review-claim\n" in openfaas.document(CLAIMS)


def test_the_stack_header():
    assert STACK["version"] == "1.0"
    assert STACK["provider"] == {"name": "openfaas", "gateway": "http://127.0.0.1:8080"}


def test_one_function_per_http_function_and_no_workers():
    assert sorted(STACK["functions"]) == [
        "claim-status",
        "get-claim",
        "list-claims",
        "submit-claim",
    ]
    testapp = openfaas.render(load_all(TEST_FUNCTIONS_DIR))["functions"]
    assert "note-taker" not in testapp and "tally" not in testapp
    assert "shaped-body" in testapp


def test_a_function_runs_the_image_as_itself_within_its_memory():
    assert STACK["functions"]["get-claim"] == {
        "image": "portico-functions:latest",
        "environment": {"PORTICO_FUNCTION": "get-claim"},
        "limits": {"memory": "256Mi"},
        "labels": {"com.openfaas.scale.min": "1", "com.openfaas.scale.max": "3"},
        "annotations": {"com.openfaas.health.http.path": "/healthz"},
    }


def test_scale_min_is_at_least_one_and_max_is_the_manifests():
    for manifest in CLAIMS:
        if manifest.api is None:
            continue
        labels = STACK["functions"][manifest.name]["labels"]
        scale = manifest.function.scale
        assert labels["com.openfaas.scale.min"] == str(max(scale.min, 1))
        assert labels["com.openfaas.scale.max"] == str(scale.max)


def test_the_image_is_a_parameter():
    stack = openfaas.render(CLAIMS, image="registry.example/portico:1.2.3")
    assert {f["image"] for f in stack["functions"].values()} == {"registry.example/portico:1.2.3"}
