"""Run `portico dev` as a real subprocess and wait for it, as a user would."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import psycopg

from portico.local.embedded_postgres import EmbeddedPostgres
from portico.local.embedded_redis import EmbeddedRedis
from tests.support import Process

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR_LINE = re.compile(r"^\d\d:\d\d:\d\d portico +\| ")


class DevStack:
    """`portico dev` on `data_dir`. Its DATABASE_URL / REDIS_URL are those in `env`, if any:
    never the caller's own, so without them it runs its own embedded Postgres and Redis. It
    inherits the rest of the caller's environment, less the variables named in `unset`."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        unset: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        dropped = {"DATABASE_URL", "REDIS_URL", *unset}
        inherited = {k: v for k, v in os.environ.items() if k not in dropped}
        environment = {**inherited, **(env or {}), "PORTICO_LOG_LEVEL": "INFO"}
        # In the caller's process group, as `portico dev` in a terminal is: a Ctrl-C of the test
        # run reaches it too; stop() signals it alone.
        self.dev = Process(
            [
                sys.executable,
                "-m",
                "portico.cli",
                "dev",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                *extra_args,
            ],
            name="portico dev",
            env=environment,
            cwd=ROOT,
            own_group=False,
        )

    @property
    def process(self) -> subprocess.Popen[str]:
        return self.dev.popen

    @property
    def output(self) -> list[str]:
        return self.dev.output

    def text(self) -> str:
        return self.dev.text()

    def supervisor_lines(self) -> list[str]:
        """What `portico dev` itself said about its processes (started, exited, stopped)."""
        return [line for line in self.text().splitlines() if SUPERVISOR_LINE.match(line)]

    def wait_ready(self, timeout: float = 90.0) -> None:
        self.dev.wait_ready(
            lambda: "Portico is up" in self.text(),
            timeout=timeout,
            interval=0.2,
            what="it says Portico is up",
        )

    def announced(self, variable: str) -> str:
        """A value from the banner, e.g. DATABASE_URL."""
        match = re.search(rf"^{variable}=(\S+)$", self.text(), re.MULTILINE)
        assert match is not None, f"{variable} is not in the banner:\n{self.text()}"
        return match.group(1)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def descendants(self) -> list[psutil.Process]:
        return self.dev.tree()[1:]

    def portico_process(self, *args: str) -> psutil.Process | None:
        """The live `portico <args...>` process that `portico dev` or its gateway started, or
        the gateway's warm template forked (for a function, gunicorn's arbiter, not its
        worker)."""
        for process in self.descendants():
            if _runs(process, args) and any(
                _runs(parent, ("dev",)) or _runs(parent, ("gateway",)) or _is_template(parent)
                for parent in _parent(process)
            ):
                return process
        return None

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        self.dev.send_signal(signal.SIGINT)
        try:
            return self.dev.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL `portico dev` and everything it started, and stop its embedded servers: the
        last resort of a failed test."""
        for process in self.descendants():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.dev.kill()
        EmbeddedRedis(self.data_dir / "redis").stop()
        EmbeddedPostgres(self.data_dir / "postgres").stop()


def _runs(process: psutil.Process, args: tuple[str, ...]) -> bool:
    try:
        command = process.cmdline()
        alive = process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
    if not alive or "portico.cli" not in command:
        return False
    rest = command[command.index("portico.cli") + 1 :]
    return tuple(rest[: len(args)]) == args


def _is_template(process: psutil.Process) -> bool:
    try:
        return "portico.local.template" in process.cmdline()
    except psutil.Error:
        return False


def _parent(process: psutil.Process) -> list[psutil.Process]:
    try:
        parent = process.parent()
    except psutil.Error:
        return []
    return [parent] if parent is not None else []


# --- the checkout app (functions/checkout), shared by its integration and fault tests ---------

CHECKOUT_ADDRESS = {
    "name": "Alice Example",
    "line1": "1 Main St",
    "city": "Springfield",
    "postalCode": "12345",
    "country": "US",
}


def checkout_body(token: str = "tok_visa", email: str = "alice@example.com") -> dict[str, object]:
    """A cart of two teas (12.00 each) and a mug (9.00): 33.00 EUR."""
    return {
        "items": [{"sku": "TEA-001", "quantity": 2}, {"sku": "MUG-002", "quantity": 1}],
        "paymentToken": token,
        "email": email,
        "shippingAddress": CHECKOUT_ADDRESS,
    }


def checkout_counts(database_url: str) -> dict[str, int]:
    """What a checkout commits, and what follows from it: orders, order-placed messages in the
    outbox or processed by dispatch-order, and each downstream effect."""
    queries = {
        "orders": "SELECT count(*) FROM orders",
        "outbox": "SELECT count(*) FROM portico_outbox WHERE queue = 'order-placed'",
        "dispatched": "SELECT count(*) FROM portico_processed_messages"
        " WHERE consumer = 'dispatch-order'",
        "labels": "SELECT count(*) FROM shipment_labels",
        "emails": "SELECT count(*) FROM order_emails",
        "analytics": "SELECT count(*) FROM order_analytics",
        "loyalty": "SELECT count(*) FROM loyalty_points",
    }
    with psycopg.connect(database_url) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in queries.items()}  # type: ignore[index]
