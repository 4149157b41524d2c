"""`python -m bench` end to end, shortened: one scenario and the memory report, real processes
on a fresh embedded Postgres and Redis, all three result files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_a_quick_run_writes_the_table_the_json_and_the_chart(tmp_path: Path) -> None:
    finished = subprocess.run(
        [
            sys.executable, "-m", "bench", "--quick", "--output-dir", str(tmp_path),
            "--only", "runtime_overhead", "--only", "memory",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "==> [1/2] runtime overhead" in finished.stdout  # progress
    document = json.loads((tmp_path / "latest.json").read_text())
    runtime = document["scenarios"][0]
    assert [row["variant"] for row in runtime["rows"]] == [
        "bare Flask on gunicorn",
        "Portico runtime",
        "functions-framework",
        "Portico runtime, request log off",
    ]
    for row in runtime["rows"]:
        assert row["throughput"] > 0 and row["errors"] == 0, row
        assert set(row["statuses"]) == {"200"}
    assert runtime["rows"][0]["ratio"] == 1.0
    memory = document["scenarios"][1]
    assert len(memory["rows"]) == 4 and all(r["rss_mib"] > 0 for r in memory["rows"])
    names = {t["name"] for t in document["targets"]}
    assert "Portico runtime throughput, trivial handler" in names
    table = (tmp_path / "latest.md").read_text()
    assert "| Portico runtime |" in table and table in finished.stdout
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")
