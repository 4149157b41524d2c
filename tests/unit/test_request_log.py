"""The request log line, written without the logging machinery, is the line the JSON
formatter would have written: same fields, order, time format and escaping."""

from __future__ import annotations

import io
import json
import logging
import os
import time

import pytest
from pythonjsonlogger.json import JsonFormatter

from portico.logs import ContextFilter, RequestLog, logging_config, request_id_var, trace_id_var

MESSAGES = [
    "GET /claims -> 200 in 1.2 ms",
    'POST /a"b\\c -> 201 in 0.0 ms',
    "GET /ü/☃ -> 404 in 3.0 ms",
]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def formatter_line(
    logger: logging.Logger,
    function: str,
    message: str,
    request_id: str,
    trace_id: str | None = TRACE_ID,
) -> str:
    """What logging_config's formatter and filter make of the same line."""
    options = dict(logging_config("INFO", function)["formatters"]["json"])
    assert options.pop("()") == "pythonjsonlogger.json.JsonFormatter"
    formatter = JsonFormatter(**options)
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), None)
    token = request_id_var.set(request_id)
    trace_token = trace_id_var.set(trace_id)
    try:
        ContextFilter(function).filter(record)
    finally:
        trace_id_var.reset(trace_token)
        request_id_var.reset(token)
    return formatter.format(record)


def written(
    logger: logging.Logger,
    function: str,
    message: str,
    request_id: str | None,
    trace_id: str | None = TRACE_ID,
) -> str:
    read, write = os.pipe()
    with os.fdopen(write, "w") as stream:
        RequestLog(logger, function, stream).write(message, request_id, trace_id=trace_id)
    with os.fdopen(read) as pipe:
        return pipe.read()


@pytest.mark.parametrize("message", MESSAGES)
def test_the_line_is_the_formatters_line(message):
    logger = logging.getLogger("portico.runtime.app")
    logger.setLevel(logging.INFO)
    ours = json.loads(written(logger, "submit-claim", message, "req-1"))
    theirs = json.loads(formatter_line(logger, "submit-claim", message, "req-1"))
    assert (
        list(ours)
        == list(theirs)
        == ["time", "level", "logger", "message", "function", "request_id", "trace_id"]
    )
    assert {k: v for k, v in ours.items() if k != "time"} == {
        k: v for k, v in theirs.items() if k != "time"
    }
    stamp = time.strptime(ours["time"].split(",")[0], "%Y-%m-%d %H:%M:%S")
    assert abs(time.mktime(stamp) - time.time()) < 5
    assert len(ours["time"].split(",")[1]) == 3


def test_the_escaping_is_the_formatters():
    logger = logging.getLogger("portico.runtime.app")
    logger.setLevel(logging.INFO)
    line = written(logger, "f", MESSAGES[2], 'a"b')
    assert line.endswith("\n") and line.count("\n") == 1
    assert '"message": "GET /\\u00fc/\\u2603 -> 404 in 3.0 ms"' in line
    assert f'"request_id": "a\\"b", "trace_id": "{TRACE_ID}"}}' in line


def test_no_request_id_is_null_and_a_quiet_level_writes_nothing():
    logger = logging.getLogger("portico.tests.request-log")
    logger.setLevel(logging.INFO)
    line = json.loads(written(logger, "f", "x", None, None))
    assert line["request_id"] is None and line["trace_id"] is None
    logger.setLevel(logging.WARNING)
    assert written(logger, "f", "x", "req") == ""


def test_a_stream_without_a_file_descriptor_gets_the_line_too():
    logger = logging.getLogger("portico.runtime.app")
    logger.setLevel(logging.INFO)
    stream = io.StringIO()
    RequestLog(logger, "f", stream).write("GET / -> 200 in 1.0 ms", "req-9")
    assert json.loads(stream.getvalue())["request_id"] == "req-9"


def test_in_the_background_every_line_is_written_whole_and_in_order_per_thread(tmp_path):
    import threading

    logger = logging.getLogger("portico.runtime.app")
    logger.setLevel(logging.INFO)
    path = tmp_path / "log"
    with path.open("w") as stream:
        log = RequestLog(logger, "f", stream, background=True)

        def serve(thread: int) -> None:
            for n in range(500):
                log.write(f"GET /{thread}/{n} -> 200 in 0.1 ms", f"r{thread}")

        threads = [threading.Thread(target=serve, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log.close()
        log.write("GET /after -> 200 in 0.1 ms", "late")  # after close: written directly
    lines = [json.loads(line) for line in path.read_text().splitlines()]

    assert len(lines) == 8 * 500 + 1
    for number in range(8):
        mine = [line["message"] for line in lines if line["request_id"] == f"r{number}"]
        assert mine == [f"GET /{number}/{n} -> 200 in 0.1 ms" for n in range(500)]
    assert lines[-1]["request_id"] == "late"
