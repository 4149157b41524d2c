"""The runtime against hostile input, on real Postgres and Redis (Flask test client): who may
name a caller, JSON nested to exhaust a parser, values Postgres refuses, the claims app's
strings, cursors, page sizes and claim ids."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from portico import headers
from portico.manifest import Manifest, load_all
from portico.runtime.app import create_app
from portico.runtime.resources import Resources
from portico.settings import Settings
from tests.conftest import FUNCTIONS_DIR, TEST_FUNCTIONS_DIR, Services, open_resources
from tests.identity import GATEWAY_SECRET, caller

pytestmark = pytest.mark.integration

ALICE, BOB = caller("alice"), caller("bob")
CLAIM = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}
PROBLEM = "application/problem+json"


def manifest_named(name: str) -> tuple[Manifest, Any]:
    for functions_dir in (FUNCTIONS_DIR, TEST_FUNCTIONS_DIR):
        for manifest in load_all(functions_dir):
            if manifest.name == name:
                return manifest, functions_dir
    raise LookupError(name)


@pytest.fixture()
def app_for(clean_state: Services) -> Iterator[Callable[..., FlaskClient]]:
    opened: list[Resources] = []

    def build(name: str, secret: str | None = GATEWAY_SECRET) -> FlaskClient:
        manifest, functions_dir = manifest_named(name)
        resources = open_resources(
            clean_state.database_url, clean_state.redis_url, functions_dir, 2
        )
        opened.append(resources)
        return create_app(manifest, resources, secret).test_client()

    yield build
    for resources in opened:
        resources.close()


def rows(services: Services, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(services.database_url) as conn:
        return conn.execute(sql).fetchall()


def assert_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == PROBLEM
    problem: dict[str, Any] = response.get_json()
    for word in words:
        assert word in problem["detail"]
    return problem


# --- who may name a caller --------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged",
    [
        {headers.CONSUMER_USERNAME: "alice"},
        {headers.CONSUMER_USERNAME: "alice", headers.CONSUMER_ID: "alice-id"},
        {headers.CONSUMER_ID: "alice-id"},
        {"X-Anonymous-Consumer": "true"},
        {headers.CONSUMER_USERNAME: "alice", headers.GATEWAY_SECRET: "guessed"},
        {headers.CONSUMER_USERNAME: "alice", headers.GATEWAY_SECRET: GATEWAY_SECRET + "x"},
        {headers.CONSUMER_USERNAME: "alice", headers.GATEWAY_SECRET: ""},
    ],
)
def test_a_caller_named_without_the_gateway_secret_is_refused(app_for, clean_state, forged):
    seed_claim = app_for("submit-claim").post("/claims", json=CLAIM, headers=ALICE)
    assert seed_claim.status_code == 201

    for client, method, path in [
        (app_for("list-claims"), "get", "/claims"),
        (app_for("submit-claim"), "post", "/claims"),
        (app_for("open-echo"), "post", "/open-echo"),  # even where no auth is needed
    ]:
        response = getattr(client, method)(path, json=CLAIM, headers=forged)
        problem = assert_problem(response, 401, "only from the gateway")
        assert "alice" not in json.dumps(problem).replace(problem["detail"], "")
    assert rows(clean_state, "SELECT count(*) FROM claims") == [(1,)]


def test_a_function_without_a_secret_believes_no_caller(app_for):
    response = app_for("list-claims", secret=None).get("/claims", headers=ALICE)
    assert_problem(response, 401, "only from the gateway")


def test_with_the_secret_the_caller_is_believed_and_the_secret_is_not_shown(app_for):
    seen = app_for("open-echo").post("/open-echo", json={}, headers=ALICE)
    assert seen.status_code == 200
    assert seen.get_json()["caller"] == "alice"
    assert GATEWAY_SECRET not in seen.get_data(as_text=True)  # the handler never sees it


def test_without_any_caller_an_open_route_is_served_anonymously(app_for):
    seen = app_for("open-echo").post("/open-echo", json={})
    assert (seen.status_code, seen.get_json()["caller"]) == (200, None)


# --- JSON nested to exhaust a parser -------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"policyId": ' * 2_000 + "1" + "}" * 2_000,
        json.dumps({**CLAIM, "extra": json.loads("[" * 65 + "]" * 65)}),
        '{"a": ' * 2_500 + "1",  # 20 KB, and not even complete
    ],
    ids=["100k arrays", "2k objects", "65 levels under valid fields", "20 KB unterminated"],
)
def test_deeply_nested_json_is_a_400_not_a_crash(app_for, clean_state, raw):
    response = app_for("submit-claim").post(
        "/claims", data=raw, content_type="application/json", headers=ALICE
    )
    assert_problem(response, 400, "not valid JSON")
    assert rows(clean_state, "SELECT count(*) FROM claims") == [(0,)]


def test_json_nested_64_deep_is_still_accepted(app_for):
    body = {**CLAIM, "extra": json.loads("[" * 63 + "]" * 63)}
    response = app_for("submit-claim").post("/claims", json=body, headers=ALICE)
    assert response.status_code == 201


# --- values Postgres refuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["not a time", "2026-13-45", "99999-01-01", "0000-00-00", "infinityx", "1" * 300],
)
def test_a_value_postgres_refuses_is_a_400_for_any_handler(app_for, clean_state, value):
    response = app_for("casts").post("/casts", json={"value": value})
    problem = assert_problem(response, 400, "a value in the request was refused")
    assert "Traceback" not in json.dumps(problem)


def test_a_value_postgres_accepts_still_goes_through(app_for):
    response = app_for("casts").post("/casts", json={"value": "2026-11-25T10:00:00+00:00"})
    assert response.get_json() == {"at": "2026-11-25T10:00:00+00:00"}


# --- the claims app's strings, pages, cursors and ids --------------------------------------------


@pytest.mark.parametrize(
    ("field", "length"),
    [("documentKey", 20_000), ("documentKey", 900_000), ("policyId", 1025), ("description", 2001)],
)
def test_over_long_strings_are_refused_and_never_stored(app_for, clean_state, field, length):
    body = {**CLAIM, field: "x" * length}
    response = app_for("submit-claim").post("/claims", json=body, headers=ALICE)
    status = 413 if length > 1_048_576 - 100 else 422
    assert response.status_code == status
    if status == 422:
        assert [e["field"] for e in response.get_json()["errors"]] == [field]
    assert rows(clean_state, "SELECT count(*) FROM claims") == [(0,)]


def test_a_description_of_its_full_length_is_stored(app_for, clean_state):
    body = {**CLAIM, "description": "d" * 2000}
    assert app_for("submit-claim").post("/claims", json=body, headers=ALICE).status_code == 201


@pytest.mark.parametrize(
    "limit", ["\u00b2", "\u0661\u0660", "\U0001d7d3", "\uff15", " 5", "5_0", "1e2", "9" * 30]
)
def test_page_sizes_that_are_not_ascii_numbers_are_400(app_for, limit):
    response = app_for("list-claims").get("/claims", query_string={"limit": limit}, headers=ALICE)
    assert_problem(response, 400, "limit must be a whole number from 1 to 100")


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


CLAIM_ID = "6f1c1d2e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of([12, 34]),
        cursor_of([None, CLAIM_ID]),
        cursor_of({"a": 1, "b": 2}),
        cursor_of(["2026-11-25T10:00:00+00:00", 5]),
        cursor_of(["0000-01-01T00:00:00+00:00", CLAIM_ID]),
        cursor_of(["10000-01-01T00:00:00+00:00", CLAIM_ID]),
        cursor_of(["2026-11-25T10:00:00+00:00\u0000", CLAIM_ID]),
        cursor_of(["yesterday", CLAIM_ID]),
        "%00%00",
        "\u0000",
        "a" * 5000,
    ],
)
def test_a_cursor_this_api_did_not_make_is_400(app_for, cursor):
    response = app_for("list-claims").get("/claims", query_string={"cursor": cursor}, headers=ALICE)
    assert response.status_code == 400
    assert response.content_type == PROBLEM


def test_cursors_page_through_a_callers_claims(app_for):
    submit = app_for("submit-claim")
    ids = {
        submit.post("/claims", json=CLAIM, headers=ALICE).get_json()["claimId"] for _ in range(3)
    }
    listing = app_for("list-claims")
    first = listing.get("/claims?limit=2", headers=ALICE).get_json()
    rest = listing.get(
        "/claims", query_string={"limit": 2, "cursor": first["nextCursor"]}, headers=ALICE
    ).get_json()
    seen = [c["claimId"] for c in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids) and rest["nextCursor"] is None
    for_bob = listing.get("/claims", query_string={"cursor": first["nextCursor"]}, headers=BOB)
    assert for_bob.get_json()["items"] == []  # a cursor carries no one's claims


@pytest.mark.parametrize("claim_id", ["not-a-uuid", "1", "'; SELECT 1; --", "%20%20", "x" * 300])
@pytest.mark.parametrize(("function", "path"), [("get-claim", ""), ("claim-status", "/status")])
def test_a_claim_id_that_is_not_a_uuid_is_404_without_touching_the_database(
    clean_state, function, path, claim_id
):
    manifest, functions_dir = manifest_named(function)
    nowhere = Resources.for_process(  # a database that does not exist: any statement is a 503
        Settings(
            database_url="postgresql://nobody@127.0.0.1:9/none",
            redis_url=clean_state.redis_url,
            functions_dir=functions_dir,
        ),
        function,
        pool_size=1,
    )
    client = create_app(manifest, nowhere, GATEWAY_SECRET).test_client()
    try:
        response = client.get(f"/claims/{claim_id}{path}", headers=ALICE)
        assert_problem(response, 404, "no claim")
    finally:
        nowhere.close()
