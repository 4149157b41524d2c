"""The results of one run: the targets verdict, latest.json, latest.md (tables) and latest.png,
each row beside the previous full run's figure (see bench/README.md, "The previous run")."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import ROOT
from bench.scenarios import Scenario

Row = dict[str, Any]
RESULTS = ROOT / "bench" / "results"
LATEST, PREVIOUS = "latest.json", "previous.json"
REGRESSION = 0.10  # a row's headline figure worse than the previous run's by more than this: bold
MISSING = "—"


# --- the previous full run ----------------------------------------------------------------------


@dataclass(frozen=True)
class Previous:
    """The full run today's figures are compared with: the last complete, non-quick run."""

    document: dict[str, Any]
    path: Path

    @property
    def finished(self) -> str:
        return str(self.document.get("finished", "?"))

    @property
    def commit(self) -> str:
        return str(self.document.get("commit", "?"))

    def rows(self, scenario_id: str) -> list[Row]:
        for scenario in self.document.get("scenarios", []):
            if isinstance(scenario, dict) and scenario.get("id") == scenario_id:
                return [r for r in scenario.get("rows", []) if isinstance(r, dict)]
        return []


def is_full(document: Any) -> bool:
    """A run fit to be compared with: the full profile, every scenario (no --only)."""
    return (
        isinstance(document, dict)
        and document.get("profile") == "full"
        and not document.get("only")
        and isinstance(document.get("scenarios"), list)
    )


def read(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def find_previous(directories: Iterable[Path]) -> Previous | None:
    """The last full run: in each directory in turn, latest.json if it is one, else previous.json
    (which always holds the full run latest.json was compared with, so a quick run in latest.json
    has not lost it)."""
    seen: set[Path] = set()
    for directory in directories:
        if directory.resolve() in seen:
            continue
        seen.add(directory.resolve())
        for name in (LATEST, PREVIOUS):
            document = read(directory / name)
            if is_full(document):
                assert document is not None
                return Previous(document, directory / name)
    return None


def rotate(previous: Previous | None, output_dir: Path) -> Path | None:
    """Before latest.json is overwritten: previous.json becomes the run the new latest.* compare
    with (returned when written). A quick or --only run never gets there: find_previous returns
    full runs only."""
    target = output_dir / PREVIOUS
    if previous is None or previous.path.resolve() == target.resolve():
        return None
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(previous.document, indent=2, default=str) + "\n")
    os.replace(temporary, target)
    return target


# --- each row against its previous figure -------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool


# Each table's headline figure: the one a row is compared on.
HEADLINES = {
    "runtime": Metric("throughput", "req/s", True),
    "claims": Metric("throughput", "req/s", True),
    "gateway": Metric("throughput", "req/s", True),
    "cold_start": Metric("median_ms", "median ms", False),
    "worker": Metric("throughput", "jobs/s", True),
    "outbox": Metric("p99_ms", "p99 ms", False),
    "memory": Metric("rss_mib", "RSS MiB", False),
}
# Open-model rows (labelled with their fixed rate, "... 502 req/s") serve the rate they are sent:
# their req/s says nothing, their latency is the figure (claims' p99 target, the gateway's p50).
FIXED_RATE = {
    "claims": Metric("p99_ms", "p99 ms", False),
    "gateway": Metric("p50_ms", "p50 ms", False),
}
AT_A_FIXED_RATE = re.compile(r"\d[\d,.]* req/s\b")


def headline(scenario: Scenario) -> Metric:
    if scenario.id in HEADLINES:
        return HEADLINES[scenario.id]
    key, label, _ = scenario.columns[0] if scenario.columns else ("value", "value", "")
    return Metric(key, label, not key.endswith(("_ms", "_mib")))


def metric_of(scenario: Scenario, row: Row) -> Metric:
    if scenario.id in FIXED_RATE and AT_A_FIXED_RATE.search(str(row.get("variant", ""))):
        return FIXED_RATE[scenario.id]
    return headline(scenario)


def shape(variant: str) -> str:
    """A label with its figures blanked: 'open model at 168 req/s' matches 'at 171 req/s'."""
    return re.sub(r"\d[\d,.]*", "#", variant)


def counterpart(rows: Sequence[Row], variant: str) -> Row | None:
    """The row of the same variant: the same label, else the only one of the same shape."""
    exact = [r for r in rows if r.get("variant") == variant]
    if exact:
        return exact[0]
    alike = [r for r in rows if shape(str(r.get("variant", ""))) == shape(variant)]
    return alike[0] if len(alike) == 1 else None


