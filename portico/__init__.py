"""Portico: function-backed HTTP APIs. Handlers import what they need from here.

The tree is the architecture. The top-level modules are the vocabulary every part shares
(settings, the handler contract, problems, headers, logs, metrics, migrations and seeds) and
import no subpackage. The subpackages, each saying in its docstring what it may import:

- `manifest`: one function's manifest, loaded and checked;
- `policies`: the gateway's policies as data, rendered into Kong and applied by the dev gateway;
- `state`: transactions, stores, the queue publisher and the outbox (the authoritative change);
- `runtime`: the request path inside a function, from the Flask app to the gunicorn server;
- `queueing`: the queue path: workers, the relay and dead letters;
- `render`: the render path: Kong, OpenAPI, OpenFaaS and chart values from the manifests;
- `local`: what exists only for the laptop: embedded servers, the supervisor, `portico dev`;
- `console`: the dev console at `/_portico/`: live requests, traces, queues, dead letters;
- `gateway`: the dev gateway, which serves the console;
- `cli`: the `portico` command, argument parsing only.

`tests/unit/test_layering.py` holds the same table and fails on an import across it.
"""

from portico.contract import Caller, Context, Message, Request, Response
from portico.problems import (
    BadRequest,
    Conflict,
    NotFound,
    Problem,
    Unauthorized,
    Unprocessable,
)

__all__ = [
    "BadRequest",
    "Caller",
    "Conflict",
    "Context",
    "Message",
    "NotFound",
    "Problem",
    "Request",
    "Response",
    "Unauthorized",
    "Unprocessable",
]
