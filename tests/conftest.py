"""Shared fixtures: real Postgres and Redis for the integration tier (never mocks).

The servers are the embedded ones (system or pip-shipped binaries), started once per test
session in a throwaway directory. Each test that asks for `clean_state` starts from migrated,
seeded, otherwise empty data: it truncates every table and flushes Redis. So the servers at
DATABASE_URL / REDIS_URL (which `portico dev` prints for people to export) are used only when
PORTICO_TEST_DISPOSABLE_SERVICES=1 says they may be wiped; otherwise the suite ignores them,
says so in one line, and no process it starts sees them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from portico.runtime.resources import Resources
from tests.identity import GATEWAY_SECRET

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
TEST_FUNCTIONS_DIR = ROOT / "tests" / "functions"
DISPOSABLE = "PORTICO_TEST_DISPOSABLE_SERVICES"
EXTERNAL = ("DATABASE_URL", "REDIS_URL")


def disposable_services(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """DATABASE_URL and REDIS_URL when both are set and marked disposable, else None."""
    database_url, redis_url = (environ.get(name, "") for name in EXTERNAL)
    if database_url and redis_url and environ.get(DISPOSABLE) == "1":
        return database_url, redis_url
    return None


def services_line(environ: Mapping[str, str]) -> str | None:
    """The one line the run starts with when DATABASE_URL or REDIS_URL is set."""
    if disposable_services(environ) is not None:
        return f"tests: using the disposable DATABASE_URL and REDIS_URL ({DISPOSABLE}=1)"
    given = [name for name in EXTERNAL if environ.get(name)]
    if not given:
        return None
    return (
        f"tests: ignoring {' and '.join(given)}, using throwaway embedded servers instead (the "
        f"tests wipe what they use; {DISPOSABLE}=1 with both URLs lets them wipe those)"
    )


_LINE = services_line(os.environ)
_EXTERNAL = disposable_services(os.environ)
if _EXTERNAL is None:  # nor may any process a test starts see them
    for _name in EXTERNAL:
        os.environ.pop(_name, None)
# Every function the tests start believes callers only from this secret's bearers.
os.environ["PORTICO_GATEWAY_SECRET"] = GATEWAY_SECRET
# A developer's running `make dev` in this checkout (its .dev/stack.json) is never found by a
# command a test runs: they look for a dev stack in a directory of their own, empty.
os.environ["PORTICO_DEV_DIR"] = tempfile.mkdtemp(prefix="portico-tests-no-dev-stack-")


def pytest_sessionstart(session: pytest.Session) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if _LINE and reporter is not None:
        reporter.write_line(_LINE)  # also under -q, where the report header is not shown


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str

    @property
    def urls(self) -> dict[str, str]:
        """DATABASE_URL and REDIS_URL, as a process's environment names them."""
        return {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}

    def process_env(self, functions_dir: Path, **extra: str) -> dict[str, str]:
        """The environment of a `portico` process the tests start against these servers."""
        return {**os.environ, **self.urls, "PORTICO_FUNCTIONS_DIR": str(functions_dir), **extra}


def scratch_dir(prefix: str) -> Path:
    """A temp dir every user can traverse (Postgres runs as a non-root user under root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    from portico.migrate import migrate

    if _EXTERNAL is not None:
        found = Services(*_EXTERNAL)
        for functions_dir in (FUNCTIONS_DIR, TEST_FUNCTIONS_DIR):
            migrate(found.database_url, functions_dir)
        yield found
        return

    from portico.local.embedded_postgres import EmbeddedPostgres
    from portico.local.embedded_redis import EmbeddedRedis

    root = scratch_dir("portico-test-services-")
    postgres = EmbeddedPostgres(root / "postgres", durable=False)
    queue = EmbeddedRedis(root / "redis", durable=False)
    try:
        started = Services(postgres.start(), queue.start())
        for functions_dir in (FUNCTIONS_DIR, TEST_FUNCTIONS_DIR):
            migrate(started.database_url, functions_dir)
        yield started
    finally:
        queue.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def open_resources(
    database_url: str, redis_url: str, functions_dir: Path, pool_size: int = 4
) -> Resources:
    """A function process's connections, with consumers from that functions dir."""
    from portico.runtime.resources import Resources
    from portico.settings import Settings

    settings = Settings(database_url=database_url, redis_url=redis_url, functions_dir=functions_dir)
    resources = Resources.for_process(settings, "portico", pool_size)
    resources.open()
    return resources


def truncate_all(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT quote_ident(tablename) FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename NOT LIKE '%yoyo%'"
            )
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture()
def clean_state(services: Services) -> Services:
    from portico.seed import seed

    truncate_all(services.database_url)
    seed(services.database_url, FUNCTIONS_DIR)
    redis.Redis.from_url(services.redis_url).flushdb()
    return services


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault tests' figures (submitted, acknowledged, stored, reviewed, reviewed twice) and
    the fuzz run's status codes per operation."""
    from tests.faults.harness import FIGURES

    fuzz = sys.modules.get("tests.conformance.test_fuzz")  # only when the fuzz run was collected
    statuses = fuzz.STATUSES if fuzz is not None else {}

    if FIGURES:
        terminalreporter.section("fault test figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
    if statuses:
        terminalreporter.section("fuzz run: responses per operation")
        for run, counts in statuses.items():
            tally = ", ".join(f"{status}x{n}" for status, n in sorted(counts.items()))
            terminalreporter.write_line(f"{run}: {tally}")
