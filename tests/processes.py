"""`portico` subprocesses for tests that need real processes (faults, gateway policies)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from portico.local.ports import free_port
from tests import support
from tests.conftest import ROOT


class Process(support.Process):
    """One `portico ARGS` from the repository root, in its own process group, its output kept.
    wait_ready() waits for its /readyz (or `path`) on `port`; stop() SIGKILLs the whole group
    at once (grace 0): a test's processes have nothing to drain."""

    def __init__(self, args: list[str], env: dict[str, str], port: int | None) -> None:
        self.args, self.port = args, port
        base_url = f"http://127.0.0.1:{port}" if port is not None else None
        super().__init__(
            [sys.executable, "-m", "portico.cli", *args],
            name=f"portico {' '.join(args)}",
            env=env,
            cwd=ROOT,
            grace=0,
            base_url=base_url,
            ready=f"{base_url}/readyz" if base_url else None,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def behind_a_gateway(
    names: Sequence[str], env: dict[str, str], *gateway_args: str
) -> Iterator[tuple[Process, dict[str, Process]]]:
    """`portico serve` for each named function and a `portico gateway` routing to them, all
    ready; stopped on the way out."""
    functions: dict[str, Process] = {}
    started: list[Process] = []
    try:
        for name in names:
            port = free_port()
            functions[name] = Process(["serve", name, "--port", str(port)], env, port)
            started.append(functions[name])
        upstreams = [arg for n, p in functions.items() for arg in ("--upstream", f"{n}={p.url}")]
        port = free_port()
        gateway = Process(["gateway", "--port", str(port), *upstreams, *gateway_args], env, port)
        started.append(gateway)
        for function in functions.values():
            function.wait_ready()
        gateway.wait_ready(path="/healthz")
        yield gateway, functions
    finally:
        for process in started:
            process.stop()
