from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from portico import NotFound, Response
from portico.contract import Context, Request, to_response
from portico.migrate import yoyo_url
from portico.policies.consumers import DEV_CONSUMERS, by_api_key
from portico.problems import BadRequest, Problem, Unprocessable
from portico.runtime.app import flask_rule, schema_failures
from portico.state.jobs import JobPolicy, job_id


@pytest.mark.parametrize(
    ("returned", "status", "body", "extra_headers"),
    [
        ({"a": 1}, 200, {"a": 1}, {}),
        ((201, {"id": "x"}), 201, {"id": "x"}, {}),
        ((202, {"id": "x"}, {"Location": "/x"}), 202, {"id": "x"}, {"Location": "/x"}),
        (None, 204, None, {}),
        (Response(201, {"k": "v"}, {"H": "1"}), 201, {"k": "v"}, {"H": "1"}),
        ([1, 2], 200, [1, 2], {}),
    ],
)
def test_handler_results_normalise_to_responses(returned, status, body, extra_headers):
    response = to_response(returned)
    assert (response.status, response.body, response.headers) == (status, body, extra_headers)


def test_a_malformed_tuple_result_is_an_error():
    with pytest.raises(TypeError):
        to_response(("201", {}))


def test_problem_bodies_follow_rfc_9457():
    problem = Unprocessable("bad body", errors=[{"field": "a", "message": "is required"}])
    assert problem.body("rid") == {
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "bad body",
        "errors": [{"field": "a", "message": "is required"}],
        "requestId": "rid",
    }
    assert NotFound().body() == {"type": "about:blank", "title": "Not Found", "status": 404}
    assert Problem("x", status=418, title="I'm a teapot").body()["status"] == 418


def test_context_exposes_bound_resources_and_names_the_missing_ones():
    ctx = Context("submit-claim", "rid", deadline=0.0, resources={"claims_store": "store"})
    assert ctx.claims_store == "store"
    with pytest.raises(
        AttributeError, match="binds no resource 'orders_store' \\(bound: claims_store\\)"
    ):
        _ = ctx.orders_store


def test_schema_failures_name_each_failing_field():
    validator = Draft202012Validator(
        {
            "type": "object",
            "required": ["a", "b"],
            "properties": {"a": {"type": "string"}, "n": {"type": "object", "required": ["deep"]}},
        }
    )
    failures = schema_failures(validator, {"a": 1, "n": {}})
    assert [f["field"] for f in failures] == ["b", "a", "n.deep"]
    assert all(f["message"] for f in failures)


def test_flask_rules_come_from_manifest_paths():
    assert flask_rule("/claims/{claimId}/notes/{noteId}") == "/claims/<claimId>/notes/<noteId>"


def test_job_ids_are_deterministic_and_backoff_is_capped():
    assert job_id("abc") == job_id("abc") == "msg-abc"
    assert JobPolicy(retries=8).retry_intervals() == [1, 2, 4, 8, 16, 32, 60, 60]
    assert JobPolicy(retries=0).retry_intervals() == []


def test_dev_consumers_match_the_dev_contract():
    keys = by_api_key(DEV_CONSUMERS)
    assert {k: c.username for k, c in keys.items()} == {
        "alice-dev-key": "alice",
        "bob-dev-key": "bob",
    }
    assert keys["alice-dev-key"].id != keys["bob-dev-key"].id


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:1/db", "postgresql+psycopg://u@h:1/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_database_urls_select_yoyos_psycopg3_backend(url, expected):
    assert yoyo_url(url) == expected


def request_with(query: dict[str, str]) -> Request:
    return Request(None, {}, query, None, {}, "r-1")


@pytest.mark.parametrize(
    ("query", "value"), [({}, 20), ({"limit": "1"}, 1), ({"limit": "100"}, 100)]
)
def test_query_int_reads_ascii_whole_numbers_in_range(query, value):
    assert request_with(query).query_int("limit", default=20, minimum=1, maximum=100) == value


@pytest.mark.parametrize(
    "text",
    [
        *("0", "101", "-1", "ten", "1.5", "", " 5", "5 ", "1_0", "+5", "9" * 40),
        *("\u00b2", "\u0661\u0660", "\U0001d7d3", "\uff15"),  # superscript, Arabic-Indic, ...
    ],
)
def test_query_int_refuses_anything_else_with_a_bad_request(text):
    with pytest.raises(BadRequest, match="limit must be a whole number from 1 to 100"):
        request_with({"limit": text}).query_int("limit", default=20, minimum=1, maximum=100)
