"""API consumers known to the gateway. Locally: the dev consumers of DESIGN.md's contract.

In the cluster consumers and keys come from a Secret; these dev keys must never be used there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Consumer:
    username: str
    id: str
    api_key: str


def dev_consumer(username: str) -> Consumer:
    consumer_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"portico:dev-consumer:{username}"))
    return Consumer(username=username, id=consumer_id, api_key=f"{username}-dev-key")


DEV_CONSUMERS = (dev_consumer("alice"), dev_consumer("bob"))


def by_api_key(consumers: tuple[Consumer, ...]) -> dict[str, Consumer]:
    return {c.api_key: c for c in consumers}
