"""Loading a function's handler from its manifest and running it inside a unit of work."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from typing import Any

from portico.contract import Context, to_response
from portico.manifest import Manifest
from portico.runtime import idempotency
from portico.runtime.resources import Resources
from portico.state import outbox
from portico.state.queue import Queue
from portico.state.store import Store
from portico.state.transaction import Transaction

Handler = Callable[[Any, Context], Any]
log = logging.getLogger("portico.runtime.handler")


class HandlerError(Exception):
    """The manifest's handler cannot be imported or is not a function."""


def load_handler(manifest: Manifest) -> Handler:
    spec = manifest.function
    module_name = "portico_functions." + "_".join(
        spec.handler_file.relative_to(manifest.directory.parent).with_suffix("").parts
    )
    module = sys.modules.get(module_name)
    if module is None:
        # Sibling modules next to the handler import as plain top-level modules.
        sys.path.insert(0, str(spec.handler_file.parent))
        file_spec = importlib.util.spec_from_file_location(module_name, spec.handler_file)
        if file_spec is None or file_spec.loader is None:
            raise HandlerError(
                f"{manifest.path}: function.handler: cannot import {spec.handler_file}"
            )
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[module_name] = module
        try:
            file_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise HandlerError(
                f"{manifest.path}: function.handler: importing {spec.handler_file} failed: {exc!r}"
            ) from exc
    handler = getattr(module, spec.handler_attr, None)
    if not callable(handler):
        raise HandlerError(
            f"{manifest.path}: function.handler: {spec.handler_file.name} has no function "
            f"{spec.handler_attr!r}"
        )
    return handler  # type: ignore[no-any-return]


class Invoker:
    """Runs one invocation: bind resources, call the handler, commit, then publish."""

    def __init__(self, manifest: Manifest, resources: Resources) -> None:
        self.manifest = manifest
        self.resources = resources
        self.handler = load_handler(manifest)

    def begin(self, deadline: float) -> Transaction:
        return Transaction(self.resources.pool, deadline, self.resources.pool_wait_seconds)

    def run(
        self,
        tx: Transaction,
        event: Any,
        request_id: str,
        idempotent: idempotency.IdempotentRequest | None = None,
    ) -> Any:
        ctx = Context(self.manifest.name, request_id, tx.deadline, self._bindings(tx))
        try:
            if idempotent is not None:
                stored = idempotency.lookup(tx, idempotent)
                if stored is not None:
                    tx.rollback()  # nothing to do but let go of the key's lock
                    return stored
            result = self.handler(event, ctx)
            if idempotent is not None:
                result = to_response(result)
                tx.defer(idempotency.record(idempotent, result))
            tx.commit()
        except BaseException:
            tx.rollback()
            raise
        else:
            self._deliver(tx)
        finally:
            tx.release()
        return result

    def _bindings(self, tx: Transaction) -> dict[str, Store | Queue]:
        return {
            r.binding: Store(r.name, tx) if r.kind == "store" else Queue(r.name, tx)
            for r in self.manifest.resources
        }

    def _deliver(self, tx: Transaction) -> None:
        """The outbox fast path: push the committed messages now, marked delivered, so the relay
        only deletes their rows. If anything fails here the rows stay unmarked, and the relay
        delivers them."""
        if not tx.pending_messages:
            return
        try:
            outbox.push_committed(
                self.resources.redis, tx.pending_messages, self.resources.consumers
            )
        except Exception as exc:
            ids = [str(message["id"]) for _, message in tx.pending_messages]
            log.warning("messages %s left in the outbox for the relay: %s", ids, exc)
