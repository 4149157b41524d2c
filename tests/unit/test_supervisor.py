"""The pure parts of the supervised local platform: the restart backoff, how an exit is
described, how long each process may take to stop, and the prefixed output."""

from __future__ import annotations

import io
import re
import signal

import pytest

from portico.local.dev import function_grace_seconds, gateway_grace_seconds
from portico.local.supervisor import Printer, describe_exit, failures_in_a_row, restart_delay
from portico.manifest import load_all
from tests.conftest import FUNCTIONS_DIR


def test_restarts_back_off_from_half_a_second_doubling_to_sixteen():
    delays = [restart_delay(failures) for failures in range(1, 9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 16.0, 16.0]


def test_the_backoff_starts_over_once_a_process_has_stayed_up_for_thirty_seconds():
    assert failures_in_a_row(5, uptime_seconds=29.9) == 6
    assert failures_in_a_row(5, uptime_seconds=30.0) == 1
    assert failures_in_a_row(0, uptime_seconds=0.1) == 1


def test_a_crash_after_a_long_uptime_is_restarted_quickly_again():
    failures = 0
    delays = []
    for uptime in (0.2, 0.2, 0.2, 45.0, 0.2):
        failures = failures_in_a_row(failures, uptime_seconds=uptime)
        delays.append(restart_delay(failures))
    assert delays == [0.5, 1.0, 2.0, 0.5, 1.0]


@pytest.mark.parametrize(
    ("returncode", "described"),
    [
        (0, "code 0"),
        (3, "code 3"),
        (-signal.SIGKILL, "killed by SIGKILL"),
        (-signal.SIGTERM, "killed by SIGTERM"),
        (-signal.SIGSEGV, "killed by SIGSEGV"),
    ],
)
def test_an_exit_is_named_by_its_code_or_its_signal(returncode: int, described: str):
    assert describe_exit(returncode) == described


def manifest(name: str):
    [found] = [m for m in load_all(FUNCTIONS_DIR) if m.name == name]
    return found


def test_an_http_function_may_drain_then_finish_its_requests_before_it_is_killed():
    submit = manifest("submit-claim")  # timeout_seconds: 20
    assert function_grace_seconds(submit, drain_seconds=0) == 25
    assert function_grace_seconds(submit, drain_seconds=3) == 28


def test_a_worker_may_finish_its_job_and_does_not_drain():
    review = manifest("review-claim")  # timeout_seconds: 30
    assert function_grace_seconds(review, drain_seconds=3) == 35


def test_the_gateway_waits_for_its_slowest_function_to_drain():
    manifests = load_all(FUNCTIONS_DIR)  # the slowest HTTP function: submit-claim, 20 s
    assert gateway_grace_seconds(manifests, drain_seconds=0) == 30
    assert gateway_grace_seconds(manifests, drain_seconds=3) == 33
    assert gateway_grace_seconds([manifest("review-claim")], drain_seconds=0) == 5


def test_output_is_prefixed_with_time_and_a_padded_name_without_colour_off_a_terminal():
    stream = io.StringIO()
    printer = Printer(stream, ["review-claim", "relay"])
    printer.line("relay", "relaying\n")
    printer.say("relay exited (killed by SIGKILL); restarting in 0.5 s")
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d relay        \| relaying", first)
    assert second.endswith(" portico      | relay exited (killed by SIGKILL); restarting in 0.5 s")
    assert "\033[" not in stream.getvalue()
