"""The release the image tier runs: the chart rendered with the real Helm engine for one's own
Postgres and Redis (Secrets the tests create), the function image built by the tier."""

from __future__ import annotations

from typing import Any

from tests.chart.helm import Rendered, render
from tests.image.docker import IMAGE
from tests.image.pods import Workload, workloads

DB_SECRET, REDIS_SECRET = "image-tests-db", "image-tests-redis"
REPOSITORY, TAG = IMAGE.split(":")


def release_values(runtime: str) -> dict[str, Any]:
    """The chart's values for an install with one's own Postgres and Redis."""
    return {
        "image": {"repository": REPOSITORY, "tag": TAG, "pullPolicy": "Never"},
        "postgres": {"enabled": False},
        "externalDatabase": {"existingSecret": DB_SECRET},
        "redis": {"enabled": False},
        "externalRedis": {
            "existingSecret": REDIS_SECRET,
            "host": "redis.image-tests",
            "port": 6379,
        },
        "functions": {"runtime": runtime},
        "migrations": {"seed": True},
        "consumers": {"devConsumers": True},
    }


RELEASES: dict[str, Rendered] = {
    runtime: render(release_values(runtime)) for runtime in ("deployment", "knative")
}
WORKLOADS = {runtime: workloads(r, IMAGE) for runtime, r in RELEASES.items()}


def workload(runtime: str, label: str, container: str | None = None) -> Workload:
    [found] = [
        w for w in WORKLOADS[runtime]
        if w.label == label and (container is None or w.container["name"] == container)
    ]  # fmt: skip
    return found
