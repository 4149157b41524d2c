"""Where DATABASE_URL and REDIS_URL come from: the environment, else a running `portico dev`'s
stack file (`.dev/stack.json` under the current directory, or PORTICO_DEV_DIR), else the
defaults; and what a command says when the server at one does not answer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from portico.settings import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    Settings,
    SettingsError,
    StackFile,
    is_running,
    masked,
    settings_from_env,
)

STACK_DATABASE_URL = "postgresql://portico@127.0.0.1:54321/portico"
STACK_REDIS_URL = "redis://127.0.0.1:63790/0"
SLEEP = "import time; print('up', flush=True); time.sleep(120)"


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of a running process that looks like `portico dev` (its command names portico)."""
    sleeper = subprocess.Popen(
        [sys.executable, "-c", SLEEP, "portico", "dev"], stdout=subprocess.PIPE, text=True
    )
    assert sleeper.stdout is not None and sleeper.stdout.readline() == "up\n"  # exec'd
    try:
        yield sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a `portico`-looking process that has exited and been reaped."""
    done = subprocess.Popen([sys.executable, "-c", "pass", "portico", "dev"])
    done.wait()
    return done.pid


def write_stack(directory: Path, pid: int) -> Path:
    path = directory / ".dev" / "stack.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    StackFile(STACK_DATABASE_URL, STACK_REDIS_URL, "http://127.0.0.1:8080", pid).write(path)
    return path


def test_without_env_or_stack_the_defaults(tmp_path):
    settings = settings_from_env({}, cwd=tmp_path)
    assert (settings.database_url, settings.redis_url) == (DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    assert (settings.database_url_origin, settings.redis_url_origin) == ("default", "default")
    assert settings.dev_stack_file == tmp_path / ".dev" / "stack.json"


def test_a_running_stacks_urls_are_used_when_the_environment_has_none(tmp_path, live_pid):
    path = write_stack(tmp_path, live_pid)
    settings = settings_from_env({}, cwd=tmp_path)
    assert (settings.database_url, settings.redis_url) == (STACK_DATABASE_URL, STACK_REDIS_URL)
    assert (settings.database_url_origin, settings.redis_url_origin) == ("dev stack", "dev stack")
    assert settings.origin_of("REDIS_URL") == f"from the dev stack's {path}"


def test_the_environment_beats_the_stack_file(tmp_path, live_pid):
    write_stack(tmp_path, live_pid)
    env = {"DATABASE_URL": "postgresql://db.example/app"}
    settings = settings_from_env(env, cwd=tmp_path)
    assert settings.database_url == "postgresql://db.example/app"
    assert settings.database_url_origin == "env"
    assert settings.redis_url == STACK_REDIS_URL  # each URL on its own
    assert settings.redis_url_origin == "dev stack"


def test_a_stack_file_whose_process_is_gone_is_ignored(tmp_path, dead_pid):
    write_stack(tmp_path, dead_pid)
    settings = settings_from_env({}, cwd=tmp_path)
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_url_origin == "default"


def test_a_live_pid_of_another_program_is_not_a_stack(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", SLEEP], stdout=subprocess.PIPE, text=True)
    assert other.stdout is not None and other.stdout.readline() == "up\n"
    try:
        if not Path(f"/proc/{other.pid}/cmdline").exists():
            pytest.skip("no /proc: only the pid tells")
        write_stack(tmp_path, other.pid)
        assert settings_from_env({}, cwd=tmp_path).redis_url == DEFAULT_REDIS_URL
    finally:
        other.kill()
        other.wait()


def test_portico_dev_itself_ignores_a_stack_file(tmp_path, live_pid):
    write_stack(tmp_path, live_pid)
    settings = settings_from_env({}, cwd=tmp_path, dev_stack=False)
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_url_origin == "default"


def test_portico_dev_dir_says_where_the_stack_is(tmp_path, live_pid):
    write_stack(tmp_path / "elsewhere", live_pid)
    env = {"PORTICO_DEV_DIR": str(tmp_path / "elsewhere" / ".dev")}
    settings = settings_from_env(env, cwd=tmp_path / "somewhere")
    assert settings.redis_url == STACK_REDIS_URL
    assert settings.dev_stack_file == tmp_path / "elsewhere" / ".dev" / "stack.json"
    relative = settings_from_env({"PORTICO_DEV_DIR": "elsewhere/.dev"}, cwd=tmp_path)
    assert relative.redis_url == STACK_REDIS_URL


@pytest.mark.parametrize(
    "text", ["", "{not json", "[]", '{"pid": 1}', '{"pid": "x", "database_url": "a"}']
)
def test_a_stack_file_that_does_not_parse_is_ignored(tmp_path, text):
    (tmp_path / ".dev").mkdir()
    (tmp_path / ".dev" / "stack.json").write_text(text)
    settings = settings_from_env({}, cwd=tmp_path)
    assert settings.database_url_origin == "default"


def test_the_stack_file_is_the_owners_only_and_names_the_stack(tmp_path, live_pid):
    path = write_stack(tmp_path, live_pid)
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {
        "database_url": STACK_DATABASE_URL,
        "redis_url": STACK_REDIS_URL,
        "gateway_url": "http://127.0.0.1:8080",
        "pid": live_pid,
    }
    assert [p.name for p in path.parent.iterdir()] == ["stack.json"]  # no partial file left


def test_a_stack_removes_its_own_file_only(tmp_path, live_pid):
    path = write_stack(tmp_path, live_pid)
    StackFile(STACK_DATABASE_URL, STACK_REDIS_URL, "http://127.0.0.1:8080", 1).remove(path)
    assert path.exists()  # a later run's
    StackFile.recorded(path).remove(path)  # type: ignore[union-attr]
    assert not path.exists()


def test_pids_that_cannot_be_a_stack():
    assert not is_running(0)
    assert not is_running(-1)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("PORTICO_POOL_WAIT_SECONDS", "soon"),
        ("PORTICO_DRAIN_SECONDS", "-1"),
        ("PORT", "0"),
        ("PORTICO_GATEWAY_TIMEOUT_MARGIN_SECONDS", "2.5"),
    ],
)
def test_a_bad_number_names_its_variable(tmp_path, name, text):
    with pytest.raises(SettingsError) as raised:
        settings_from_env({name: text}, cwd=tmp_path)
    assert str(raised.value).startswith(f"{name}={text!r}: expected a number of at least ")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://portico@127.0.0.1:5432/portico", "postgresql://portico@127.0.0.1:5432/portico"),
        ("postgresql://app:s3cret@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://app@db/app?password=s3cret&sslmode=require",
         "postgresql://app@db/app?password=***&sslmode=require"),
        ("host=db user=app password=s3cret", "host=db user=app password=***"),
    ],
)  # fmt: skip
def test_a_url_is_shown_without_its_password(url, shown):
    assert masked(url) == shown


def test_the_line_for_an_unreachable_server_names_the_url_its_origin_and_the_fix(tmp_path):
    settings = Settings(
        database_url="postgresql://app:s3cret@db:5432/app",
        database_url_origin="env",
        dev_stack_file=tmp_path / ".dev" / "stack.json",
    )
    assert settings.unreachable("DATABASE_URL", "Connection refused") == (
        "cannot reach Postgres at postgresql://app:***@db:5432/app (from DATABASE_URL): "
        "Connection refused; set DATABASE_URL, or start the dev stack with make dev"
    )
    assert settings.unreachable("REDIS_URL", "Connection refused") == (
        f"cannot reach Redis at {DEFAULT_REDIS_URL} (the default: REDIS_URL is unset and no dev "
        f"stack is running in {tmp_path / '.dev'}): Connection refused; set REDIS_URL, or start "
        "the dev stack with make dev"
    )


def test_the_egress_mode_is_enforce_unless_told_and_a_bad_one_is_refused():
    from portico.settings import SettingsError, egress_mode

    assert egress_mode({}) == "enforce"
    assert egress_mode({"PORTICO_EGRESS": " Warn "}) == "warn"
    assert egress_mode({"PORTICO_EGRESS": "off"}) == "off"
    with pytest.raises(
        SettingsError, match="PORTICO_EGRESS='block': expected enforce, warn or off"
    ):
        egress_mode({"PORTICO_EGRESS": "block"})
