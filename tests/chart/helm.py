"""The real Helm engine for the chart tests: the `helm` CLI when it is on PATH, otherwise Helm's
Go SDK through the helm-python-sdk package (the same template engine, no binary needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

CHART = ROOT / "charts" / "portico"
RELEASE = "portico"
ENGINE = "helm CLI" if shutil.which("helm") else "helm-python-sdk"


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]
    notes: str

    def of_kind(self, kind: str, api_group: str = "") -> list[dict[str, Any]]:
        return [
            o for o in self.objects if o["kind"] == kind and o["apiVersion"].startswith(api_group)
        ]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        [found] = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        return found


def render(
    values: dict[str, Any] | None = None, namespace: str = "portico", release: str = RELEASE
) -> Rendered:
    if shutil.which("helm"):
        return _render_with_cli(values or {}, namespace, release)
    import helm_python

    chart = helm_python.Chart.load(CHART)
    chart.validate_schema(values or {})
    manifests = chart.render(values or {}, name=release, namespace=namespace, is_install=True)
    notes = "".join(t for path, t in manifests.items() if path.endswith("NOTES.txt"))
    texts = [t for path, t in sorted(manifests.items()) if not path.endswith("NOTES.txt")]
    return Rendered(_objects(texts), notes)


def lint(values: dict[str, Any] | None = None) -> list[str]:
    """Lint errors (warnings and infos are not errors)."""
    if shutil.which("helm"):
        with _values_file(values or {}) as path:
            result = subprocess.run(
                ["helm", "lint", str(CHART), "-f", path], capture_output=True, text=True
            )
        return [line for line in result.stdout.splitlines() if "[ERROR]" in line]
    import helm_python

    report = helm_python.lint(CHART, values or {})
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 3] + list(
        report["errors"]
    )


def _render_with_cli(values: dict[str, Any], namespace: str, release: str) -> Rendered:
    with _values_file(values) as path:
        command = ["helm", "template", release, str(CHART), "-n", namespace, "-f", path]
        manifests = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        notes_command = [*command[:2], "--show-only", "templates/NOTES.txt", *command[2:]]
        notes = subprocess.run(notes_command, capture_output=True, text=True).stdout
    return Rendered(_objects([manifests]), notes)


@contextmanager
def _values_file(values: dict[str, Any]) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "values.json"
        path.write_text(json.dumps(values))
        yield str(path)


def _objects(texts: list[str]) -> list[dict[str, Any]]:
    return [doc for text in texts for doc in yaml.safe_load_all(text) if doc]
