"""Property-based fuzzing through the gateway: schemathesis generates requests from the served
OpenAPI document (/openapi.json) and every response must be no 5xx and match the document:
status code, content type, headers and body schema.

PORTICO_FUZZ_EXAMPLES sets the examples per operation (default 60: a few hundred in all). The
examples are derandomized, so a failure reproduces on the next run.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.openapi.checks import UndefinedStatusCode

from portico.policies.jwt_auth import issue_hs256
from tests.conformance.conftest import Target
from tests.conftest import ROOT

pytestmark = pytest.mark.conformance

STATUSES: dict[str, Counter[int]] = defaultdict(Counter)
EXAMPLES = int(os.environ.get("PORTICO_FUZZ_EXAMPLES", "60"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# The committed document, which test_the_served_document_is_the_committed_one holds equal to what
# the gateway serves. (schemathesis' pytest plugin does not work with pytest 9, so each operation
# is a parametrized test running its own hypothesis search.)
DOCUMENT = json.loads((ROOT / "gateway-config" / "openapi.json").read_text())
Operation = APIOperation[Any, Any, Any, Any]


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        if not isinstance(result, Ok):
            raise AssertionError(f"an operation schemathesis cannot read: {result.err()}")
        found.append(result.ok())
    return found


OPERATIONS = operations(DOCUMENT)


def test_the_served_document_is_the_committed_one(api):
    assert api.get("/openapi.json").json() == DOCUMENT


def credentials(operation: Operation, target: Target) -> dict[str, str]:
    """alice's credential of the kind the operation's security names."""
    schemes = {name for entry in operation.definition.raw.get("security", []) for name in entry}
    if "jwt" in schemes:
        token = issue_hs256(target.alice_jwt, "portico-claims", time.time() + 300)
        return {"Authorization": f"Bearer {token}"}
    if "apiKey" in schemes:
        return {"apikey": target.alice_key}
    return {}


# Negative examples (requests the document says are invalid) for operations with a body; on the
# others schemathesis' negative mode mostly mangles the credential, which the 401 tests cover.
RUNS = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE) for op in OPERATIONS if op.body
]


@pytest.mark.parametrize(
    ("operation", "mode"), RUNS, ids=[f"{op.label} {mode}" for op, mode in RUNS]
)
def test_every_response_matches_the_openapi_document(
    operation: Operation, mode: GenerationMode, target: Target
):
    fuzz(operation, mode, target, EXAMPLES)


def test_the_fuzz_run_fails_on_a_response_the_document_does_not_allow(target: Target):
    """The harness itself can fail: GET /claims documented as answering only 418."""
    wrong = json.loads(json.dumps(DOCUMENT))
    wrong["paths"]["/claims"]["get"]["responses"] = {"418": {"description": "a teapot"}}
    [operation] = [op for op in operations(wrong) if op.label == "GET /claims"]
    with pytest.raises(FailureGroup) as caught:
        fuzz(operation, GenerationMode.POSITIVE, target, examples=2, record=False)
    assert any(isinstance(failure, UndefinedStatusCode) for failure in caught.value.exceptions)


def fuzz(
    operation: Operation,
    mode: GenerationMode,
    target: Target,
    examples: int,
    record: bool = True,
) -> None:
    headers = credentials(operation, target)
    pace = Pace(operation.definition.raw.get("x-rate-limit", {}).get("second"))

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def responses_conform(case: Case[Any]) -> None:
        pace.wait()
        response = case.call_and_validate(base_url=target.base_url, headers=headers, checks=CHECKS)
        if record:
            STATUSES[f"{operation.label} {mode}"][response.status_code] += 1

    try:
        responses_conform()
    finally:
        pace.let_the_window_pass()


class Pace:
    """Keeps a rate-limited operation under its per-second limit, so the examples reach the
    function instead of the gateway's 429, and leaves the next test a fresh window."""

    def __init__(self, per_second: int | None) -> None:
        self.interval = 1.1 / per_second if per_second else 0.0
        self.last = 0.0

    def wait(self) -> None:
        delay = self.last + self.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.last = time.monotonic()

    def let_the_window_pass(self) -> None:
        if self.interval:
            time.sleep(1.0)
