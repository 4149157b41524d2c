"""Loading a function's handler from its manifest and running it inside a unit of work."""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from portico import metrics, tracing
from portico.contract import Context, to_response
from portico.manifest import Manifest
from portico.manifest.wording import display
from portico.runtime import effects, egress, idempotency
from portico.runtime.effects import Effects
from portico.runtime.resources import Resources
from portico.settings import EgressMode
from portico.state import outbox
from portico.state.queue import Queue
from portico.state.store import Store
from portico.state.transaction import Transaction

if TYPE_CHECKING:  # httpx is imported only by a function that declares dependencies
    from portico.runtime.dependencies import DependencyClient

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

    def __init__(
        self,
        manifest: Manifest,
        resources: Resources,
        *,
        egress_mode: EgressMode = "enforce",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`environ`: where the dependencies' base URLs are read (the process's environment
        by default)."""
        self.manifest = manifest
        self.resources = resources
        self.handler = load_handler(manifest)
        self.dependencies: dict[str, DependencyClient] = {}
        if manifest.dependencies:
            from portico.runtime.dependencies import clients_for

            self.dependencies = clients_for(manifest.name, manifest.dependencies, environ)
        self.allowance = self._allowance(egress_mode)

    def _allowance(self, mode: EgressMode) -> egress.Allowance | None:
        if mode == "off":
            return None
        kinds = {r.kind for r in self.manifest.resources}
        endpoints = []
        if "store" in kinds:
            endpoints += egress.database_endpoints(self.resources.database_url)
        if "queue" in kinds:
            endpoints += filter(None, [egress.url_endpoint(self.resources.redis_url)])
        for client in self.dependencies.values():
            endpoints += filter(None, [egress.url_endpoint(client.base_url or "")])
        egress.install()
        return egress.Allowance(self.manifest.name, display(self.manifest.path), mode, endpoints)

    def begin(self, deadline: float) -> Transaction:
        return Transaction(
            self.resources.pool, deadline, self.resources.pool_wait_seconds, Effects()
        )

    def close(self) -> None:
        for client in self.dependencies.values():
            client.close()

    def run(
        self,
        tx: Transaction,
        event: Any,
        request_id: str,
        idempotent: idempotency.IdempotentRequest | None = None,
    ) -> Any:
        ledger = effects.of(tx)
        ctx = Context(
            self.manifest.name, request_id, tx.deadline, self._bindings(tx, event, request_id)
        )
        try:
            if idempotent is not None:
                stored = idempotency.lookup(tx, idempotent)
                if stored is not None:
                    tx.rollback()  # nothing to do but let go of the key's lock
                    return stored
            result = self._call(event, ctx, ledger)
            if idempotent is not None:
                result = to_response(result)
                tx.defer(idempotency.record(idempotent, result))
            tx.commit()
        except BaseException:
            tx.rollback()
            raise
        else:
            self._deliver(tx, ledger)
        finally:
            tx.release()
            self._count(ledger)
        return result

    def _call(self, event: Any, ctx: Context, ledger: Effects) -> Any:
        """The handler itself, timed, inside the egress guard's scope."""
        allowance = self.allowance
        previous = egress.enter(allowance, ledger) if allowance is not None else None
        started = time.perf_counter()
        try:
            with tracing.span("handler", attributes=self._handler_attributes()):
                result = self.handler(event, ctx)
        finally:
            ledger.handler_seconds = time.perf_counter() - started
            if allowance is not None:
                egress.leave(previous)
        if ledger.denied is not None:  # refused, and whatever caught it carried on
            raise ledger.denied
        return result

    def _handler_attributes(self) -> dict[str, str] | None:
        if not tracing.enabled():
            return None
        spec = self.manifest.function
        return {"code.function.name": f"{spec.handler_file.name}:{spec.handler_attr}"}

    def _count(self, ledger: Effects) -> None:
        if ledger.statements or ledger.messages:
            written = ledger.rows_written if ledger.committed else 0
            messages = ledger.messages if ledger.committed else {}
            metrics.EFFECTS.record(self.manifest.name, ledger.statements, written, messages)

    def _bindings(self, tx: Transaction, event: Any, request_id: str) -> dict[str, Any]:
        bound: dict[str, Any] = {
            r.binding: Store(r.name, tx) if r.kind == "store" else Queue(r.name, tx)
            for r in self.manifest.resources
        }
        if self.dependencies:
            trace = tracing.carrier()  # the trace context to pass on: the request's, or ours
            ledger = effects.of(tx)
            for binding, client in self.dependencies.items():
                bound[binding] = client.bind(tx.deadline, request_id, trace, ledger)
        return bound

    def _deliver(self, tx: Transaction, ledger: Effects) -> None:
        """The outbox fast path: push the committed messages now, marked delivered, so the relay
        only deletes their rows. If anything fails here the rows stay unmarked, and the relay
        delivers them."""
        if not tx.pending_messages:
            return
        started = time.perf_counter()
        try:
            with tracing.span("outbox push", "producer", _push_attributes(tx.pending_messages)):
                outbox.push_committed(
                    self.resources.redis, tx.pending_messages, self.resources.consumers
                )
        except Exception as exc:
            ids = [str(message["id"]) for _, message in tx.pending_messages]
            log.warning("messages %s left in the outbox for the relay: %s", ids, exc)
        finally:
            ledger.queue_seconds = time.perf_counter() - started


def _push_attributes(
    messages: Sequence[tuple[str, Mapping[str, Any]]],
) -> dict[str, str | int] | None:
    if not tracing.enabled():
        return None
    queues = sorted({queue for queue, _ in messages})
    return {
        "messaging.system": "rq",
        "messaging.batch.message_count": len(messages),
        "messaging.destination.name": ", ".join(queues),
    }
