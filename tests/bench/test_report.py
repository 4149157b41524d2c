"""bench/report.py without running anything: small fake scenarios for a previous and a today run,
written into a temporary results directory. The previous/change columns, the regression marks,
the rotation of the last full run into previous.json, and issue 14's targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.scenarios import LOAD_COLUMNS, Scenario

MACHINE = {
    "cpu": "Test CPU", "cores": 2, "memory_gib": 8.0, "os": "Linux", "python": "3.11",
    "postgres": "15", "redis": "6",
}  # fmt: skip
COLD_COLUMNS = [("median_ms", "median ms", "{:.0f}"), ("ratio", "vs bare Flask", "{:.2f}x")]
WARM = "Portico hello at zero, warm template fork: first request through the gateway"
PLAIN = "Portico hello at zero, plain process start: first request through the gateway"


@pytest.fixture(autouse=True)
def no_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "chart", lambda *args, **kwargs: None)  # matplotlib is slow


def run(finished: str, profile: str = "full", only: list[str] | None = None) -> dict[str, Any]:
    return {
        "profile": profile, "only": only or [], "finished": finished, "commit": f"c-{finished}",
        "seconds": 1.0, "machine": MACHINE, "settings": {},
    }  # fmt: skip


def load(variant: str, throughput: float, p50: float = 5.0, p99: float = 10.0, **extra: Any):
    return {"variant": variant, "throughput": throughput, "p50_ms": p50, "p99_ms": p99,
            "errors": 0, **extra}  # fmt: skip


def runtime(portico: float = 1000.0, bare: float = 2000.0, peer: float = 1500.0) -> Scenario:
    scenario = Scenario("runtime", "1. Runtime overhead", "", LOAD_COLUMNS)
    scenario.rows = [
        load("bare Flask on gunicorn", bare, baseline=True, ratio=1.0),
        load("Portico runtime", portico, ratio=portico / bare),
        load("functions-framework", peer, ratio=peer / bare),
    ]
    return scenario


def claims(rate: int = 168, p99: float = 40.0, through: float = 400.0) -> Scenario:
    scenario = Scenario("claims", "2. The claims write path", "", LOAD_COLUMNS)
    scenario.rows = [
        load("naive handler, bare Flask", 500.0, baseline=True, ratio=1.0),
        load("Portico function, direct", 300.0, ratio=0.6),
        load("Portico, through the gateway", through, ratio=through / 500),
        load(f"Portico, gateway, open model at {rate} req/s", float(rate), p99=p99),
    ]
    return scenario


def gateway(added: float = 0.8) -> Scenario:
    scenario = Scenario("gateway", "3. Dev gateway overhead", "", LOAD_COLUMNS)
    scenario.rows = [
        load("direct, peak", 1000.0, baseline=True, ratio=1.0),
        load("direct, 300 req/s", 300.0, p50=1.0),
        load("through the gateway, 300 req/s", 300.0, p50=1.0 + added, added_p50_ms=added),
    ]
    return scenario


def cold(portico: float = 180.0, at_zero: float = 220.0, *, variant: str = WARM) -> Scenario:
    scenario = Scenario("cold_start", "4. Cold start", "", COLD_COLUMNS)
    scenario.rows = [
        {"variant": "bare Flask on gunicorn: start to ready", "median_ms": 150.0,
         "baseline": True},
        {"variant": "Portico hello: start to ready", "median_ms": portico - 20},
        {"variant": "Portico submit-claim: start to ready", "median_ms": portico},
        {"variant": "Portico submit-claim container (200 MB image): docker run to ready",
         "median_ms": 900.0, "container": True},
        {"variant": variant, "median_ms": at_zero},
    ]  # fmt: skip
    return scenario


def worker(portico: float = 90.0) -> Scenario:
    scenario = Scenario("worker", "5. Worker throughput", "", [("throughput", "jobs/s", "{:,.0f}")])
    scenario.rows = [
        {"variant": "plain RQ worker", "throughput": 100.0, "baseline": True},
        {"variant": "Portico worker", "throughput": portico},
    ]
    return scenario


def outbox(p99: float = 2.5) -> Scenario:
    scenario = Scenario("outbox", "6. Outbox delivery lag", "", [("p99_ms", "p99 ms", "{:.1f}")])
    scenario.rows = [
        {"variant": "fast path (the function, right after commit)", "p50_ms": 1.0, "p99_ms": p99},
        {"variant": "relay path (2 s grace)", "p50_ms": 2100.0, "p99_ms": 2200.0},
    ]
    return scenario


def memory(rss: float = 50.0) -> Scenario:
    scenario = Scenario("memory", "7. Memory", "", [("rss_mib", "RSS MiB", "{:.1f}")])
    scenario.rows = [
        {"variant": "bare Flask on gunicorn (trivial handler)", "rss_mib": 30.0, "baseline": True},
        {"variant": "Portico runtime (trivial handler)", "rss_mib": rss},
    ]
    return scenario


def write(directory: Path, meta: dict[str, Any], scenarios: list[Scenario]) -> str:
    table, _ = report.write(meta, scenarios, directory, fallbacks=())
    return table


def line(table: str, variant: str) -> list[str]:
    """The cells of one table row, after the variant's."""
    row = next(r for r in table.splitlines() if r.startswith(f"| {variant} |"))
    return [c.strip() for c in row.strip("|").split("|")][1:]


