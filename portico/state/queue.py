"""The `queue` binding: what a handler's `ctx.<name>_queue.publish(...)` does.

The message is written to the outbox in the invocation's transaction (see portico.state.outbox), so
a rolled-back request never queues work and a committed one never loses its messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from portico.contract import Message
from portico.logs import request_id_var
from portico.state import outbox
from portico.state.jobs import envelope
from portico.state.transaction import Transaction


class Queue:
    def __init__(self, name: str, transaction: Transaction) -> None:
        self.name = name
        self._tx = transaction

    def publish(self, payload: Mapping[str, Any], *, message_id: str | None = None) -> str:
        """Queue a message once the invocation commits. Returns the message id."""
        message_id = message_id or uuid.uuid4().hex
        sent = envelope(Message(message_id, self.name, payload, request_id_var.get()))
        self._tx.defer(outbox.insert(self.name, sent))  # sent with the COMMIT
        self._tx.pending_messages.append((self.name, sent))
        self._tx.effects.published(self.name)
        return message_id
