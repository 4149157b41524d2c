"""`pip install .`, no extras: what the function image installs. It validates and renders from
the manifests, serves functions, and has nothing of the laptop platform: no aiohttp, no httpx,
no embedded servers; `portico dev` says which extra it needs instead of a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.install.installs import Install
from tests.unit.test_layering import LOCAL_ONLY_PACKAGES

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]

# The laptop's packages, honcho (which the laptop once used) and pydantic (which nothing uses).
NOT_IN_THE_BASE = sorted(LOCAL_ONLY_PACKAGES | {"honcho", "pydantic"})
FIND_SPECS = (
    "import importlib.util, sys\n"
    "print(' '.join(n for n in sys.argv[1:] if importlib.util.find_spec(n) is not None))\n"
)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory with no `portico/` in it: `python -c` puts its cwd on sys.path, and
    in the checkout that would import the checkout's package instead of the installed one."""
    return tmp_path


def test_portico_help(base_install: Install) -> None:
    done = base_install.run("portico", "--help", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for command in ("check", "render", "run", "serve", "worker", "relay", "migrate", "dev"):
        assert f"  {command} " in done.stdout


def test_portico_check(base_install: Install) -> None:
    done = base_install.run("portico", "check", cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all valid" in done.stdout


def the_project_venv_renders(*args: str) -> str:
    """The same command from the project's own (full, editable) install, to standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "portico.cli", "render", *args, "--output", "-"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_portico_render_openapi(base_install: Install, tmp_path: Path) -> None:
    output = tmp_path / "openapi.json"
    done = base_install.run("portico", "render", "openapi", "--output", str(output), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    document = json.loads(output.read_text())
    assert "/claims" in document["paths"]
    assert output.read_text() == the_project_venv_renders("openapi")


def test_portico_render_kong(base_install: Install, tmp_path: Path) -> None:
    output = tmp_path / "kong.yaml"
    done = base_install.run("portico", "render", "kong", "--output", str(output), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(output.read_text())
    assert {s["name"] for s in config["services"]} >= {"submit-claim", "get-claim"}
    assert output.read_text() == the_project_venv_renders("kong")


@pytest.mark.parametrize("module", ["aiohttp", "honcho"])
def test_a_laptop_package_does_not_import(
    base_install: Install, elsewhere: Path, module: str
) -> None:
    done = base_install.run("python", "-c", f"import {module}", cwd=elsewhere)
    assert done.returncode != 0
    assert f"ModuleNotFoundError: No module named '{module}'" in done.stderr


def test_nothing_of_the_laptop_is_installed(base_install: Install, elsewhere: Path) -> None:
    done = base_install.run("python", "-c", FIND_SPECS, *NOT_IN_THE_BASE, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_the_dev_gateway_needs_the_extra(base_install: Install, elsewhere: Path) -> None:
    done = base_install.run("python", "-c", "import portico.gateway.app", cwd=elsewhere)
    assert done.returncode != 0
    assert "ModuleNotFoundError: No module named 'aiohttp'" in done.stderr


def test_portico_dev_help_works_without_the_extra(base_install: Install) -> None:
    done = base_install.run("portico", "dev", "--help", cwd=ROOT)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    assert "Usage: portico dev" in done.stdout


@pytest.mark.parametrize(
    "args", [("dev", "--data-dir", "{scratch}"), ("gateway",)], ids=["dev", "gateway"]
)
def test_the_laptop_commands_name_the_extra_they_need(
    base_install: Install, args: tuple[str, ...]
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        argv = [arg.format(scratch=scratch) for arg in args]
        done = base_install.run("portico", *argv, cwd=ROOT, timeout=30)
    said = (done.stdout + done.stderr).strip()
    assert "Traceback" not in said, said
    assert done.returncode != 0
    assert len(said.splitlines()) == 1, said
    assert "portico[local]" in said, said
