"""The effects ledger's formats: the log line's field, the Server-Timing header."""

from __future__ import annotations

import json

from portico.runtime.effects import DependencyCall, Effects
from portico.state.transaction import rows_written


def ledger() -> Effects:
    effects = Effects()
    effects.statements, effects.rows_written, effects.sql_seconds = 3, 2, 0.0012
    effects.published("claim-review-jobs")
    effects.published("claim-review-jobs")
    effects.queue_seconds = 0.0003
    effects.calls.append(DependencyCall("payments", "POST", '/charges/"x"', "2xx", 0.041))
    effects.calls.append(DependencyCall("payments", "GET", "/charges", "timeout", 0.002))
    effects.handler_seconds = 0.0452
    effects.committed = True
    return effects


def test_the_log_field_is_the_json_of_the_ledger():
    effects = ledger()
    assert json.loads(effects.log_field()) == effects.as_dict()
    assert effects.as_dict()["messages"] == {"claim-review-jobs": 2}
    assert effects.as_dict()["calls"][0]["path"] == '/charges/"x"'


def test_an_empty_ledger_says_so_briefly():
    field = json.loads(Effects().log_field())
    assert field == {
        "statements": 0,
        "rows_written": 0,
        "sql_ms": 0.0,
        "handler_ms": 0.0,
        "committed": False,
    }


def test_server_timing_adds_up_each_dependency():
    assert ledger().server_timing() == (
        'sql;dur=1.2;desc="3 statements, 2 rows", dep-payments;dur=43.0, '
        'queue;dur=0.3;desc="2 messages", handler;dur=45.2'
    )


def test_rows_written_are_counted_from_the_command_tag():
    assert rows_written("INSERT 0 2", 2) == 2
    assert rows_written("UPDATE 5", 5) == 5
    assert rows_written("DELETE 0", 0) == 0
    assert rows_written("SELECT 7", 7) == 0
    assert rows_written(None, -1) == 0
