"""tests.support itself: wait_until waits, returns what it waited for and fails saying what; a
Process is ready when it answers, fails at once when it ends, and stop() leaves nothing
running, a SIGTERM-ignoring process and its children included. (Small `python -c` children.)"""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import Process, ProcessExited, WaitTimeout, answers, wait_until

IGNORES_SIGTERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring SIGTERM', flush=True)\n"
    "time.sleep(60)\n"
)
HAS_A_CHILD = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- wait_until -------------------------------------------------------------------------------


def test_wait_until_returns_the_first_truthy_value_after_polling() -> None:
    calls: list[int] = []

    def third_time() -> str | None:
        calls.append(1)
        return "done" if len(calls) == 3 else None

    assert wait_until(third_time, 5, "the third call", interval=0.01) == "done"
    assert len(calls) == 3


def test_a_timeout_names_what_was_awaited_and_the_last_value_and_waits_the_whole_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as raised:
        wait_until(lambda: 0, 0.3, "the queue has a job", interval=0.05)
    took = time.monotonic() - started

    assert took >= 0.3
    assert isinstance(raised.value, AssertionError)  # pytest reports it as a failed assertion
    assert "waiting until the queue has a job" in str(raised.value)
    assert "returned 0" in str(raised.value)


def test_an_ignored_exception_is_retried_and_named_and_any_other_propagates_at_once() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nobody listens")

    with pytest.raises(WaitTimeout, match="nobody listens") as raised:
        wait_until(refused, 0.2, "it listens", interval=0.05, ignoring=OSError)
    assert "ConnectionRefusedError" in raised.value.summary

    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        wait_until(refused, 10, "it listens", ignoring=KeyError)
    assert time.monotonic() - started < 1


def test_details_are_added_to_the_failure_and_fail_false_returns_the_last_value() -> None:
    with pytest.raises(WaitTimeout) as raised:
        wait_until(lambda: [], 0.1, "a pod", interval=0.05, details=lambda: "pods: none")
    assert str(raised.value).endswith("\npods: none")
    assert raised.value.summary.startswith("timed out after 0.1 s waiting until a pod")

    assert wait_until(lambda: [], 0.1, "a pod", interval=0.05, fail=False) == []


def test_answers_is_not_yet_until_the_status_is_the_one_asked_for() -> None:
    check = answers(f"http://127.0.0.1:{free_port()}/readyz")
    with pytest.raises(httpx.ConnectError):
        check()
    with pytest.raises(WaitTimeout, match="ConnectError"):
        wait_until(check, 0.2, "it answers", interval=0.05, ignoring=httpx.HTTPError)


# --- Process ----------------------------------------------------------------------------------


def test_the_output_is_kept_and_the_exit_code_is_said() -> None:
    process = Process(python("print('hello'); raise SystemExit(3)"), name="greeter")
    assert process.wait(10) == 3
    wait_until(lambda: process.output == ["hello\n"], 5, "its line is read", interval=0.01)
    assert process.status() == "exited with code 3"
    assert process.report() == "greeter: exited with code 3; its output ends:\nhello\n"


def test_wait_ready_fails_at_once_with_the_exit_code_and_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "crasher.log"
    process = Process(python("print('no database'); raise SystemExit(2)"), name="crasher", log=log)
    started = time.monotonic()
    with pytest.raises(ProcessExited) as raised:
        process.wait_ready(lambda: False, timeout=30)

    assert time.monotonic() - started < 10  # not the whole timeout
    assert raised.value.summary == "crasher exited with code 2 before crasher is ready"
    assert "its output ends" in str(raised.value) and "no database" in str(raised.value)
    assert log.read_text() == "no database\n" and process.text() == "no database\n"


def test_wait_ready_returns_once_the_url_answers() -> None:
    port = free_port()
    server = (
        "import http.server, time\n"
        "time.sleep(0.3)\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}),"
        " http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    with Process(python(server), base_url=f"http://127.0.0.1:{port}", grace=5) as process:
        seconds = process.wait_ready(path="/", timeout=30)
        assert seconds >= 0.3
        assert httpx.get(f"{process.base_url}/").status_code == 200
    assert not process.running()


def test_wait_ready_times_out_naming_the_url_the_last_error_and_the_output() -> None:
    url = f"http://127.0.0.1:{free_port()}/readyz"
    with Process(python("print('starting', flush=True); import time; time.sleep(60)")) as process:
        with pytest.raises(WaitTimeout) as raised:
            process.wait_ready(url, timeout=0.5)
        assert f"answers 200 at {url}" in raised.value.summary
        assert "ConnectError" in raised.value.summary
        assert "running (pid" in str(raised.value) and "starting" in str(raised.value)


def test_stop_kills_a_process_that_ignores_sigterm_after_the_grace() -> None:
    process = Process(python(IGNORES_SIGTERM))
    wait_until(lambda: "ignoring SIGTERM" in process.text(), 10, "it ignores SIGTERM")
    started = time.monotonic()
    code = process.stop(grace=0.5)
    took = time.monotonic() - started

    assert code == -signal.SIGKILL and process.status() == "killed by SIGKILL"
    assert 0.5 <= took < 5


def test_stop_is_a_sigterm_for_a_process_that_heeds_it() -> None:
    process = Process(python("import time; time.sleep(60)"), grace=10)
    started = time.monotonic()
    assert process.stop() == -signal.SIGTERM
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_kill_and_stop_reach_the_whole_process_group(how: str) -> None:
    process = Process(python(HAS_A_CHILD))
    line = wait_until(lambda: process.output[:1], 10, "it names its child")
    child = int(line[0])
    assert [p.pid for p in process.tree()] == [process.pid, child]
    getattr(process, how)()
    wait_until(lambda: gone(child), 5, f"its child is gone after {how}()")
    assert not process.running()


def test_restart_runs_the_command_again_and_keeps_all_its_output() -> None:
    process = Process(python("import time; print('up', flush=True); time.sleep(60)"), grace=0)
    wait_until(lambda: process.output == ["up\n"], 10, "it is up")
    first = process.pid
    process.kill()
    assert process.status() == "killed by SIGKILL"
    process.restart()
    wait_until(lambda: process.output == ["up\n", "up\n"], 10, "it is up again")
    assert process.pid != first and process.running()
    process.stop()
    assert not process.running()


def test_terminate_signals_the_process_alone_and_returns_its_exit_code() -> None:
    handles = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = Process(python(handles))
    wait_until(lambda: process.output == ["ready\n"], 10, "it handles SIGTERM")
    assert process.terminate(timeout=10) == 0
