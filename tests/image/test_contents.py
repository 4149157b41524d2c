"""What the function image holds: Portico's base install, nothing of the laptop platform (the
`local` extra: the dev gateway's aiohttp, the embedded servers), nor honcho, which the
laptop once used, nor pydantic, which nothing imports."""

from __future__ import annotations

import subprocess

import pytest

from tests.image.docker import docker
from tests.unit.test_layering import LOCAL_ONLY_PACKAGES

# The first test of the tier to run may be the one that builds the image.
pytestmark = pytest.mark.timeout(600)

PYTHON = "/opt/portico/bin/python"  # the image's venv, first on its PATH
NOT_IN_THE_IMAGE = sorted(LOCAL_ONLY_PACKAGES | {"honcho", "pydantic"})
FIND_SPECS = (
    "import importlib.util, sys\n"
    "print(' '.join(n for n in sys.argv[1:] if importlib.util.find_spec(n) is not None))\n"
)


def python_in(image: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The image's Python, as its own user, with no network."""
    return docker(
        "run", "--rm", "--network", "none", "--entrypoint", PYTHON, image, *args, check=False
    )  # fmt: skip


@pytest.mark.parametrize("module", ["aiohttp", "honcho"])
def test_a_laptop_package_does_not_import(image: str, module: str) -> None:
    done = python_in(image, "-c", f"import {module}")
    assert done.returncode != 0, done.stdout
    assert f"ModuleNotFoundError: No module named '{module}'" in done.stderr


def test_nothing_of_the_laptop_is_installed(image: str) -> None:
    done = python_in(image, "-c", FIND_SPECS, *NOT_IN_THE_IMAGE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_the_base_install_is_there(image: str) -> None:
    imports = "import portico.runtime.serve, portico.queueing.worker, portico.migrate"
    done = python_in(image, "-c", imports)
    assert done.returncode == 0, done.stderr
