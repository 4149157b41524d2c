"""Scale from zero from the warm template: the dev gateway forks a function at zero from one
pre-imported process, and falls back to a new process when that template is gone. Real
gateways, templates and functions; which process is whose child is read from the kernel."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest

from portico.local.ports import free_port
from portico.local.template import RESTART_DELAY_SECONDS
from tests.conftest import TEST_FUNCTIONS_DIR, Services
from tests.processes import Process
from tests.support import wait_until

pytestmark = pytest.mark.integration

ALICE = {"apikey": "alice-dev-key"}
TEMPLATE_READY = "portico_gateway_warm_template_ready 1.0"
TEMPLATE_EXITED = "the warm template (pid"


@dataclass
class Stack:
    gateway: Process
    function_port: int

    def get(self, path: str = "/cached/x") -> httpx.Response:
        return httpx.get(f"{self.gateway.url}{path}", headers=ALICE, timeout=60)

    def template(self) -> psutil.Process:
        found = [p for p in self.gateway_children() if "portico.local.template" in p.cmdline()]
        assert len(found) == 1, f"expected one template among {self.gateway_children()}"
        return found[0]

    def gateway_children(self) -> list[psutil.Process]:
        return psutil.Process(self.gateway.pid).children()

    def function(self) -> psutil.Process:
        """The process serving the function: the gunicorn arbiter listening on its port (its
        worker, the arbiter's child, listens on the same socket)."""
        listening = [p for p in self.gateway.tree() if self.listens(p)]
        pids = {p.pid for p in listening}
        arbiters = [p for p in listening if p.ppid() not in pids]
        assert len(arbiters) == 1, f"expected one process on {self.function_port}: {listening}"
        return arbiters[0]

    def listens(self, process: psutil.Process) -> bool:
        try:
            connections = process.net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr.port == self.function_port
            for c in connections
        )

    def metrics(self) -> str:
        return httpx.get(f"{self.gateway.url}/metrics", timeout=5).text


def start_stack(services: Services, *args: str) -> Stack:
    env = services.process_env(TEST_FUNCTIONS_DIR)
    port, function_port = free_port(), free_port()
    command = ["gateway", "--port", str(port), "--scale-to-zero", f"cached={function_port}"]
    gateway = Process([*command, *args], env, port)
    gateway.wait_ready(path="/healthz")
    return Stack(gateway, function_port)


@pytest.fixture()
def stack(services: Services) -> Iterator[Stack]:
    stack = start_stack(services, "--idle-seconds", "300")
    try:
        yield stack
    finally:
        stack.gateway.stop()


def wait_for_the_template(stack: Stack) -> None:
    wait_until(lambda: TEMPLATE_READY in stack.metrics(), 30, "the warm template to be ready")


def kill_function(function: psutil.Process) -> None:
    """SIGKILL the arbiter and its worker, as a crash of the whole function would."""
    for process in [function, *function.children()]:
        process.send_signal(signal.SIGKILL)
    wait_until(lambda: not function.is_running(), 10, "the killed function to be reaped")


def test_the_first_request_is_served_by_a_fork_of_the_template(stack):
    wait_for_the_template(stack)
    template = stack.template()

    cold = stack.get()
    function = stack.function()

    assert cold.status_code == 200
    assert cold.headers["X-Portico-Cold-Start"] == "true"
    assert function.ppid() == template.pid  # forked by the template, not spawned by the gateway
    assert function.pid not in {p.pid for p in stack.gateway_children()}
    # Titled with the command line a spawn would have had (the template's otherwise).
    assert function.cmdline()[1:5] == ["-m", "portico.cli", "serve", "cached"]
    assert function.cmdline() != template.cmdline()
    assert stack.get("/cached/y").headers.get("X-Portico-Cold-Start") is None
    # Its log lines go where a spawned function's go: the gateway's output.
    assert f"on 127.0.0.1:{stack.function_port}" in stack.gateway.text()


def test_a_killed_fork_is_started_again_by_the_next_request(stack):
    wait_for_the_template(stack)
    stack.get()
    first = stack.function()

    kill_function(first)
    again = stack.get("/cached/z")
    second = stack.function()

    assert again.status_code == 200
    assert again.headers["X-Portico-Cold-Start"] == "true"
    assert second.pid != first.pid and second.ppid() == stack.template().pid
    # The template reported the exit, with the signal, as a spawned process's would be.
    assert "cached exited (killed by SIGKILL); starting it again" in stack.gateway.text()


def test_an_idle_fork_is_stopped_and_reaped_and_the_next_request_forks_again(services):
    stack = start_stack(services, "--idle-seconds", "2")
    try:
        wait_for_the_template(stack)
        stack.get()
        first = stack.function()
        template_pid = first.ppid()
        # Stopped with SIGTERM (it drains), then reaped by the template: no zombie left.
        wait_until(lambda: not first.is_running(), 15, "the idle function to stop")
        idle_log = "cached idle for 2 s: scaling to zero" in stack.gateway.text()
        again = stack.get("/cached/z")
        second_parent = stack.function().ppid()
        metrics = stack.metrics()
    finally:
        stack.gateway.stop()

    assert idle_log
    assert again.headers["X-Portico-Cold-Start"] == "true"
    assert second_parent == template_pid  # the same template forked both
    assert 'portico_gateway_cold_starts_total{function="cached"} 2.0' in metrics


def test_a_dead_template_never_stops_a_function_from_starting(stack):
    wait_for_the_template(stack)
    stack.get()
    forked = stack.function()
    template = stack.template()

    template.send_signal(signal.SIGKILL)
    wait_until(lambda: TEMPLATE_EXITED in stack.gateway.text(), 10, "the gateway to notice")
    warm = stack.get("/cached/y")  # its fork lives on without it
    kill_function(forked)
    cold = stack.get("/cached/z")
    spawned = stack.function()
    metrics = stack.metrics()

    assert warm.status_code == 200 and "X-Portico-Cold-Start" not in warm.headers
    assert cold.status_code == 200 and cold.headers["X-Portico-Cold-Start"] == "true"
    assert spawned.ppid() == stack.gateway.pid  # a new process, as without the template
    assert spawned.cmdline()[-6:-4] == ["serve", "cached"]
    assert stack.gateway.text().count(TEMPLATE_EXITED) == 1  # one warning, not one per start
    assert "portico_gateway_warm_template_ready 0.0" in metrics


def test_a_new_template_replaces_a_dead_one(stack):
    wait_for_the_template(stack)
    stack.template().send_signal(signal.SIGKILL)
    wait_until(lambda: TEMPLATE_EXITED in stack.gateway.text(), 10, "the gateway to notice")
    time.sleep(RESTART_DELAY_SECONDS)

    spawned = stack.get()  # a new process, while a new template starts
    spawned_parent = stack.function().ppid()
    wait_for_the_template(stack)
    kill_function(stack.function())
    forked = stack.get("/cached/y")

    assert spawned.status_code == 200 and spawned_parent == stack.gateway.pid
    assert forked.status_code == 200 and forked.headers["X-Portico-Cold-Start"] == "true"
    assert stack.function().ppid() == stack.template().pid


def test_without_the_template_a_function_is_a_new_process(services):
    stack = start_stack(services, "--no-warm-template")
    try:
        cold = stack.get()
        parent = stack.function().ppid()
        children = [" ".join(p.cmdline()) for p in stack.gateway_children()]
    finally:
        stack.gateway.stop()

    assert cold.status_code == 200 and cold.headers["X-Portico-Cold-Start"] == "true"
    assert parent == stack.gateway.pid
    assert not any("portico.local.template" in command for command in children), children
