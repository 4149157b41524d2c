"""JSON logs, one object per line, each carrying the function name and the current request id."""

from __future__ import annotations

import logging
import logging.config
import re
import sys
import uuid
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


# What a correlation id a client or a gateway sends may look like: it is echoed in a response
# header and written to every log line, so it is short printable ASCII, nothing else.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(sent: str | None) -> str:
    """The request id a caller sent, when it is a sane one; a new one otherwise."""
    return sent if sent is not None and _REQUEST_ID.fullmatch(sent) else new_request_id()


class ContextFilter(logging.Filter):
    """Stamps every record with the function it comes from and the request (or job) it serves."""

    def __init__(self, function: str = "") -> None:
        super().__init__()
        self.function = function

    def filter(self, record: logging.LogRecord) -> bool:
        record.function = self.function
        record.request_id = request_id_var.get()
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
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(function)s %(request_id)s",
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


def configure_logging(level: str = "INFO", function: str = "") -> None:
    logging.config.dictConfig(logging_config(level, function))
