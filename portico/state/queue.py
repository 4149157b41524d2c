"""The `queue` binding: what a handler's `ctx.<name>_queue.publish(...)` does.

The message is written to the outbox in the invocation's transaction (see portico.state.outbox), so
a rolled-back request never queues work and a committed one never loses its messages. The
message carries the trace context of its `publish` span (portico.tracing), which the worker's
span continues.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

from portico import tracing
from portico.contract import Message
from portico.logs import request_id_var
from portico.state import outbox
from portico.state.jobs import envelope
from portico.state.transaction import Transaction

NO_SPAN = contextlib.nullcontext()


class Queue:
    def __init__(self, name: str, transaction: Transaction) -> None:
        self.name = name
        self._tx = transaction

    def publish(self, payload: Mapping[str, Any], *, message_id: str | None = None) -> str:
        """Queue a message once the invocation commits. Returns the message id."""
        message_id = message_id or uuid.uuid4().hex
        with tracing.span(*self._span(message_id)) if tracing.enabled() else NO_SPAN:
            context = tracing.carrier()  # this span's, so the worker's is its child
        sent = envelope(Message(message_id, self.name, payload, request_id_var.get(), context))
        self._tx.defer(outbox.insert(self.name, sent))  # sent with the COMMIT
        self._tx.pending_messages.append((self.name, sent))
        self._tx.effects.published(self.name)
        return message_id

    def _span(self, message_id: str) -> tuple[str, tracing.Kind, dict[str, str]]:
        attributes = {
            "messaging.system": "rq",
            "messaging.operation.type": "create",
            "messaging.destination.name": self.name,
            "messaging.message.id": message_id,
        }
        return f"publish {self.name}", "producer", attributes
