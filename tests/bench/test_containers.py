"""Scenario 4's container row (bench/containers.py) without a container: the docker CLI's output
read, the command the chart's pod becomes, the reasons it is skipped, the targets left alone."""

from __future__ import annotations

import pytest

from bench import containers, report
from bench.containers import Image
from bench.scenarios import Scenario

SHA = "sha256:b1182afc851411fa5333fa57fd936da2c39ea4031354d7917ff80b91cdf0ac21"


def test_inspect_output_is_read_as_mb_a_short_id_and_the_revision() -> None:
    image = containers.parse_inspect("portico-functions:dev", f"223630044\t{SHA}\t{'e' * 40}\n")
    assert image == Image("portico-functions:dev", 223.630044, "b1182afc8514", "e" * 12)


def test_an_image_without_the_revision_label_has_none() -> None:
    assert containers.parse_inspect("x", f"1000000\t{SHA}\t<no value>\n").revision == ""
    assert containers.parse_inspect("x", f"1000000\t{SHA}\t\n").size_mb == 1.0


def test_the_container_runs_as_the_charts_pod_with_no_secret_on_its_command_line() -> None:
    command = containers.run_command("img:tag", "portico-bench-1", ["DATABASE_URL", "PORT"])
    assert command[:2] == ["docker", "run"] and command[-1] == "img:tag"
    joined = " ".join(command)
    for flag in (
        "--read-only",
        "--user 10001:10001",
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        "--network host",
        "--name portico-bench-1",
        "-e DATABASE_URL -e PORT",
    ):
        assert flag in joined
    assert "=" not in joined  # values come from the CLI's environment


def test_no_engine_and_no_cli_are_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    reason = containers.missing_engine()
    assert reason is not None and reason.startswith(("no Docker engine answers", "no docker CLI"))
    monkeypatch.setenv("PATH", "")
    assert containers.missing_engine() == "no docker CLI on PATH"


def test_a_missing_image_is_built_and_a_failed_build_is_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[str] = []
    said: list[str] = []
    present: dict[str, Image] = {}
    monkeypatch.setattr(containers, "missing_engine", lambda: None)
    monkeypatch.setattr(containers, "inspect", present.get)

    def build(tag: str) -> str | None:
        built.append(tag)
        present[tag] = Image(tag, 200.0, "abc", "")
        return None

    monkeypatch.setattr(containers, "build", build)
    assert containers.ensure_image("a:tag", said.append) == Image("a:tag", 200.0, "abc", "")
    assert built == ["a:tag"] and "building it with docker/build.sh" in said[0]
    assert containers.ensure_image("a:tag", said.append) == present["a:tag"]  # no second build
    assert built == ["a:tag"]

    monkeypatch.setattr(containers, "build", lambda tag: f"building {tag} failed (exit 3)")
    assert containers.ensure_image("b:tag", said.append) == "building b:tag failed (exit 3)"
    monkeypatch.setattr(containers, "missing_engine", lambda: "no docker CLI on PATH")
    assert containers.ensure_image("a:tag", said.append) == "no docker CLI on PATH"


def test_the_process_target_ignores_the_container_row() -> None:
    cold = Scenario("cold_start", "4. Cold start", "", [])
    cold.rows = [
        {"variant": "bare Flask on gunicorn: start to ready", "median_ms": 150.0},
        {"variant": "Portico submit-claim: start to ready", "median_ms": 180.0},
        {"variant": "Portico submit-claim container: start to ready", "median_ms": 900.0,
         "container": True},
        {"variant": "Portico hello at zero: first request through the gateway",
         "median_ms": 400.0},
    ]  # fmt: skip
    ready = next(t for t in report.targets([cold]) if t.name.startswith("Function process ready"))
    assert ready.measured == "1.20x (180 ms vs 150 ms)" and ready.met  # 900 ms would fail it
