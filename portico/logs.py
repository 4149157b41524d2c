"""JSON logs, one object per line, each carrying the function name, the current request id and
the current trace id (portico.tracing sets it)."""

from __future__ import annotations

import io
import logging
import logging.config
import os
import queue
import re
import sys
import threading
import time
from contextvars import ContextVar
from json.encoder import encode_basestring_ascii as json_string
from typing import Any, TextIO

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)


# What a correlation id a client or a gateway sends may look like: it is echoed in a response
# header and written to every log line, so it is short printable ASCII, nothing else.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def new_request_id() -> str:
    return os.urandom(16).hex()  # uuid4().hex's format, without making a UUID


def request_id_from(sent: str | None) -> str:
    """The request id a caller sent, when it is a sane one; a new one otherwise."""
    return sent if sent is not None and _REQUEST_ID.fullmatch(sent) else new_request_id()


class ContextFilter(logging.Filter):
    """Stamps every record with the function it comes from, the request (or job) it serves and
    that request's trace."""

    def __init__(self, function: str = "") -> None:
        super().__init__()
        self.function = function

    def filter(self, record: logging.LogRecord) -> bool:
        record.function = self.function
        record.request_id = request_id_var.get()
        record.trace_id = trace_id_var.get()
        return True


def logging_config(level: str = "INFO", function: str = "") -> dict[str, Any]:
    """A dictConfig for JSON logs on stderr; gunicorn takes the same dict for its own loggers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter, "function": function}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(function)s"
                " %(request_id)s %(trace_id)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": sys.stderr,
                "formatter": "json",
                "filters": ["context"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            "rq.worker": {"level": level},
        },
    }


_TRACE_ID = ', "trace_id": '


class RequestLog:
    """The one line per request, written without the logging machinery (record, filter,
    formatter, handler: most of a trivial request's logging cost) but exactly as
    `logging_config`'s JSON formatter writes it: same fields, order, time format and escaping,
    at INFO on `logger`, so it obeys PORTICO_LOG_LEVEL like every other line.

    With `background`, a request thread only queues its line and one writer thread writes
    what has queued up, in one system call: in a threaded server a write per request gives the
    GIL away mid-request and waits to get it back behind the other request threads (about a
    tenth of a trivial handler's throughput here). Lines are written within moments; `close()`
    writes what is left."""

    def __init__(
        self,
        logger: logging.Logger,
        function: str,
        stream: TextIO | None = None,
        *,
        background: bool = False,
    ):
        self._logger = logger
        self._stream = stream or sys.stderr
        try:  # straight to the file descriptor: one write, no buffer to flush
            self._fd: int | None = self._stream.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):  # a stream in memory
            self._fd = None
        self._level = f', "level": "INFO", "logger": {json_string(logger.name)}, "message": '
        self._function = f', "function": {json_string(function)}, "request_id": '
        self._stamp = (-1, "")  # (second, its formatted time): one strftime per second
        self._lock = threading.Lock()  # one line at a time, however long
        self._queue: queue.SimpleQueue[str | None] | None = None
        if background and self._fd is not None:
            self._queue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    def write(
        self,
        message: str,
        request_id: str | None,
        *,
        trace_id: str | None = None,
        effects: str | None = None,
    ) -> None:
        """`effects`: the JSON text of the line's `effects` field (portico.runtime.effects),
        where the formatter puts a record's extra fields: after the trace id."""
        if not self._logger.isEnabledFor(logging.INFO):
            return
        now = time.time()
        second = int(now)
        stamped, stamp = self._stamp
        if stamped != second:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._stamp = (second, stamp)
        rid = "null" if request_id is None else json_string(request_id)
        tid = "null" if trace_id is None else json_string(trace_id)
        extra = "" if effects is None else f', "effects": {effects}'
        line = (
            f'{{"time": "{stamp},{int((now - second) * 1000):03d}"{self._level}'
            f"{json_string(message)}{self._function}{rid}{_TRACE_ID}{tid}{extra}}}\n"
        )
        pending = self._queue
        if pending is not None:
            pending.put(line)
            if self._writer is None:
                self._start_writer()
            return
        with self._lock:
            if self._fd is None:
                self._stream.write(line)
                self._stream.flush()
                return
            self._write_out(line)

    def _write_out(self, text: str) -> None:
        assert self._fd is not None
        data = text.encode()
        while data:
            data = data[os.write(self._fd, data) :]

    def _start_writer(self) -> None:
        with self._lock:  # started on first use: never before a fork
            if self._writer is None and self._queue is not None:
                self._writer = threading.Thread(
                    target=self._drain, args=(self._queue,), name="request-log", daemon=True
                )
                self._writer.start()

    def _drain(self, pending: queue.SimpleQueue[str | None]) -> None:
        while True:
            lines = [pending.get()]
            while not pending.empty() and len(lines) < 512:
                lines.append(pending.get())
            done = None in lines
            text = "".join(line for line in lines if line is not None)
            if text:
                with self._lock:
                    self._write_out(text)
            if done:
                return

    def close(self) -> None:
        """Write what is queued; later lines are written directly."""
        writer, pending = self._writer, self._queue
        self._queue = None
        if pending is not None and writer is not None:
            pending.put(None)
            writer.join(timeout=5)


def configure_logging(level: str = "INFO", function: str = "") -> None:
    logging.config.dictConfig(logging_config(level, function))
