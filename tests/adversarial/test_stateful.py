"""Property-based, stateful: hypothesis drives alice and bob through the gateway, interleaving
submissions (real policy ids as well as generated ones, so the 201 path is reached), reads of
real claims by their owner and by the other consumer (API key and JWT), listings with generated
and borrowed cursors and limits, and reads of generated claim ids.

Every answer goes through the suite's checker (no 5xx, JSON errors, no stack trace, nothing of
the other consumer's), and each step's status is checked against a model: who owns which claim,
which policies are whose and active, and the route's own request schema. 429s are accepted
(counted; they must not be all there is). The run is derandomized, so a failure reproduces; it
does not shrink (every shrink step would be more paced requests), and it reports every
failure it saw rather than the first.

schemathesis 4.32 could drive this too (`schema.as_state_machine()` infers POST /claims ->
GET /claims/{claimId} links from the claimId property), but it cannot know the deployment's real
policy ids, so its POST /claims would never reach a 201.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    multiple,
    rule,
    run_state_machine_as_test,
)
from jsonschema import Draft202012Validator

from tests.adversarial.checks import Exchange, violations
from tests.adversarial.harness import Api

pytestmark = pytest.mark.adversarial

EXAMPLES = int(os.environ.get("PORTICO_ADVERSARIAL_EXAMPLES", "15"))
STEPS = 20
CONSUMERS = ("alice", "bob")
ACTIVE_POLICY = {"alice": "P-1001", "bob": "P-2001"}
STATUSES = ("submitted", "in_review", "approved", "rejected")
MARKER = "{consumer}-marker"


@dataclass
class Run:
    """What the whole run saw: failures (each with its exact request and answer) and statuses."""

    failures: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def fail(self, problem: str, exchange: Exchange) -> None:
        self.failures.append(f"{problem}\n  {exchange.describe()}")


consumers = st.sampled_from(CONSUMERS)
# Whose policy a submission names: mostly the caller's own active one, so the 201 path and the
# reads after it are reached; else the other consumer's, alice's inactive one, or generated text.
policy_choices = st.sampled_from(["own", "own", "own", "theirs", "inactive"]) | st.text(max_size=70)
document_keys = st.one_of(
    st.from_regex(r"claims/20[0-9]{2}/[a-z0-9]{1,10}\.(jpg|png|pdf)", fullmatch=True),
    st.from_regex(r"claims/20[0-9]{2}/[a-z0-9]{1,10}\.(jpg|png|pdf)", fullmatch=True),
    st.text(max_size=80),
    st.text(min_size=1020, max_size=1030),
)
descriptions = st.none() | st.text(max_size=120)
limits = (
    st.none()
    | st.integers(1, 100).map(str)
    | st.sampled_from(["0", "101", "-1", "²", "\uff15", "1e1", ""])
    | st.text(max_size=5)
)
status_filters = st.none() | st.sampled_from(STATUSES) | st.text(max_size=12)
odd_claim_ids = st.uuids().map(str) | st.text(min_size=1, max_size=40)


def machine(api: Api, run: Run, schema: dict[str, Any]) -> type[RuleBasedStateMachine]:
    validator = Draft202012Validator(schema)

    class Claims(RuleBasedStateMachine):
        claims = Bundle("claims")  # (owner, claim id)
        cursors = Bundle("cursors")  # (whose listing it came from, cursor)

        def send(self, method: str, target: str, consumer: str, **options: Any) -> Exchange:
            exchange = api.request(
                method, target, consumer=consumer, check=False, retry_429=False, **options
            )
            run.statuses[f"{method} {route_of(target)} {exchange.status}"] += 1
            for problem in violations(exchange, api.ownership):
                run.fail(problem, exchange)
            return exchange

        def expect(self, exchange: Exchange, *statuses: int) -> bool:
            if exchange.status == 429:
                return False
            if exchange.status not in statuses:
                run.fail(f"expected {' or '.join(map(str, statuses))}", exchange)
                return False
            return True

        @rule(
            target=claims,
            who=consumers,
            policy=policy_choices,
            document_key=document_keys,
            description=descriptions,
        )
        def submit(self, who: str, policy: str, document_key: str, description: str | None) -> Any:
            other = "bob" if who == "alice" else "alice"
            policy = {"own": ACTIVE_POLICY[who], "theirs": ACTIVE_POLICY[other]}.get(policy, policy)
            policy = "P-1002" if policy == "inactive" else policy  # alice's inactive one
            body: dict[str, Any] = {"policyId": policy, "documentKey": document_key}
            if description is not None:
                body["description"] = f"{MARKER.format(consumer=who)} {description}"
            exchange = self.send("POST", "/claims", who, json_body=body)
            storable = all("\x00" not in v for v in body.values())
            if not (validator.is_valid(body) and storable):
                self.expect(exchange, 422)
            elif policy == ACTIVE_POLICY[who]:
                if self.expect(exchange, 201):
                    created = exchange.json()
                    assert isinstance(created, dict)
                    if exchange.header("Location") != f"/claims/{created['claimId']}":
                        run.fail("the 201's Location is not the claim's", exchange)
                    return (who, str(created["claimId"]))
            else:
                self.expect(exchange, 404)
            return multiple()

        @rule(who=consumers, claim=claims, jwt=st.booleans())
        def read(self, who: str, claim: tuple[str, str], jwt: bool) -> None:
            owner, claim_id = claim
            suffix = "/status" if jwt else ""
            exchange = self.send("GET", f"/claims/{claim_id}{suffix}", who, jwt=jwt)
            if owner != who:
                self.expect(exchange, 404)
            elif self.expect(exchange, 200):
                shown = exchange.json()
                assert isinstance(shown, dict)
                if shown.get("claimId") != claim_id or shown.get("status") not in STATUSES:
                    run.fail("not the claim asked for", exchange)

        @rule(who=consumers, claim_id=odd_claim_ids, jwt=st.booleans())
        def read_unknown(self, who: str, claim_id: str, jwt: bool) -> None:
            suffix = "/status" if jwt else ""
            exchange = self.send("GET", f"/claims/{quote(claim_id, safe='')}{suffix}", who, jwt=jwt)
            if "\x00" in claim_id:
                self.expect(exchange, 400, 404)
            else:
                self.expect(exchange, 404)

        @rule(target=cursors, who=consumers, limit=limits, status=status_filters)
        def list_first(self, who: str, limit: str | None, status: str | None) -> Any:
            return self.list_page(who, limit, status, None)

        @rule(target=cursors, who=consumers, limit=limits, borrowed=cursors)
        def list_next(self, who: str, limit: str | None, borrowed: tuple[str, str]) -> Any:
            return self.list_page(who, limit, None, borrowed)

        def list_page(
            self, who: str, limit: str | None, status: str | None, cursor: tuple[str, str] | None
        ) -> Any:
            query = {"limit": limit, "status": status, "cursor": cursor[1] if cursor else None}
            encoded = "&".join(
                f"{k}={quote(v, safe='')}" for k, v in query.items() if v is not None
            )
            exchange = self.send("GET", "/claims" + (f"?{encoded}" if encoded else ""), who)
            valid_limit = limit is None or (
                limit.isascii() and limit.isdigit() and 1 <= int(limit) <= 100
            )
            valid_status = status is None or status in STATUSES
            if not (valid_limit and valid_status):
                self.expect(exchange, 400)
                return multiple()
            if cursor is not None and cursor[0] != who:
                ok = self.expect(exchange, 200, 400)  # a cursor may be bound to its consumer
            else:
                ok = self.expect(exchange, 200)
            if not ok or exchange.status != 200:
                return multiple()
            page = exchange.json()
            assert isinstance(page, dict)
            if limit is not None and len(page["items"]) > int(limit):
                run.fail(f"more than limit={limit} items", exchange)
            if status is not None and any(item["status"] != status for item in page["items"]):
                run.fail(f"items that are not {status}", exchange)
            return (who, page["nextCursor"]) if page["nextCursor"] else multiple()

    return Claims


def route_of(target: str) -> str:
    path = target.split("?")[0]
    if path == "/claims":
        return path
    return "/claims/{claimId}/status" if path.endswith("/status") else "/claims/{claimId}"


def test_alice_and_bob_interleaved_get_only_correct_json_answers(api: Api) -> None:
    manifest = api.function_of("POST", "/claims")
    assert manifest is not None and manifest.api is not None
    schema = manifest.api.request_schema
    assert schema is not None
    run = Run()
    run_state_machine_as_test(
        machine(api, run, schema),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
    created = sum(
        n for key, n in run.statuses.items() if key.startswith("POST") and key.endswith("201")
    )
    limited = sum(n for key, n in run.statuses.items() if key.endswith("429"))
    total = sum(run.statuses.values())
    summary = ", ".join(f"{key} x{n}" for key, n in sorted(run.statuses.items()))
    print(f"\nstateful run: {total} requests: {summary}")
    assert not run.failures, f"{len(run.failures)} failures:\n" + "\n".join(run.failures[:40])
    assert created > 0, f"the run never reached POST /claims' 201: {summary}"
    assert limited < total, "every answer was a 429"
