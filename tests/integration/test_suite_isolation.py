"""The suite never wipes a database it did not create: DATABASE_URL / REDIS_URL (which
`portico dev` prints for people to export) are used only when marked disposable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import DISPOSABLE, ROOT, disposable_services, services_line

pytestmark = pytest.mark.integration

URLS = {"DATABASE_URL": "postgresql://me@127.0.0.1:5432/mine", "REDIS_URL": "redis://127.0.0.1"}


@pytest.mark.parametrize(
    "environ",
    [URLS, {**URLS, DISPOSABLE: "yes"}, {"DATABASE_URL": URLS["DATABASE_URL"], DISPOSABLE: "1"}],
)
def test_urls_not_marked_disposable_are_ignored_and_said_so(environ):
    assert disposable_services(environ) is None
    line = services_line(environ)
    assert line is not None and line.startswith("tests: ignoring DATABASE_URL")


def test_urls_marked_disposable_are_used():
    environ = {**URLS, DISPOSABLE: "1"}
    assert disposable_services(environ) == (URLS["DATABASE_URL"], URLS["REDIS_URL"])
    assert "using the disposable" in (services_line(environ) or "")


def test_without_urls_nothing_is_said():
    assert services_line({}) is None


def test_a_run_with_a_developers_urls_says_it_ignores_them_and_hides_them_from_tests():
    env = {**os.environ, **URLS}
    env.pop(DISPOSABLE, None)
    probe = (
        "import os, tests.conftest; "
        "print(os.environ.get('DATABASE_URL'), os.environ.get('REDIS_URL'))"
    )
    hidden = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert hidden.stdout.split() == ["None", "None"], hidden.stderr
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/unit/test_limits.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "tests: ignoring DATABASE_URL and REDIS_URL" in run.stdout
