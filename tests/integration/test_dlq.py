"""`portico dlq list|show|replay` over a job that really failed in a real worker."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis
from click.testing import CliRunner

from portico.cli import main
from portico.state import outbox
from tests.conftest import ROOT, TEST_FUNCTIONS_DIR, Services, open_resources

pytestmark = pytest.mark.integration


def fail_one_job(services: Services) -> None:
    resources = open_resources(services.database_url, services.redis_url, TEST_FUNCTIONS_DIR)
    message = {"id": "doomed", "queue": "test-notes", "payload": {"note": "fail"}}
    outbox.push(resources.redis, [("test-notes", message)], resources.consumers)
    resources.close()
    env = {"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    subprocess.run(
        [sys.executable, "-m", "portico.cli", "worker", "note-taker", "--burst", "--no-health",
         "--functions-dir", str(TEST_FUNCTIONS_DIR)],
        cwd=ROOT, env={**env, "PATH": "/usr/bin:/bin"}, check=True, capture_output=True,
    )  # fmt: skip


def test_list_show_and_replay_a_dead_letter(clean_state, monkeypatch):
    fail_one_job(clean_state)
    monkeypatch.setenv("REDIS_URL", clean_state.redis_url)
    runner = CliRunner()
    where = ["--functions-dir", str(TEST_FUNCTIONS_DIR)]

    listed = runner.invoke(main, ["dlq", "list", *where])
    shown = runner.invoke(main, ["dlq", "show", "msg-doomed", *where])
    replayed = runner.invoke(main, ["dlq", "replay", "msg-doomed", *where])
    after = runner.invoke(main, ["dlq", "list", *where])

    assert listed.exit_code == 0, listed.output
    assert "msg-doomed  test-notes" in listed.output
    assert "RuntimeError: note-taker was told to fail" in listed.output
    assert shown.exit_code == 0
    assert '"note": "fail"' in shown.output and "Traceback" in shown.output
    assert replayed.output.strip() == "replayed msg-doomed onto test-notes"
    assert "0 dead letter(s)" in after.output
    queued = redis.Redis.from_url(clean_state.redis_url).lrange("rq:queue:test-notes", 0, -1)
    assert queued == [b"msg-doomed"]


def test_unknown_dead_letters_are_a_clear_error(clean_state, monkeypatch):
    monkeypatch.setenv("REDIS_URL", clean_state.redis_url)
    where = ["--functions-dir", str(TEST_FUNCTIONS_DIR)]
    result = CliRunner().invoke(main, ["dlq", "show", "msg-nope", *where])
    assert result.exit_code == 1
    assert "no dead letter 'msg-nope'" in result.output
    usage = CliRunner().invoke(main, ["dlq", "replay", *where])
    assert usage.exit_code == 2