def target(table_or_targets: list[report.Target], prefix: str) -> report.Target:
    return next(t for t in table_or_targets if t.name.startswith(prefix))


# --- previous and change columns ----------------------------------------------------------------


def test_each_row_shows_the_previous_full_runs_headline_figure_and_the_change(
    tmp_path: Path,
) -> None:
    write(tmp_path, run("2026-11-25T08:00:00"), [runtime(portico=1000.0), memory(rss=50.0)])
    table = write(tmp_path, run("2026-12-01T09:00:00"), [runtime(portico=1040.0), memory(55.0)])

    assert "| previous req/s | change |" in table
    assert line(table, "Portico runtime")[-2:] == ["1,000", "+4%"]
    assert line(table, "bare Flask on gunicorn")[-2:] == ["2,000", "±0%"]
    assert "| previous RSS MiB | change |" in table
    # more MiB is worse, but +10% exactly is not beyond the threshold
    assert line(table, "Portico runtime (trivial handler)")[-2:] == ["50.0", "+10%"]
    assert "the full run of 2026-11-25T08:00:00, commit c-2026-11-25T08:00:00" in table
    document = json.loads((tmp_path / "latest.json").read_text())
    assert document["previous"]["finished"] == "2026-11-25T08:00:00"
    portico = next(c for c in document["changes"]["runtime"] if c["variant"] == "Portico runtime")
    assert portico["previous"] == 1000.0 and portico["change"] == pytest.approx(0.04)


def test_a_regression_is_bold_throughput_down_latency_and_memory_up(tmp_path: Path) -> None:
    write(
        tmp_path,
        run("2026-11-25T08:00:00"),
        [runtime(portico=1000.0, peer=1500.0), cold(portico=200.0), outbox(2.0), memory(50.0)],
    )
    table = write(
        tmp_path,
        run("2026-12-01T09:00:00"),
        [runtime(portico=800.0, peer=1800.0), cold(portico=160.0), outbox(3.0), memory(60.0)],
    )
    assert line(table, "Portico runtime")[-1] == "**-20%**"  # fewer req/s: worse
    assert line(table, "functions-framework")[-1] == "+20%"  # more req/s: better, not marked
    assert line(table, "Portico submit-claim: start to ready")[-2:] == ["200", "-20%"]  # faster
    assert line(table, "fast path (the function, right after commit)")[-1] == "**+50%**"
    assert line(table, "Portico runtime (trivial handler)")[-1] == "**+20%**"  # more MiB: worse
    summary = next(r for r in table.splitlines() if r.startswith("Worse than the previous run"))
    assert "Portico runtime: req/s **-20%**" in summary and "fast path" in summary
    assert "functions-framework" not in summary and "submit-claim" not in summary


def test_a_row_without_a_previous_counterpart_shows_a_dash(tmp_path: Path) -> None:
    write(tmp_path, run("2026-11-25T08:00:00"), [cold(at_zero=400.0, variant=PLAIN.replace(
        ", plain process start", ""))])  # fmt: skip
    table = write(tmp_path, run("2026-12-01T09:00:00"), [cold(at_zero=220.0, variant=WARM)])
    assert line(table, WARM)[-2:] == ["—", "—"]
    assert line(table, "Portico hello: start to ready")[-2:] == ["160", "±0%"]


