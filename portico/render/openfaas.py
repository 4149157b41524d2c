"""The OpenFaaS stack file (faas-cli's stack.yml), a pure function of the manifests.

Every HTTP function is one OpenFaaS function running the one Portico image with
PORTICO_FUNCTION naming it. Queue workers are not OpenFaaS functions: nothing invokes them over
HTTP, they consume their queue (`portico worker`), so they are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from portico.manifest import Manifest
from portico.render.kong import dump_yaml, http_functions

DEFAULT_IMAGE = "portico-functions:latest"
GATEWAY = "http://127.0.0.1:8080"
# OpenFaaS CE cannot scale a function to zero (scale to zero is OpenFaaS Pro).
CE_MIN_REPLICAS = 1
# faas-netes probes liveness and readiness on one path (default /_/health). A failing liveness
# probe restarts the pod, so it must be /healthz: /readyz fails while the database is down.
HEALTH_PATH = "/healthz"

HEADER = "# rendered by `portico render openfaas` from functions/*.yaml; do not edit\n"
CE_SCALE_NOTE = (
    "# com.openfaas.scale.min is at least 1 even for scale.min: 0, as OpenFaaS CE cannot scale\n"
    "# to zero.\n"
)


def render(manifests: Iterable[Manifest], *, image: str = DEFAULT_IMAGE) -> dict[str, Any]:
    return {
        "version": "1.0",
        "provider": {"name": "openfaas", "gateway": GATEWAY},
        "functions": {m.name: function(m, image) for m, _ in http_functions(manifests)},
    }


def function(manifest: Manifest, image: str) -> dict[str, Any]:
    scale = manifest.function.scale
    return {
        "image": image,
        "environment": {"PORTICO_FUNCTION": manifest.name},
        "limits": {"memory": manifest.function.memory},
        "labels": {
            "com.openfaas.scale.min": str(max(scale.min, CE_MIN_REPLICAS)),
            "com.openfaas.scale.max": str(scale.max),
        },
        "annotations": {"com.openfaas.health.http.path": HEALTH_PATH},
    }


def document(manifests: Sequence[Manifest], *, image: str = DEFAULT_IMAGE) -> str:
    """The file: the header, the notes on scaling and on the workers left out, the stack."""
    notes = HEADER + CE_SCALE_NOTE + workers_note(manifests)
    return notes + dump_yaml(render(manifests, image=image))


def workers_note(manifests: Sequence[Manifest]) -> str:
    workers = sorted(m.name for m in manifests if m.api is None)
    if not workers:
        return ""
    return f"# Left out, as queue workers are not OpenFaaS functions: {', '.join(workers)}\n"
