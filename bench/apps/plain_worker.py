"""The worker baseline: a plain RQ job doing the review's database work (lock the claim, move
it to in_review, then to its decision, with an event each) in one transaction, without the
guarantees: no processed-message record (a redelivered job runs again), no deadline, no outbox.
Run by RQ's own `rq worker --worker-class rq.worker.SimpleWorker` (no fork per job, as
Portico's worker)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import psycopg

CLAIMS_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "claims" / "src" / "claims.py"
_connection: psycopg.Connection | None = None


def _claims_rules() -> ModuleType:
    """The claims app's module, for its review rule (the same decision, without Portico)."""
    spec = importlib.util.spec_from_file_location("bench_claims_rules", CLAIMS_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


decide: Callable[[str, str, str], tuple[str, str]] = _claims_rules().decide


def connection() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["DATABASE_URL"])
    return _connection


def review(claim_id: str) -> str:
    with connection().transaction() as tx:
        conn = tx.connection
        row = conn.execute(
            "SELECT c.status, c.document_key, p.policy_id, p.status"
            " FROM claims c JOIN policies p USING (policy_id)"
            " WHERE c.claim_id = %s FOR UPDATE OF c",
            (claim_id,),
        ).fetchone()
        if row is None or row[0] != "submitted":
            return "skipped"
        _, document_key, policy_id, policy_status = row
        decision, decision_reason = decide(policy_id, policy_status, document_key)
        for old, new, reason in (
            ("submitted", "in_review", "review started"),
            ("in_review", decision, decision_reason),
        ):
            conn.execute(
                "UPDATE claims SET status = %s, decision_reason = %s,"
                " updated_at = clock_timestamp() WHERE claim_id = %s AND status = %s",
                (new, reason if new == decision else None, claim_id, old),
            )
            conn.execute(
                "INSERT INTO claim_events (claim_id, from_status, to_status, reason)"
                " VALUES (%s, %s, %s, %s)",
                (claim_id, old, new, reason),
            )
    return decision
