"""Which stand-ins `portico dev` runs: one process per distinct `stand_in` app the manifests
declare, its URL given to every function under each dependency's `url_env`; none for a
variable already set in `portico dev`'s own environment (the real system is used instead)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from portico.manifest import Manifest

# `PORTICO_STAND_IN_<NAME>_LATENCY_MS` / `..._FAILURE_RATE`: a stand-in's knobs at start.
KNOB_VARIABLES = {"latency-ms": "LATENCY_MS", "failure-rate": "FAILURE_RATE"}
STAND_IN_GRACE_SECONDS = 2.0  # it holds nothing worth draining


@dataclass
class PlannedStandIn:
    name: str  # the process name, e.g. "payments-stand-in"
    serve: str  # as the manifest says it: "providers/payments.app"
    app_file: Path
    attr: str
    port: int
    variables: list[str] = field(default_factory=list)  # the url_envs it answers for

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, environ: Mapping[str, str]) -> list[str]:
        command = [sys.executable, "-m", "portico.local.stand_in", str(self.app_file), self.attr]
        command += ["--port", str(self.port)]
        for option, suffix in KNOB_VARIABLES.items():
            value = environ.get(f"{self.knob_prefix}_{suffix}")
            if value:
                command += [f"--{option}", value]
        return command

    @property
    def knob_prefix(self) -> str:
        return "PORTICO_STAND_IN_" + re.sub(r"[^A-Z0-9]", "_", self.app_file.stem.upper())


@dataclass(frozen=True)
class ExternalDependency:
    """A dependency whose variable `portico dev` found set: no stand-in, the real system."""

    variable: str
    url: str
    functions: tuple[str, ...]


@dataclass(frozen=True)
class StandInPlan:
    stand_ins: list[PlannedStandIn]
    external: list[ExternalDependency]

    def environment(self) -> dict[str, str]:
        """What every function process gets: each stand-in's URL under its variables."""
        return {variable: s.url for s in self.stand_ins for variable in s.variables}


def plan_stand_ins(
    manifests: list[Manifest], environ: Mapping[str, str], ports: Iterator[int]
) -> StandInPlan:
    planned: dict[tuple[Path, str], PlannedStandIn] = {}
    external: dict[str, list[str]] = {}
    for m in manifests:
        for dependency in m.dependencies:
            if environ.get(dependency.url_env):
                external.setdefault(dependency.url_env, []).append(m.name)
                continue
            stand_in = dependency.stand_in
            if stand_in is None:
                continue
            key = (stand_in.app_file.resolve(), stand_in.attr)
            if key not in planned:
                taken = {s.name for s in planned.values()}
                name = _unique_name(f"{stand_in.app_file.stem}-stand-in", taken)
                planned[key] = PlannedStandIn(
                    name, stand_in.serve, stand_in.app_file, stand_in.attr, next(ports)
                )
            if dependency.url_env not in planned[key].variables:
                planned[key].variables.append(dependency.url_env)
    return StandInPlan(
        list(planned.values()),
        [ExternalDependency(v, environ[v], tuple(names)) for v, names in external.items()],
    )


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def banner_lines(plan: StandInPlan) -> list[str]:
    if not plan.stand_ins and not plan.external:
        return []
    lines = ["Stand-ins (in place of the systems the functions call):"]
    for s in plan.stand_ins:
        lines.append(f"  {s.name:32} {s.url}  ({s.serve}; PUT {s.url}/_settings)")
    for e in plan.external:
        lines.append(
            f"  {e.variable:32} {e.url}  (set in the environment: the real system, no stand-in)"
        )
    lines += [f"{variable}={url}" for variable, url in plan.environment().items()]
    return lines