def test_rows_labelled_with_their_rate_match_and_compare_on_latency(tmp_path: Path) -> None:
    write(tmp_path, run("2026-11-25T08:00:00"), [claims(rate=168, p99=40.0), gateway(0.8)])
    table = write(tmp_path, run("2026-12-01T09:00:00"), [claims(rate=171, p99=50.0), gateway(0.8)])
    assert line(table, "Portico, gateway, open model at 171 req/s")[-2:] == [
        "40.0 (p99 ms)",
        "**+25%**",
    ]
    assert line(table, "through the gateway, 300 req/s")[-2:] == ["1.8 (p50 ms)", "±0%"]


def test_with_no_previous_full_run_every_previous_cell_is_a_dash(tmp_path: Path) -> None:
    table = write(tmp_path, run("2026-12-01T09:00:00"), [runtime()])
    assert "Previous figures: none" in table
    assert line(table, "Portico runtime")[-2:] == ["—", "—"]
    assert not (tmp_path / "previous.json").exists()


# --- the rotation -------------------------------------------------------------------------------


def finished_of(path: Path) -> str:
    return str(json.loads(path.read_text())["finished"])


def test_a_quick_run_compares_with_the_last_full_run_and_never_becomes_previous(
    tmp_path: Path,
) -> None:
    latest, previous = tmp_path / "latest.json", tmp_path / "previous.json"
    write(tmp_path, run("F1"), [runtime(portico=1000.0)])
    assert not previous.exists()

    quick = write(tmp_path, run("Q1", profile="quick"), [runtime(portico=900.0)])
    assert "the full run of F1" in quick and "This is a quick run" in quick
    assert line(quick, "Portico runtime")[-2:] == ["1,000", "-10%"]
    assert finished_of(latest) == "Q1" and finished_of(previous) == "F1"  # F1 kept, not lost

    quick = write(tmp_path, run("Q2", profile="quick"), [runtime(portico=700.0)])
    assert "the full run of F1" in quick  # still the full run, not Q1
    assert finished_of(previous) == "F1"

    partial = write(tmp_path, run("P1", only=["runtime_overhead"]), [runtime(portico=950.0)])
    assert "the full run of F1" in partial and "(--only)" in partial
    assert finished_of(previous) == "F1"

    full = write(tmp_path, run("F2"), [runtime(portico=1100.0)])
    assert "the full run of F1" in full and "quick run" not in full
    assert line(full, "Portico runtime")[-2:] == ["1,000", "+10%"]
    assert finished_of(previous) == "F1"

    full = write(tmp_path, run("F3"), [runtime(portico=1210.0)])  # latest.json was F2: rotated
    assert "the full run of F2" in full and line(full, "Portico runtime")[-2] == "1,100"
    assert finished_of(previous) == "F2" and finished_of(latest) == "F3"


def test_an_empty_output_directory_compares_with_the_default_results(tmp_path: Path) -> None:
    committed, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    write(committed, run("F1"), [runtime(portico=1000.0)])
    table, paths = report.write(
        run("Q1", profile="quick"), [runtime(portico=1000.0)], elsewhere, fallbacks=[committed]
    )
    assert "the full run of F1" in table and "elsewhere/previous.json" in table
    assert finished_of(elsewhere / "previous.json") == "F1" and elsewhere / "previous.json" in paths
    assert finished_of(committed / "latest.json") == "F1"  # the committed run is left alone


def test_an_unreadable_latest_json_is_no_previous_run(tmp_path: Path) -> None:
    (tmp_path / "latest.json").write_text("{not json")
    table = write(tmp_path, run("F1"), [runtime()])
    assert "Previous figures: none" in table


def test_the_previous_run_is_found_in_the_committed_shape() -> None:
    """The committed bench/results/latest.json (the last full run) is a previous run."""
    previous = report.find_previous([report.RESULTS])
    assert previous is not None and previous.document["profile"] == "full"
    assert report.named(previous.rows("runtime"), "Portico runtime") is not None


# --- the targets --------------------------------------------------------------------------------


def all_scenarios(**figures: Any) -> list[Scenario]:
    return [
        runtime(portico=figures.get("portico", 1900.0), peer=1500.0),
        claims(through=figures.get("through", 400.0), p99=figures.get("p99", 40.0)),
        gateway(figures.get("added", 0.8)),
        cold(portico=figures.get("ready", 180.0), at_zero=figures.get("at_zero", 220.0)),
        worker(figures.get("worker", 90.0)),
        outbox(figures.get("outbox", 2.5)),
        memory(),
    ]


