"""Fault injection for the fault tests, kept out of Portico's own modules.

A fault test starts a process with this directory on PYTHONPATH, so Python imports this file
at start-up (as `sitecustomize`), and names the fault in PORTICO_FAULT:

- `relay-crash-after-push`: the relay exits right after pushing a batch to Redis, before it
  deletes the batch's outbox rows, as a crash at the worst moment would.
"""

from __future__ import annotations

import logging
import os
from typing import Any

FAULT = os.environ.get("PORTICO_FAULT", "")


def crash_before_delete() -> None:
    from portico.state import outbox

    def crash(*args: Any, **kwargs: Any) -> None:
        logging.getLogger("portico.faults").error("fault injection: exiting after push")
        os._exit(17)

    outbox.delete = crash  # relay_batch calls it after the push, inside its transaction


if FAULT == "relay-crash-after-push":
    crash_before_delete()
elif FAULT:
    raise SystemExit(f"PORTICO_FAULT={FAULT!r}: no such fault (see {__file__})")
