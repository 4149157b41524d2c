"""What each role's process imports at start: `portico serve` and `portico worker` load only what
they use (issue 14: start to ready). Each case runs the real command in a fresh interpreter with
the servers' connections and the serving loop stubbed out (gunicorn's arbiter, RQ's work loop),
and reads sys.modules once the function is ready to serve. No timings here: `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The claims app alone: shorthand schemas only (a full JSON Schema, as checkout has, is checked
# with jsonschema when its manifest loads, in every process that loads it).
CLAIMS = ROOT / "functions" / "claims"
BENCH = ROOT / "bench" / "functions"

# A command's own module is imported only when it runs.
OTHER_COMMANDS = {"portico.cli.check", "portico.cli.render", "portico.cli.dlq", "portico.cli.local"}
# Nothing of the render path, the laptop or the gateway in a function's process.
NOT_A_FUNCTION = {"portico.render", "portico.local", "portico.gateway", "portico.policies"}
# A worker is no web app.
WEB = {"flask", "jinja2", "werkzeug", "gunicorn", "portico.runtime.app", "portico.runtime.serve"}

STUBS = """
import json, sys
from portico.runtime.resources import Resources

Resources.open = lambda self, *args, **kwargs: None  # no Postgres or Redis here
"""

SERVE = """
from portico.runtime import serve

# Build the app as gunicorn's worker does (FunctionServer.load), without starting gunicorn.
serve.FunctionServer.run = lambda self: self.wsgi()
"""

WORKER = """
from portico.queueing import worker


class NoWork:  # RQ's worker (which asks Redis for its address as it is made) and its loop
    draining = worker.DrainingJobWorker.draining

    def __init__(self, *args, **kwargs):
        pass

    def work(self, *args, **kwargs):
        return True


worker.DrainingJobWorker = NoWork
"""

REPORT = """
from portico.cli import main

main(sys.argv[1:], standalone_mode=False)
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(stubs: str, *args: str) -> set[str]:
    """sys.modules once `portico ARGS` got as far as the stubs let it."""
    code = textwrap.dedent(STUBS) + textwrap.dedent(stubs) + textwrap.dedent(REPORT)
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": "postgresql://portico@127.0.0.1:1/portico",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "PORTICO_GATEWAY_SECRET": "test-secret",
        "PORTICO_LOG_LEVEL": "WARNING",
    }
    finished = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    loaded: list[str] = json.loads(finished.stdout.strip().splitlines()[-1])
    return set(loaded)


def under(loaded: set[str], packages: set[str]) -> set[str]:
    return {m for m in loaded if any(m == p or m.startswith(f"{p}.") for p in packages)}


@pytest.mark.parametrize(
    ("function", "functions_dir"), [("submit-claim", CLAIMS), ("hello", BENCH)]
)
def test_serve_imports_only_what_an_http_function_uses(function: str, functions_dir: Path) -> None:
    loaded = modules_after(
        SERVE, "serve", function, "--port", "0", "--functions-dir", str(functions_dir)
    )
    assert "portico.runtime.app" in loaded and "flask" in loaded  # it did build the app
    assert under(loaded, OTHER_COMMANDS | NOT_A_FUNCTION | {"portico.queueing"}) == set()


def test_serving_a_function_without_a_request_schema_imports_no_jsonschema() -> None:
    loaded = modules_after(SERVE, "serve", "hello", "--port", "0", "--functions-dir", str(BENCH))
    assert under(loaded, {"jsonschema"}) == set()


def test_a_worker_imports_nothing_of_the_web() -> None:
    loaded = modules_after(
        WORKER, "worker", "review-claim", "--port", "0", "--functions-dir", str(CLAIMS)
    )
    assert "rq.worker" in loaded and "portico.queueing.worker" in loaded  # it did run
    assert "http.server" in loaded  # its health endpoints
    web = WEB | {"jsonschema"} | OTHER_COMMANDS | NOT_A_FUNCTION
    assert under(loaded, web) == set()


def test_loading_shorthand_manifests_imports_no_jsonschema() -> None:
    code = (
        "import sys; from pathlib import Path; from portico.manifest import load_all; "
        f"load_all(Path({str(CLAIMS)!r})); print('jsonschema' in sys.modules)"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert finished.stdout.strip() == "False"


def test_every_command_is_found_by_name() -> None:
    """The CLI imports a command's module on first use: each name must lead to its command."""
    import click

    from portico.cli import COMMANDS, main

    context = click.Context(main)
    assert main.list_commands(context) == sorted(COMMANDS)
    for name in COMMANDS:
        command = main.get_command(context, name)
        assert isinstance(command, click.Command) and command.name == name
