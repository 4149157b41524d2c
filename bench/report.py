"""The results of one run: the targets verdict, latest.json, latest.md (tables) and latest.png."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scenarios import Scenario


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool


def find(scenarios: Sequence[Scenario], scenario_id: str) -> Scenario | None:
    return next((s for s in scenarios if s.id == scenario_id), None)


def targets(scenarios: Sequence[Scenario]) -> list[Target]:
    """The issue's targets, judged on this run (each only when its scenario ran)."""
    checks: list[Target] = []
    add = checks.append
    if runtime := find(scenarios, "runtime"):
        portico, peer = runtime.row("Portico runtime"), runtime.row("functions-framework")
        add(
            Target(
                "Portico runtime throughput, trivial handler",
                ">= 85% of bare Flask",
                f"{portico['ratio']:.0%}",
                portico["ratio"] >= 0.85,
            )
        )
        add(
            Target(
                "Portico runtime vs functions-framework",
                "ahead",
                f"{portico['throughput'] / peer['throughput']:.0%} of it",
                portico["throughput"] > peer["throughput"],
            )
        )
    if claims := find(scenarios, "claims"):
        through = claims.rows[2]
        add(
            Target(
                "POST /claims through the gateway, full guarantees",
                ">= 60% of naive",
                f"{through['ratio']:.0%}",
                through["ratio"] >= 0.60,
            )
        )
        half = claims.rows[3]
        add(
            Target(
                "POST /claims p99 at half the gateway's peak",
                "<= 50 ms",
                f"{half['p99_ms']:.1f} ms",
                half["p99_ms"] <= 50,
            )
        )
    if gateway := find(scenarios, "gateway"):
        added = gateway.rows[3]["added_p50_ms"]
        add(
            Target(
                "Dev gateway added latency at p50", "<= 1.5 ms", f"{added:+.2f} ms", added <= 1.5
            )
        )
    if cold := find(scenarios, "cold_start"):
        ready = max(
            r["median_ms"]
            for r in cold.rows
            if r["variant"].startswith("Portico")
            and "start to ready" in r["variant"]
            and not r.get("container")  # the target is the process's; the image's is its own row
        )
        add(
            Target(
                "Function process ready after start (median, slowest function)",
                "<= 300 ms",
                f"{ready:.0f} ms",
                ready <= 300,
            )
        )
        first = cold.row("Portico hello at zero: first request through the gateway")["median_ms"]
        add(
            Target(
                "First request to a function at zero (median)",
                "<= 500 ms",
                f"{first:.0f} ms",
                first <= 500,
            )
        )
    if worker := find(scenarios, "worker"):
        ratio = worker.row("Portico worker")["ratio"]
        add(Target("Idempotent worker jobs/s", ">= 80% of plain RQ", f"{ratio:.0%}", ratio >= 0.80))
    if lag := find(scenarios, "outbox"):
        p99 = lag.rows[0]["p99_ms"]
        add(Target("Outbox fast-path lag p99", "<= 20 ms", f"{p99:.1f} ms", p99 <= 20))
    if memory := find(scenarios, "memory"):
        functions = [r for r in memory.rows if r["variant"].startswith(("Portico runtime",
                     "submit-claim"))]  # fmt: skip
        if functions:
            rss = max(r["rss_mib"] for r in functions)
            add(Target("Function process RSS (largest)", "<= 80 MiB", f"{rss:.1f} MiB", rss <= 80))
    return checks  # fmt: skip


def cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if key == "ratio" and row.get("baseline"):
        return "baseline"
    return fmt.format(value)


def markdown(run: dict[str, Any], scenarios: Sequence[Scenario], verdict: list[Target]) -> str:
    machine = run["machine"]
    lines = [
        f"# Portico bench: {run['profile']} run",
        "",
        f"{run['finished']}, commit {run['commit']}, {run['seconds']:.0f} s. Machine: "
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']:.0f} GiB, "
        f"{machine['os']}; Python {machine['python']}, Postgres {machine['postgres']}, "
        f"Redis {machine['redis']}.",
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {t.name} | {t.goal} | {t.measured} | {'yes' if t.met else '**no**'} |"
              for t in verdict]  # fmt: skip
    for scenario in scenarios:
        lines += ["", f"## {scenario.title}", "", scenario.about, ""]
        lines.append("| variant | " + " | ".join(h for _, h, _ in scenario.columns) + " |")
        lines.append("| --- " * (len(scenario.columns) + 1) + "|")
        for row in scenario.rows:
            cells = [cell(row, key, fmt) for key, _, fmt in scenario.columns]
            lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
        lines += [f"- {note}" for note in scenario.notes]
    return "\n".join(lines) + "\n"


def chart(scenarios: Sequence[Scenario], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [s for s in scenarios if s.chart and s.rows]
    columns = 4
    rows = math.ceil(len(drawn) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4.6 * rows), squeeze=False)
    for axis, scenario in zip(axes.flat, drawn, strict=False):
        draw(axis, scenario)
    for axis in list(axes.flat)[len(drawn) :]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def draw(axis: Any, scenario: Scenario) -> None:
    rows = [r for r in scenario.rows if all(r.get(k) is not None for k in scenario.chart)]
    width = 0.8 / len(scenario.chart)
    for i, key in enumerate(scenario.chart):
        positions = [n + i * width for n in range(len(rows))]
        values = [r[key] for r in rows]
        bars = axis.bar(positions, values, width, label=key.replace("_", " "))
        label: Callable[[float], str] = (
            (lambda v: f"{v:.0%}") if key == "ratio" else (lambda v: f"{v:,.0f}")
        )
        axis.bar_label(bars, labels=[label(v) for v in values], fontsize=7)
    axis.set_xticks([n + width * (len(scenario.chart) - 1) / 2 for n in range(len(rows))])
    crowded = len(rows) > 4
    axis.set_xticklabels(
        [wrap(r["variant"], 28 if crowded else 18) for r in rows],
        fontsize=6 if crowded else 7,
        rotation=35 if crowded else 0,
        ha="right" if crowded else "center",
    )
    axis.set_title(scenario.title.split(":")[0], fontsize=10)
    axis.set_ylabel(scenario.chart_label, fontsize=8)
    if scenario.id == "outbox":
        axis.set_yscale("log")
    if len(scenario.chart) > 1:
        axis.legend(fontsize=7)


def wrap(text: str, width: int = 18) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def write(
    run: dict[str, Any], scenarios: Sequence[Scenario], output_dir: Path
) -> tuple[str, list[Path]]:
    verdict = targets(scenarios)
    output_dir.mkdir(parents=True, exist_ok=True)
    document = {
        **run,
        "targets": [dataclasses.asdict(t) for t in verdict],
        "scenarios": [dataclasses.asdict(s) for s in scenarios],
    }
    table = markdown(run, scenarios, verdict)
    paths = [output_dir / "latest.json", output_dir / "latest.md", output_dir / "latest.png"]
    paths[0].write_text(json.dumps(document, indent=2, default=str) + "\n")
    paths[1].write_text(table)
    chart(scenarios, paths[2], f"Portico bench ({run['profile']} run, {run['finished']})")
    return table, paths