def number(row: Row | None, key: str) -> float | None:
    value = None if row is None else row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


@dataclass(frozen=True)
class Change:
    variant: str
    metric: Metric
    today: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.today is None or self.previous is None or self.previous == 0:
            return None
        return self.today / self.previous - 1

    @property
    def regression(self) -> bool:
        change = self.change
        if change is None:
            return False
        worse = -change if self.metric.higher_is_better else change
        return round(worse, 6) > REGRESSION  # 55 against 50 is +10%, not beyond 10%


def changes(scenario: Scenario, previous: Previous | None) -> list[Change]:
    before = previous.rows(scenario.id) if previous else []
    compared = []
    for row in scenario.rows:
        metric = metric_of(scenario, row)
        other = counterpart(before, row["variant"])
        compared.append(
            Change(row["variant"], metric, number(row, metric.key), number(other, metric.key))
        )
    return compared


def format_of(scenario: Scenario, key: str) -> str:
    return next((fmt for k, _, fmt in scenario.columns if k == key), "{:.1f}")


def previous_cell(scenario: Scenario, compared: Change) -> str:
    if compared.previous is None:
        return MISSING
    fmt = format_of(scenario, compared.metric.key).replace(":d}", ":.0f}")
    value = fmt.format(compared.previous)
    if compared.metric != headline(scenario):
        value += f" ({compared.metric.label})"
    return value


def change_cell(compared: Change) -> str:
    change = compared.change
    if change is None:
        return MISSING
    text = "±0%" if round(change * 100) == 0 else f"{change:+.0%}"
    return f"**{text}**" if compared.regression else text


# --- the targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool | None  # None: not measured (its row is missing from a scenario that ran)


def find(scenarios: Sequence[Scenario], scenario_id: str) -> Scenario | None:
    return next((s for s in scenarios if s.id == scenario_id), None)


def named(rows: Sequence[Row], *variants: str) -> Row | None:
    """The first of these labels that a row has."""
    for variant in variants:
        row = next((r for r in rows if r.get("variant") == variant), None)
        if row is not None:
            return row
    return None


def baseline_of(rows: Sequence[Row], *variants: str) -> Row | None:
    return named(rows, *variants) or next((r for r in rows if r.get("baseline")), None)


def at_zero(rows: Sequence[Row]) -> Row | None:
    """The first request to a function at zero through the gateway: the warm-template row when
    the scenario has one, else the plain (process start) row."""
    candidates = [
        r
        for r in rows
        if str(r.get("variant", "")).startswith("Portico")
        and "at zero" in str(r.get("variant", ""))
        and "first request" in str(r.get("variant", ""))
    ]
    warm = [r for r in candidates if "warm template" in str(r["variant"])]
    return next(iter(warm or candidates), None)