def test_the_targets_met() -> None:
    verdict = report.targets(all_scenarios())
    assert [t.name for t in verdict if not t.met] == []
    assert target(verdict, "Portico runtime throughput").goal == ">= 90% of bare Flask on gunicorn"
    assert target(verdict, "Portico runtime throughput").measured == "95%"
    assert target(verdict, "POST /claims through").measured == "80%"
    ready = target(verdict, "Function process ready")  # the container row is not the process's
    assert ready.measured == "1.20x (180 ms vs 150 ms)" and ready.goal.startswith("<= 1.3x")
    first = target(verdict, "First request to a function at zero")
    assert first.measured == "1.47x (220 ms, warm template fork)"
    # no previous run: the absolute floors
    assert target(verdict, "Idempotent worker").goal == ">= 80% (no previous full run)"
    assert target(verdict, "Outbox fast-path").goal == "<= 5 ms (no previous full run)"
    assert target(verdict, "Dev gateway added").goal == "<= 1.5 ms (no previous full run)"


def test_the_targets_not_met() -> None:
    verdict = report.targets(
        all_scenarios(portico=1700.0, through=340.0, ready=200.0, at_zero=240.0, worker=79.0,
                      outbox=5.5, added=1.6, p99=51.0)
    )  # fmt: skip
    assert [t.name for t in verdict if t.met is not False] == [
        "Portico runtime vs functions-framework",  # 1700 req/s is still ahead of 1500
        "Function process RSS (largest)",
    ]
    assert target(verdict, "Portico runtime throughput").measured == "85%"


def test_the_at_zero_target_takes_the_plain_row_when_there_is_no_warm_one() -> None:
    first = target(
        report.targets([cold(at_zero=240.0, variant=PLAIN)]), "First request to a function"
    )
    assert first.measured == "1.60x (240 ms, plain process start)" and first.met is False


def test_the_at_zero_target_prefers_the_warm_template_row() -> None:
    both = cold(at_zero=300.0, variant=PLAIN)
    both.rows.append({"variant": WARM, "median_ms": 210.0})  # after the plain row
    first = target(report.targets([both]), "First request to a function")
    assert first.measured == "1.40x (210 ms, warm template fork)" and first.met


def test_no_regression_targets_are_judged_against_the_previous_full_run(tmp_path: Path) -> None:
    write(tmp_path, run("F1"), all_scenarios(worker=90.0, outbox=2.0, added=0.5))
    previous = report.find_previous([tmp_path])
    within = report.targets(all_scenarios(worker=81.0, outbox=3.0, added=1.0), previous)
    assert target(within, "Idempotent worker").goal.startswith(">= 80% (previous 90% - 10 points")
    assert target(within, "Outbox fast-path").goal.startswith("<= 3.0 ms (previous 2.0 ms + 25%")
    assert target(within, "Dev gateway added").goal.startswith("<= 1.00 ms (previous +0.50 ms")
    assert all(target(within, n).met for n in ("Idempotent", "Outbox", "Dev gateway"))

    worse = report.targets(all_scenarios(worker=79.0, outbox=3.1, added=1.1), previous)
    assert not any(target(worse, n).met for n in ("Idempotent", "Outbox", "Dev gateway"))
    # under the absolute floors, but a regression on the last run all the same
    assert target(worse, "Outbox fast-path").measured == "3.1 ms"


def test_a_missing_row_is_not_measured_and_does_not_crash(tmp_path: Path) -> None:
    scenarios = all_scenarios()
    for scenario in scenarios:
        scenario.rows = [r for r in scenario.rows if r.get("baseline")]  # only the baselines
    verdict = report.targets(scenarios)
    unmeasured = [t.name for t in verdict if t.met is None]
    assert len(unmeasured) == 9 and all(t.measured.startswith("not measured") for t in verdict)
    table = write(tmp_path, run("F1"), scenarios)
    assert (
        "| Portico runtime throughput, trivial handler | >= 90% of bare Flask on gunicorn | "
        "not measured (no 'Portico runtime' or bare Flask row) | not measured |" in table
    )


def test_a_scenario_that_did_not_run_has_no_targets() -> None:
    assert {t.name for t in report.targets([runtime()])} == {
        "Portico runtime throughput, trivial handler",
        "Portico runtime vs functions-framework",
    }
