"""Checks between manifests: names, routes and queues that two functions cannot share."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import TypeVar

from portico.manifest.errors import ManifestError
from portico.manifest.lines import FieldPath, dotted
from portico.manifest.model import Manifest
from portico.manifest.routes import Route, overlap
from portico.manifest.wording import display

_T = TypeVar("_T")


def check_deployment(manifests: list[Manifest]) -> list[ManifestError]:
    """Problems between manifests, each reported on the later of the two clashing ones."""
    errors: list[ManifestError] = []
    for manifest, first in _clashes((m.name, m) for m in manifests):
        where = _where(first, ("name",))
        message = f"the name {manifest.name!r} is already used by {where}"
        errors.append(_error_in(manifest, ("name",), message))
    for (manifest, route), (first, first_route) in _route_clashes(manifests):
        where = _where(first, ("api", "route"))
        message = (
            f"{route} can match the same requests as {first_route} "
            f"of function {first.name!r} ({where})"
        )
        errors.append(_error_in(manifest, ("api", "route"), message))
    queues = ((m.trigger.queue, (m, m.trigger.queue)) for m in manifests if m.trigger)
    for (manifest, queue), (first, _) in _clashes(queues):
        where = _where(first, ("trigger", "queue"))
        message = (
            f"queue {queue!r} is already consumed by worker {first.name!r} ({where}); "
            "a queue feeds one worker function"
        )
        errors.append(_error_in(manifest, ("trigger", "queue"), message))
    return errors


def _clashes(keyed: Iterable[tuple[Hashable, _T]]) -> Iterator[tuple[_T, _T]]:
    """(later item, first item) for every item whose key an earlier item already had."""
    first_by_key: dict[Hashable, _T] = {}
    for key, item in keyed:
        if key in first_by_key:
            yield item, first_by_key[key]
        else:
            first_by_key[key] = item


def _error_in(manifest: Manifest, at: FieldPath, message: str) -> ManifestError:
    return ManifestError(manifest.path, dotted(at), manifest._lines.line(at), message)


def _route_clashes(
    manifests: list[Manifest],
) -> Iterator[tuple[tuple[Manifest, Route], tuple[Manifest, Route]]]:
    """(later, first) for every route that can match a request an earlier route matches.

    The gateway serves a request with the first route that matches it, so any overlap, even
    /claims/latest against /claims/{id}, would make routing depend on the order of functions.
    """
    routes = [(m, m.api.route) for m in manifests if m.api]
    for index, (manifest, route) in enumerate(routes):
        first = next((earlier for earlier in routes[:index] if overlap(earlier[1], route)), None)
        if first is not None:
            yield (manifest, route), first


def _where(manifest: Manifest, at: FieldPath) -> str:
    line = manifest._lines.line(at)
    return display(manifest.path) + (f":{line}" if line is not None else "")
