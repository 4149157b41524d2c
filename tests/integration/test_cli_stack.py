"""A `portico` command in a second shell of the checkout: it finds a running `portico dev`'s
servers through the stack file in `.dev/` with no DATABASE_URL / REDIS_URL set, and when a
server does not answer it says so in one line naming the URL and where it came from."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from portico.local.ports import free_port
from portico.settings import StackFile
from tests.conftest import ROOT, TEST_FUNCTIONS_DIR, Services
from tests.integration.devstack import DevStack
from tests.integration.test_dlq import fail_one_job

pytestmark = pytest.mark.integration

WHERE = ("--functions-dir", str(TEST_FUNCTIONS_DIR))
HINT = "or start the dev stack with make dev"
UNSET = {"DATABASE_URL", "REDIS_URL", "PORTICO_DEV_DIR"}


def portico(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`portico ARGS` as typed in another shell in `cwd`: no DATABASE_URL, REDIS_URL or
    PORTICO_DEV_DIR unless given."""
    inherited = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run(
        [sys.executable, "-m", "portico.cli", *args],
        cwd=cwd,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def unreachable_url(scheme: str, password: str = "") -> str:
    port = free_port()  # nothing listens there
    userinfo = f"portico:{password}@" if password else ""
    return f"{scheme}://{userinfo}127.0.0.1:{port}/{'0' if scheme == 'redis' else 'portico'}"


def test_a_second_shell_finds_the_running_dev_stack(clean_state: Services, tmp_path: Path):
    fail_one_job(clean_state)
    data_dir = tmp_path / ".dev"
    port = free_port()
    # External servers (this session's), so `portico dev` starts in seconds; its stack file
    # records them as it would its embedded ones.
    stack = DevStack(data_dir, port, env=clean_state.urls)
    try:
        stack.wait_ready()
        recorded = data_dir / "stack.json"
        assert json.loads(recorded.read_text()) == {
            "database_url": clean_state.database_url,
            "redis_url": clean_state.redis_url,
            "gateway_url": f"http://127.0.0.1:{port}",
            "pid": stack.process.pid,
        }
        assert recorded.stat().st_mode & 0o777 == 0o600
        [printed] = re.findall(r"^  (\S.* dlq list)$", stack.text(), re.MULTILINE)

        listed = portico("dlq", "list", *WHERE, cwd=tmp_path)
        # The banner's command, typed as printed in a shell at the checkout's root.
        typed = subprocess.run(
            ["sh", "-c", f"{printed} {shlex.join(WHERE)}"],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k not in UNSET},
            capture_output=True,
            text=True,
            timeout=60,
        )
        elsewhere = portico(
            "dlq", "list", *WHERE, cwd=TEST_FUNCTIONS_DIR, PORTICO_DEV_DIR=str(data_dir)
        )
        migrated = portico("migrate", cwd=tmp_path, PORTICO_FUNCTIONS_DIR=str(TEST_FUNCTIONS_DIR))
    finally:
        exit_code = stack.stop()

    assert listed.returncode == 0, listed.stderr
    assert "msg-doomed  test-notes" in listed.stdout
    assert typed.returncode == 0, f"{printed}: {typed.stderr}"
    assert "msg-doomed  test-notes" in typed.stdout
    assert listed.stderr == "1 dead letter(s)\n"
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "msg-doomed  test-notes" in elsewhere.stdout
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout == "up to date\n"
    assert exit_code == 0, stack.text()
    assert not (data_dir / "stack.json").exists(), "the stack file outlived portico dev"


def test_with_the_stack_gone_an_unreachable_url_is_one_line(clean_state: Services, tmp_path):
    fail_one_job(clean_state)
    # A stack file left by a `portico dev` that was SIGKILLed: its pid is gone.
    gone = subprocess.Popen([sys.executable, "-c", "pass", "portico", "dev"])
    gone.wait()
    (tmp_path / ".dev").mkdir()
    StackFile(clean_state.database_url, clean_state.redis_url, "http://x", gone.pid).write(
        tmp_path / ".dev" / "stack.json"
    )
    redis_url = unreachable_url("redis", password="s3cret")
    shown = redis_url.replace("s3cret", "***")

    done = portico("dlq", "list", *WHERE, cwd=tmp_path, REDIS_URL=redis_url)

    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: cannot reach Redis at {shown} (from REDIS_URL): ")
    assert line.endswith(f"; set REDIS_URL, {HINT}")
    assert "Connection refused" in line
    assert "s3cret" not in done.stderr


def test_a_live_stack_file_naming_a_dead_server_is_named_in_the_line(tmp_path):
    redis_url = unreachable_url("redis")
    # A live `portico`-looking process for the stack file's pid.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)", "portico"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "up\n"
        (tmp_path / ".dev").mkdir()
        stack_file = tmp_path / ".dev" / "stack.json"
        StackFile("postgresql://x@127.0.0.1:1/x", redis_url, "http://x", holder.pid).write(
            stack_file
        )
        done = portico("dlq", "show", "msg-1", *WHERE, cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(
        f"error: cannot reach Redis at {redis_url} (from the dev stack's {stack_file}): "
    ), line


@pytest.mark.parametrize("command", ["migrate", "seed"])
def test_postgres_unreachable_is_one_line(tmp_path, command):
    database_url = unreachable_url("postgresql", password="s3cret")
    done = portico(command, cwd=tmp_path, DATABASE_URL=database_url)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    shown = database_url.replace("s3cret", "***")
    assert line.startswith(f"error: cannot reach Postgres at {shown} (from DATABASE_URL): ")
    assert line.endswith(f"; set DATABASE_URL, {HINT}")
    assert "s3cret" not in done.stderr


def test_a_worker_whose_redis_refuses_it_exits_with_one_line(clean_state: Services, tmp_path):
    redis_url = unreachable_url("redis")
    done = portico(
        "worker", "note-taker", "--burst", "--no-health", *WHERE,
        cwd=tmp_path, DATABASE_URL=clean_state.database_url, REDIS_URL=redis_url,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"error: cannot reach Redis at {redis_url} (from REDIS_URL): "
    ), done.stderr


def test_portico_dev_on_an_unreachable_external_server_is_one_line(clean_state, tmp_path):
    database_url = unreachable_url("postgresql")
    done = portico(
        "dev", "--data-dir", str(tmp_path / "data"), "--port", str(free_port()), *WHERE,
        cwd=tmp_path, DATABASE_URL=database_url, REDIS_URL=clean_state.redis_url,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: cannot reach Postgres at {database_url} (from DATABASE_URL)")
    assert not (tmp_path / "data").exists()
