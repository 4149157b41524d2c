"""`python -m bench`: run the scenarios, then write and print the results (see bench/README.md)."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench import report, scenarios
from bench.harness import FULL, QUICK, Bench
from bench.processes import ROOT

SCENARIOS = {function.__name__: function for function in scenarios.ALL}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure Portico side by side with bare Flask, functions-framework, the "
        "naive handler and a plain RQ worker, on one embedded Postgres and Redis.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="Short runs (a smoke test, under two minutes)."
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=report.RESULTS,
        help="Where latest.json, latest.md and latest.png go (default: bench/results), and "
        "previous.json: the last full run, which the tables compare with (from this directory, "
        "else from bench/results).",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        help="Run only this scenario (repeatable; memory reports what the others measured). "
        "Such a run is compared with the last full run but never becomes the previous one.",
    )
    return parser.parse_args()


def machine(bench: Bench) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") if Path("/proc/cpuinfo").exists() else open(os.devnull) as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    return {
        "cpu": names[0] if names else cpu,
        "cores": os.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **bench.versions,
    }


def commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT, capture_output=True)
    revision = result.stdout.strip() or "unknown"
    return revision + ("+changes" if dirty.returncode else "")


def main() -> int:
    args = parse_args()
    profile = QUICK if args.quick else FULL
    chosen = [SCENARIOS[name] for name in args.only] if args.only else scenarios.ALL
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="portico-bench-") as work_dir:
        bench = Bench(profile, Path(work_dir))
        try:
            bench.start()
            results = []
            for number, scenario in enumerate(chosen, 1):
                bench.say(f"[{number}/{len(chosen)}] {scenario.__name__.replace('_', ' ')}")
                bench.redis().flushdb()  # no queue backlog or counters left by the one before
                results.append(scenario(bench))
            run = {
                "profile": profile.name,
                "only": args.only or [],  # a partial run is never the previous full run
                "finished": datetime.datetime.now().isoformat(timespec="seconds"),
                "commit": commit(),
                "seconds": time.monotonic() - started,
                "machine": machine(bench),
                "settings": profile.__dict__,
            }
        finally:
            bench.close()
    table, paths = report.write(run, results, args.output_dir)
    print()
    print(table)
    print(
        "wrote "
        + ", ".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in paths)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