def ratio(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


# "No regression" targets: judged against the previous full run's figure, with a tolerance wide
# enough for this shared 2-core machine, where the same commit moves by 10-20% between runs (the
# README's claims figures went from 43% to 55% of naive). Sub-millisecond latencies move by
# fractions of a millisecond whatever the code does, so those get an absolute slack too. With no
# previous full run (or no figure in it), the absolute floor of issue 14 is the goal.
WORKER_SLACK = 0.10  # ratio points: 90% last time may read 80%
WORKER_FLOOR = 0.80
OUTBOX_GROWTH, OUTBOX_SLACK_MS, OUTBOX_FLOOR_MS = 0.25, 1.0, 5.0  # +25%, at least +1 ms
GATEWAY_SLACK_MS, GATEWAY_FLOOR_MS = 0.5, 1.5  # added p50 is a difference of two ~1 ms medians


def judged(
    name: str,
    goal: str,
    value: float | None,
    met: Callable[[float], bool],
    shown: str,
    missing: str,
) -> Target:
    """A target on one figure; `shown` formats it (`{}`), `missing` says which row was absent."""
    if value is None:
        return Target(name, goal, f"not measured (no {missing})", None)
    return Target(name, goal, shown.format(value), met(value))


def starts(rows: Sequence[Row], prefix: str) -> Row | None:
    return next((r for r in rows if str(r.get("variant", "")).startswith(prefix)), None)


def with_key(rows: Sequence[Row], key: str) -> Row | None:
    return next((r for r in rows if number(r, key) is not None), None)


def targets(scenarios: Sequence[Scenario], previous: Previous | None = None) -> list[Target]:
    """Issue 14's targets, judged on this run (each only when its scenario ran; a figure its
    scenario did not produce is "not measured"), the no-regression ones against `previous`."""
    checks: list[Target] = []
    add = checks.append
    since = f"the {previous.finished} full run" if previous else ""
    earlier = previous.rows if previous else (lambda _: [])

    if runtime := find(scenarios, "runtime"):
        bare = number(baseline_of(runtime.rows, "bare Flask on gunicorn"), "throughput")
        portico = number(named(runtime.rows, "Portico runtime"), "throughput")
        peer = number(named(runtime.rows, "functions-framework"), "throughput")
        add(judged(
            "Portico runtime throughput, trivial handler", ">= 90% of bare Flask on gunicorn",
            ratio(portico, bare), lambda r: r >= 0.90, "{:.0%}",
            "'Portico runtime' or bare Flask row",
        ))  # fmt: skip
        add(judged(
            "Portico runtime vs functions-framework", "ahead (more req/s)",
            ratio(portico, peer), lambda r: r > 1, "{:.0%} of it",
            "'Portico runtime' or 'functions-framework' row",
        ))  # fmt: skip

    if claims := find(scenarios, "claims"):
        naive = number(baseline_of(claims.rows, "naive handler, bare Flask"), "throughput")
        through = number(named(claims.rows, "Portico, through the gateway"), "throughput")
        add(judged(
            "POST /claims through the gateway, full guarantees", ">= 70% of naive",
            ratio(through, naive), lambda r: r >= 0.70, "{:.0%}",
            "'Portico, through the gateway' or naive row",
        ))  # fmt: skip
        add(judged(
            "POST /claims p99 at half the gateway's peak", "<= 50 ms",
            number(starts(claims.rows, "Portico, gateway, open model"), "p99_ms"),
            lambda ms: ms <= 50, "{:.1f} ms", "'Portico, gateway, open model at ...' row",
        ))  # fmt: skip

    if gateway := find(scenarios, "gateway"):
        before = number(with_key(earlier("gateway"), "added_p50_ms"), "added_p50_ms")
        if before is not None:
            bound = before + GATEWAY_SLACK_MS
            goal = f"<= {bound:.2f} ms (previous {before:+.2f} ms + {GATEWAY_SLACK_MS} ms, {since})"
        else:
            bound, goal = GATEWAY_FLOOR_MS, f"<= {GATEWAY_FLOOR_MS} ms (no previous full run)"
        add(judged(
            "Dev gateway added latency at p50: no regression", goal,
            number(with_key(gateway.rows, "added_p50_ms"), "added_p50_ms"),
            lambda ms: ms <= bound, "{:+.2f} ms", "row with an added p50",
        ))  # fmt: skip

    if cold := find(scenarios, "cold_start"):
        flask = number(
            baseline_of(cold.rows, "bare Flask on gunicorn: start to ready"), "median_ms"
        )
        readies = [
            (median, str(r["variant"]))
            for r in cold.rows
            if str(r["variant"]).startswith("Portico")
            and "start to ready" in str(r["variant"])
            and not r.get("container")  # the target is the process's; the image's is its own row
            and (median := number(r, "median_ms")) is not None
        ]
        slowest = max(readies, default=None)
        add(judged(
            "Function process ready after start (median, slowest function)",
            "<= 1.3x bare Flask's start to ready",
            ratio(slowest[0] if slowest else None, flask), lambda r: r <= 1.3,
            f"{{:.2f}}x ({slowest[0] if slowest else 0:.0f} ms vs {flask or 0:.0f} ms)",
            "Portico start-to-ready or bare Flask row",
        ))  # fmt: skip
        first = at_zero(cold.rows)
        first_ms = number(first, "median_ms")
        warm = first is not None and "warm template" in str(first["variant"])
        which = "warm template fork" if warm else "plain process start"
        add(judged(
            "First request to a function at zero through the gateway (median)",
            "<= 1.5x bare Flask's start to ready",
            ratio(first_ms, flask), lambda r: r <= 1.5,
            f"{{:.2f}}x ({first_ms or 0:.0f} ms, {which})",
            "Portico at-zero first-request or bare Flask row",
        ))  # fmt: skip

    if worker := find(scenarios, "worker"):

        def share(rows: Sequence[Row]) -> float | None:
            plain = number(baseline_of(rows, "plain RQ worker"), "throughput")
            return ratio(number(named(rows, "Portico worker"), "throughput"), plain)

        before = share(earlier("worker"))
        if before is not None:
            least = before - WORKER_SLACK
            goal = (
                f">= {least:.0%} (previous {before:.0%} - {WORKER_SLACK * 100:.0f} points, {since})"
            )
        else:
            least, goal = WORKER_FLOOR, f">= {WORKER_FLOOR:.0%} (no previous full run)"
        add(judged(
            "Idempotent worker jobs/s vs plain RQ: no regression", goal,
            share(worker.rows), lambda r: r >= least, "{:.0%}",
            "'Portico worker' or plain RQ row",
        ))  # fmt: skip

    if lag := find(scenarios, "outbox"):
        before = number(starts(earlier("outbox"), "fast path"), "p99_ms")
        if before is not None:
            most = max(before * (1 + OUTBOX_GROWTH), before + OUTBOX_SLACK_MS)
            goal = (
                f"<= {most:.1f} ms (previous {before:.1f} ms + {OUTBOX_GROWTH:.0%}, at least "
                f"+{OUTBOX_SLACK_MS:g} ms, {since})"
            )
        else:
            most, goal = OUTBOX_FLOOR_MS, f"<= {OUTBOX_FLOOR_MS:g} ms (no previous full run)"
        add(judged(
            "Outbox fast-path lag p99: no regression", goal,
            number(starts(lag.rows, "fast path"), "p99_ms"), lambda ms: ms <= most, "{:.1f} ms",
            "'fast path ...' row",
        ))  # fmt: skip

    if memory := find(scenarios, "memory"):
        functions = [r for r in memory.rows if str(r["variant"]).startswith(("Portico runtime",
                     "submit-claim"))]  # fmt: skip
        if functions:
            rss = max(r["rss_mib"] for r in functions)
            add(Target("Function process RSS (largest)", "<= 80 MiB", f"{rss:.1f} MiB", rss <= 80))
    return checks


# --- latest.md ----------------------------------------------------------------------------------


def cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if key == "ratio" and row.get("baseline"):
        return "baseline"
    return fmt.format(value)


def met(target: Target) -> str:
    return "not measured" if target.met is None else "yes" if target.met else "**no**"


def against(run: dict[str, Any], previous: Previous | None, searched: Sequence[Path]) -> str:
    """The header line naming the run the previous figures come from."""
    if previous is None:
        where = ", ".join(str(display(d)) for d in searched)
        return (f"Previous figures: none (no earlier full run in {where}), so the previous and "
                f"change columns show {MISSING}.")  # fmt: skip
    line = (
        f"Previous figures (the previous and change columns): the full run of "
        f"{previous.finished}, commit {previous.commit} ({display(previous.path)}). Change is "
        f"today's figure against it; **bold** where it is worse by more than {REGRESSION:.0%} "
        "(fewer req/s or jobs/s; more ms or MiB)."
    )
    if run.get("profile") != "full":
        line += (f" This is a {run.get('profile')} run: shorter measurements than that full run's, "
                 "so expect drift from that alone.")  # fmt: skip
    if run.get("only"):
        line += " Only some scenarios ran (--only), so this run will not become the previous one."
    then, now = previous.document.get("machine") or {}, run.get("machine") or {}
    if (then.get("cpu"), then.get("cores")) != (now.get("cpu"), now.get("cores")):
        line += (f" It ran on another machine ({then.get('cpu')}, {then.get('cores')} cores): "
                 "compare the ratios.")  # fmt: skip
    return line


def display(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def markdown(
    run: dict[str, Any],
    scenarios: Sequence[Scenario],
    verdict: list[Target],
    previous: Previous | None = None,
    searched: Sequence[Path] = (),
) -> str:
    machine = run["machine"]
    compared = {s.id: changes(s, previous) for s in scenarios}
    lines = [
        f"# Portico bench: {run['profile']} run",
        "",
        f"{run['finished']}, commit {run['commit']}, {run['seconds']:.0f} s. Machine: "
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']:.0f} GiB, "
        f"{machine['os']}; Python {machine['python']}, Postgres {machine['postgres']}, "
        f"Redis {machine['redis']}.",
        "",
        against(run, previous, searched),
    ]
    if previous:
        worse = [
            f"{s.title.split(':')[0]}, {c.variant}: {c.metric.label} {change_cell(c)}"
            for s in scenarios
            for c in compared[s.id]
            if c.regression
        ]
        lines += ["", f"Worse than the previous run by more than {REGRESSION:.0%}: "
                  + ("; ".join(worse) if worse else "nothing") + "."]  # fmt: skip
    lines += [
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {t.name} | {t.goal} | {t.measured} | {met(t)} |" for t in verdict]
    for scenario in scenarios:
        lines += ["", f"## {scenario.title}", "", scenario.about, ""]
        headers = [h for _, h, _ in scenario.columns]
        headers += [f"previous {headline(scenario).label}", "change"]
        lines.append("| variant | " + " | ".join(headers) + " |")
        lines.append("| --- " * (len(headers) + 1) + "|")
        for row, change in zip(scenario.rows, compared[scenario.id], strict=True):
            cells = [cell(row, key, fmt) for key, _, fmt in scenario.columns]
            cells += [previous_cell(scenario, change), change_cell(change)]
            lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
        lines += [f"- {note}" for note in scenario.notes]
    return "\n".join(lines) + "\n"


# --- latest.png ---------------------------------------------------------------------------------


def chart(
    scenarios: Sequence[Scenario], path: Path, title: str, previous: Previous | None = None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [s for s in scenarios if s.chart and s.rows]
    columns = 4
    rows = math.ceil(len(drawn) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4.6 * rows), squeeze=False)
    for axis, scenario in zip(axes.flat, drawn, strict=False):
        draw(axis, scenario, previous.rows(scenario.id) if previous else [])
    for axis in list(axes.flat)[len(drawn) :]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def draw(axis: Any, scenario: Scenario, before: Sequence[Row] = ()) -> None:
    rows = [r for r in scenario.rows if all(r.get(k) is not None for k in scenario.chart)]
    width = 0.8 / len(scenario.chart)
    marked = False
    for i, key in enumerate(scenario.chart):
        positions = [n + i * width for n in range(len(rows))]
        values = [r[key] for r in rows]
        bars = axis.bar(positions, values, width, label=key.replace("_", " "))
        label: Callable[[float], str] = (
            (lambda v: f"{v:.0%}") if key == "ratio" else (lambda v: f"{v:,.0f}")
        )
        axis.bar_label(bars, labels=[label(v) for v in values], fontsize=7)
        then = [
            (p, v)
            for p, r in zip(positions, rows, strict=True)
            if (v := number(counterpart(before, r["variant"]), key)) is not None
        ]
        if then:  # the previous full run's figure: a faint dash across the bar
            axis.scatter([p for p, _ in then], [v for _, v in then], marker="_", s=400 * width,
                         color="black", alpha=0.45, zorder=3,
                         label=None if marked else "previous run")  # fmt: skip
            marked = True
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
    if len(scenario.chart) > 1 or marked:
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


# --- writing it all -----------------------------------------------------------------------------


def write(
    run: dict[str, Any],
    scenarios: Sequence[Scenario],
    output_dir: Path,
    fallbacks: Sequence[Path] = (RESULTS,),
) -> tuple[str, list[Path]]:
    """Compare with the last full run (output_dir's, else the first of `fallbacks` that has one),
    keep it as previous.json, then write latest.json, latest.md and latest.png."""
    output_dir.mkdir(parents=True, exist_ok=True)
    searched = [output_dir, *fallbacks]
    previous = find_previous(searched)
    rotated = rotate(previous, output_dir)  # before latest.json, which it may be, is overwritten
    if previous and rotated:  # the new latest.json may be that run's file
        previous = Previous(previous.document, rotated)
    verdict = targets(scenarios, previous)
    compared = {s.id: changes(s, previous) for s in scenarios}
    document = {
        **run,
        "previous": None if previous is None else {
            "finished": previous.finished,
            "commit": previous.commit,
            "profile": previous.document.get("profile"),
            "file": str(display(previous.path)),
        },
        "targets": [dataclasses.asdict(t) for t in verdict],
        "changes": {
            scenario_id: [
                {"variant": c.variant, "metric": c.metric.key, "today": c.today,
                 "previous": c.previous, "change": c.change, "regression": c.regression}
                for c in rows
            ]
            for scenario_id, rows in compared.items()
        },
        "scenarios": [dataclasses.asdict(s) for s in scenarios],
    }  # fmt: skip
    table = markdown(run, scenarios, verdict, previous, searched)
    paths = [output_dir / "latest.json", output_dir / "latest.md", output_dir / "latest.png"]
    paths[0].write_text(json.dumps(document, indent=2, default=str) + "\n")
    paths[1].write_text(table)
    chart(scenarios, paths[2], f"Portico bench ({run['profile']} run, {run['finished']})", previous)
    return table, [*paths, *([rotated] if rotated else [])]
