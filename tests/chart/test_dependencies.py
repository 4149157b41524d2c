"""Each dependency's base URL reaches its function's pods as the variable the manifest names, and
every function and worker gets the egress guard's mode (PORTICO_EGRESS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from portico.manifest import load_all
from portico.manifest.limits import GATEWAY_MARGIN_SECONDS
from portico.render.values import function_values
from tests.chart.helm import Rendered, render
from tests.chart.renders import DEFAULTS, pod_templates

KUBERNETES_VERSION = "1.32.0"
HANDLERS = "def handle(request, ctx):\n    return {}\n\n\ndef work(message, ctx):\n    pass\n"
MANIFESTS = {
    "pay": "api: {route: POST /pay}\nfunction: {handler: src/app.handle}\n"
    "dependencies:\n"
    "  payments: {url_env: PAY_URL, url: 'http://pay.example:8080'}\n"
    "  fraud: {url_env: FRAUD_URL}\n"
    "lint: {allow: {PB101: two calls on purpose}}\n",
    "mail": "trigger: {queue: mails}\nfunction: {handler: src/app.work}\n"
    "dependencies:\n  relay: {url_env: MAIL_RELAY_URL}\n",
}


@pytest.fixture(scope="module")
def functions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The generated values of two functions with dependencies, as `portico render values`
    writes them."""
    directory: Path = tmp_path_factory.mktemp("functions")
    (directory / "src").mkdir()
    (directory / "src" / "app.py").write_text(HANDLERS)
    for name, text in MANIFESTS.items():
        (directory / f"{name}.yaml").write_text(text)
    return {m.name: function_values(m, GATEWAY_MARGIN_SECONDS) for m in load_all(directory)}


def with_functions(generated: dict[str, Any], **values: Any) -> Rendered:
    return render({"generated": {"functions": generated}, **values})


def env_of(rendered: Rendered, name: str) -> dict[str, str | None]:
    [spec] = [
        spec for label, spec, _ in pod_templates(rendered) if label.endswith(f"/portico-{name}")
    ]
    [container] = spec["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}


@pytest.mark.parametrize("runtime", ["knative", "deployment"])
def test_a_dependency_gets_its_chart_value_or_else_the_manifests_url(
    functions: dict[str, Any], runtime: str
) -> None:
    runtime_values = {"functions": {"runtime": runtime}}
    default = env_of(with_functions(functions, **runtime_values), "pay")
    assert default["PAY_URL"] == "http://pay.example:8080"
    assert "FRAUD_URL" not in default
    chosen = {"PAY_URL": "https://payments.internal:8443", "FRAUD_URL": "http://fraud:80"}
    rendered = with_functions(functions, dependencies=chosen, **runtime_values)
    env = env_of(rendered, "pay")
    assert (env["PAY_URL"], env["FRAUD_URL"]) == (
        "https://payments.internal:8443",
        "http://fraud:80",
    )
    assert "PAY_URL" not in env_of(rendered, "mail")  # only the functions that declare it


def test_a_workers_dependency_reaches_its_pods(functions: dict[str, Any]) -> None:
    rendered = with_functions(functions, dependencies={"MAIL_RELAY_URL": "http://relay:25"})
    assert env_of(rendered, "mail")["MAIL_RELAY_URL"] == "http://relay:25"


def test_a_dependency_without_a_url_is_named_in_the_notes(functions: dict[str, Any]) -> None:
    notes = with_functions(functions).notes
    assert "pay's dependency fraud has no base URL" in notes
    assert "dependencies.FRAUD_URL" in notes and "dependencies.MAIL_RELAY_URL" in notes
    assert "PAY_URL" not in notes  # the manifest's url
    set_by_value = with_functions(functions, dependencies={"FRAUD_URL": "http://fraud:80"}).notes
    assert "FRAUD_URL" not in set_by_value and "MAIL_RELAY_URL" in set_by_value


def test_the_objects_with_dependencies_pass_strict_validation(functions: dict[str, Any]) -> None:
    rendered = with_functions(functions, functions={"runtime": "deployment"})
    for o in rendered.objects:
        if not o["apiVersion"].startswith(("serving.knative.dev", "keda.sh")):
            kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)


def test_the_dependency_values_are_checked_by_the_schema() -> None:
    import helm_python

    from tests.chart.helm import CHART

    chart = helm_python.Chart.load(CHART)
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema({"dependencies": {"PAY_URL": "payments.internal"}})
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema({"dependencies": {"pay-url": "http://payments.internal"}})


def test_every_function_and_worker_gets_the_egress_mode_warn_by_default() -> None:
    modes = {
        label: {
            e["name"]: e.get("value") for c in spec["containers"] for e in c.get("env", [])
        }.get("PORTICO_EGRESS")
        for label, spec, labels in pod_templates(DEFAULTS)
        if labels.get("portico.dev/role") in ("function", "worker")
    }
    assert modes and set(modes.values()) == {"warn"}, modes
    others = [
        label
        for label, spec, labels in pod_templates(DEFAULTS)
        if labels.get("portico.dev/role") not in ("function", "worker")
        and any(e["name"] == "PORTICO_EGRESS" for c in spec["containers"] for e in c.get("env", []))
    ]
    assert others == []


@pytest.mark.parametrize("mode", ["enforce", "off"])
def test_the_egress_mode_is_a_value(functions: dict[str, Any], mode: str) -> None:
    rendered = with_functions(functions, functions={"egress": mode})
    assert env_of(rendered, "pay")["PORTICO_EGRESS"] == mode
    assert env_of(rendered, "mail")["PORTICO_EGRESS"] == mode


def test_an_unknown_egress_mode_is_refused() -> None:
    import helm_python

    from tests.chart.helm import CHART

    with pytest.raises(helm_python.HelmValuesError, match="egress"):
        helm_python.Chart.load(CHART).validate_schema({"functions": {"egress": "block"}})


def egress_of(rendered: Rendered, suffix: str) -> list[dict[str, Any]]:
    [policy] = [
        o for o in rendered.of_kind("NetworkPolicy") if o["metadata"]["name"].endswith(suffix)
    ]
    return list(policy["spec"]["egress"])


def test_the_dependencies_addresses_are_a_network_policy_value(functions: dict[str, Any]) -> None:
    rule = {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 443}]}
    closed = with_functions(functions)
    opened = with_functions(functions, networkPolicy={"dependencyEgress": [rule]})
    for suffix in ("-functions", "-workers"):
        assert rule not in egress_of(closed, suffix)
        assert egress_of(opened, suffix) == [*egress_of(closed, suffix), rule]
    warning = "no NetworkPolicy lets these functions reach their declared dependencies"
    assert warning in closed.notes and warning not in opened.notes
    [named] = [line for line in closed.notes.splitlines() if "mail" in line and "pay" in line]
    assert "submit-claim" not in named
