"""The chart's tracing (`tracing.*`), beyond tests/chart/test_chart_tracing.py: exactly which
containers get which OTEL_* variables, the OpenTelemetry SDK and portico.tracing configured from
a rendered environment, the sampler as Kong and the processes each read it, Kong's config with
tracing as `portico render kong` plus the plugin (and through the init container's own command),
the Secret references, the collector's egress judged by the policy evaluator, the notes, and
wrong values refused by the real Helm engine with the field named."""

from __future__ import annotations

import os
from typing import Any

import kubernetes_validate
import pytest
import yaml
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from portico import tracing
from portico.render import kong
from tests.chart.helm import CHART, Rendered, render
from tests.chart.netpol import Endpoint, admits
from tests.chart.renders import pod_specs, pods, policies
from tests.chart.test_chart import (
    HTTP,
    KUBERNETES_VERSION,
    MANIFESTS,
    WORKERS,
    kong_config_in,
    kong_pod,
    run_init_container,
)
from tests.chart.test_chart_tracing import env_of
from tests.support.otlp import OtlpReceiver

ENDPOINT = "http://otel-collector.observability:4318"
NAMESPACE = "claims"
SECRET = "otlp-credentials"
COLLECTOR_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}},
        }
    ],
    "ports": [{"port": 4318, "protocol": "TCP"}],
}
COLLECTOR = Endpoint(
    "collector", "observability", {"app.kubernetes.io/name": "opentelemetry-collector"}
)


def traced(**tracing_values: Any) -> dict[str, Any]:
    return {"tracing": {"enabled": True, "otlpEndpoint": ENDPOINT, **tracing_values}}


FULL = traced(
    ratio=0.25,
    resourceAttributes={"deployment.environment.name": "staging", "team": "claims"},
    headersSecret={
        "name": SECRET,
        "key": "portico-headers",
        "kongHeaders": [
            {"header": "x-honeycomb-team", "key": "HONEYCOMB_API_KEY"},
            {"header": "x-honeycomb-dataset", "key": "HONEYCOMB_DATASET"},
        ],
    },
    kongExtract=["b3", "w3c"],
    kongInstrumentations="request,balancer",
    egress=[COLLECTOR_RULE],
)
RENDERS = {
    "knative": render(FULL, namespace=NAMESPACE),
    "deployment": render({**FULL, "functions": {"runtime": "deployment"}}, namespace=NAMESPACE),
}
KNATIVE = RENDERS["knative"]
OTEL_VARIABLES = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_HEADERS",
}


def containers_by_label(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Every container and init container, as kind/name container."""
    return {
        f"{label} {container['name']}": container
        for label, spec in pod_specs(rendered)
        for container in spec.get("initContainers", []) + spec["containers"]
    }


def expected_traced(runtime: str) -> set[str]:
    """The containers tracing promises its variables to: every HTTP function (as its runtime
    runs it), every worker, the relay."""
    kind = "Service" if runtime == "knative" else "Deployment"
    return (
        {f"{kind}/portico-{name} function" for name in HTTP}
        | {f"Deployment/portico-{name} worker" for name in WORKERS}
        | {"Deployment/portico-relay relay"}
    )


def plain_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def opentelemetry_plugin(rendered: Rendered) -> dict[str, Any]:
    plugins: list[dict[str, Any]] = kong_config_in(rendered)["plugins"]
    [plugin] = [p for p in plugins if p["name"] == "opentelemetry"]
    return plugin


# --- Which containers, which variables ---------------------------------------------------------


@pytest.mark.parametrize("runtime", RENDERS)
def test_exactly_the_functions_workers_and_relay_get_the_otel_variables(runtime):
    rendered = RENDERS[runtime]
    found = {
        label: container
        for label, container in containers_by_label(rendered).items()
        if any(name.startswith("OTEL_") for name in env_of(container))
    }
    # Not the migrations, Postgres, Redis, Kong (its own settings), its init container, tests.
    assert set(found) == expected_traced(runtime)
    for label, container in found.items():
        env = env_of(container)
        assert {name for name in env if name.startswith("OTEL_")} == OTEL_VARIABLES, label
        plain = plain_env(container)
        assert plain["OTEL_EXPORTER_OTLP_ENDPOINT"] == ENDPOINT, label
        assert plain["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio", label
        assert plain["OTEL_TRACES_SAMPLER_ARG"] == "0.25", label
        # key=value pairs by key; the namespace is the release's.
        assert plain["OTEL_RESOURCE_ATTRIBUTES"] == (
            f"deployment.environment.name=staging,k8s.namespace.name={NAMESPACE},team=claims"
        ), label
        # The processes name themselves (service.name): no variable says otherwise.
        assert "OTEL_SERVICE_NAME" not in env, label
        assert tracing.traces_endpoint(plain) == f"{ENDPOINT}/v1/traces", label
        assert env["OTEL_EXPORTER_OTLP_HEADERS"] == {
            "name": "OTEL_EXPORTER_OTLP_HEADERS",
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "portico-headers"}},
        }, label


@pytest.mark.parametrize("runtime", RENDERS)
def test_every_traced_object_passes_strict_schema_validation(runtime):
    for o in RENDERS[runtime].objects:
        if o["apiVersion"].startswith(("serving.knative.dev", "keda.sh")):
            continue
        kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)


def test_the_chart_renders_no_secret_of_the_collectors_credentials():
    """The headers Secret is the user's: the chart names it, renders none, and no rendered
    object carries a header value inline."""
    secrets = {s["metadata"]["name"] for s in KNATIVE.of_kind("Secret")}
    assert SECRET not in secrets
    for label, container in containers_by_label(KNATIVE).items():
        for variable in container.get("env", []):
            if variable["name"] in ("OTEL_EXPORTER_OTLP_HEADERS",) or variable["name"].startswith(
                "PORTICO_OTLP_HEADER_"
            ):
                assert set(variable) == {"name", "valueFrom"}, label
    config_map = KNATIVE.named("ConfigMap", "portico-kong")["data"]["kong.yaml"]
    assert "HONEYCOMB_API_KEY" not in config_map  # the Secret's key names stay in the pod spec


def test_without_a_headers_secret_nothing_asks_for_one():
    rendered = render(traced())
    for label, container in containers_by_label(rendered).items():
        names = set(env_of(container))
        assert "OTEL_EXPORTER_OTLP_HEADERS" not in names, label
        assert not {n for n in names if n.startswith("PORTICO_OTLP_HEADER_")}, label
    assert "headers" not in opentelemetry_plugin(rendered)["config"]
    assert "Kong sends none" not in rendered.notes


def test_tracing_values_without_enabled_render_nothing_of_tracing():
    rendered = render({"tracing": {**FULL["tracing"], "enabled": False}})
    for label, container in containers_by_label(rendered).items():
        names = set(env_of(container))
        assert not {n for n in names if n.startswith(("OTEL_", "KONG_TRACING", "PORTICO_OTLP"))}, (
            label
        )
    assert [p["name"] for p in kong_config_in(rendered)["plugins"]] == [
        p["name"] for p in kong.global_plugins()
    ]
    assert not admits(
        policies(rendered), pods(rendered)["Deployment/portico-relay"], COLLECTOR, 4318
    )
    assert "Tracing:" not in rendered.notes


# --- What the runtime makes of a rendered environment ------------------------------------------


@pytest.fixture
def rendered_environment(monkeypatch):
    """os.environ as a container of KNATIVE has it (its Secret's value given), for the SDK's own
    readers (sampler, resource attributes, headers), which read os.environ itself."""

    def apply(container: dict[str, Any], collector: str) -> dict[str, str]:
        for name in list(os.environ):
            if name.startswith("OTEL_"):
                monkeypatch.delenv(name)
        env = plain_env(container)
        env["OTEL_EXPORTER_OTLP_HEADERS"] = "x-honeycomb-team=abc123"  # what the Secret holds
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector  # the collector, in this process
        for name, value in env.items():
            if name.startswith("OTEL_"):
                monkeypatch.setenv(name, value)
        return env

    yield apply
    tracing.shutdown()


@pytest.mark.parametrize("label", sorted(expected_traced("knative")))
def test_portico_tracing_configured_from_the_rendered_env_samples_and_names_as_promised(
    label, rendered_environment
):
    container = containers_by_label(KNATIVE)[label]
    service = plain_env(container)["PORTICO_FUNCTION"]
    memory = InMemorySpanExporter()
    with OtlpReceiver() as collector:
        env = rendered_environment(container, collector.endpoint)
        assert tracing.configure(service, env, exporters=[memory])
        provider = tracing._provider
        assert provider is not None
        # OTEL_TRACES_SAMPLER and _ARG, as the SDK reads them.
        assert provider.sampler.get_description().startswith(
            "ParentBased{root:TraceIdRatioBased{0.25}"
        ), label
        # A request Kong sampled is traced; one it did not is not (parent-based).
        sampled = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        unsampled = "00-" + "c" * 32 + "-" + "d" * 16 + "-00"
        for traceparent in (sampled, unsampled):
            started = tracing.start("request", "server", {"traceparent": traceparent})
            started.end(status_code=200)
        tracing.flush()
        [span] = memory.get_finished_spans()
        assert format(span.context.trace_id, "032x") == "a" * 32
        resource = dict(span.resource.attributes)
        assert resource["service.name"] == service
        assert resource["service.namespace"] == "portico"
        assert resource["k8s.namespace.name"] == NAMESPACE
        assert resource["deployment.environment.name"] == "staging"
        assert resource["team"] == "claims"
        # And the OTLP exporter built from the variables (the headers' too) delivered it.
        received = collector.wait_for("a" * 32, bool, "the span at the collector")
        assert [s.service for s in received] == [service]


def test_the_sdk_reads_the_resource_attributes_as_the_template_writes_them(monkeypatch):
    """Every attribute the schema admits survives OTEL_RESOURCE_ATTRIBUTES' format."""
    odd = {"a.b-c_d": "x:y/z@v+1.2-3", "url.like": "https://example.com/path"}
    rendered = render(traced(resourceAttributes=odd))
    env = plain_env(
        rendered.named("Deployment", "portico-relay")["spec"]["template"]["spec"]["containers"][0]
    )
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", env["OTEL_RESOURCE_ATTRIBUTES"])
    attributes = dict(Resource.create({"service.name": "relay"}).attributes)
    assert {k: attributes[k] for k in odd} == odd
    assert attributes["k8s.namespace.name"] == "portico"


# --- One sampler, read by Kong and by the processes --------------------------------------------

# sampler -> (Kong's rate, whether the processes get OTEL_TRACES_SAMPLER_ARG, the SDK's sampler)
SAMPLERS = {
    "parentbased_traceidratio": ("0.25", True, "ParentBased{root:TraceIdRatioBased{0.25}"),
    "traceidratio": ("0.25", True, "TraceIdRatioBased{0.25}"),
    "parentbased_always_on": ("1", False, "ParentBased{root:AlwaysOnSampler"),
    "always_on": ("1", False, "AlwaysOnSampler"),
    "parentbased_always_off": ("0", False, "ParentBased{root:AlwaysOffSampler"),
    "always_off": ("0", False, "AlwaysOffSampler"),
}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_kong_and_the_processes_sample_alike(sampler, monkeypatch):
    from opentelemetry.sdk.trace.sampling import _get_from_env_or_default

    rate, with_argument, description = SAMPLERS[sampler]
    rendered = render(traced(sampler=sampler, ratio=0.25))
    kong_env = plain_env(kong_pod(rendered)["containers"][0])
    assert kong_env["KONG_TRACING_SAMPLING_RATE"] == rate
    sampling_rate = opentelemetry_plugin(rendered)["config"]["sampling_rate"]
    assert isinstance(sampling_rate, (int, float)) and sampling_rate == float(rate)
    relay = plain_env(
        rendered.named("Deployment", "portico-relay")["spec"]["template"]["spec"]["containers"][0]
    )
    assert ("OTEL_TRACES_SAMPLER_ARG" in relay) == with_argument
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        if name in relay:
            monkeypatch.setenv(name, relay[name])
    assert _get_from_env_or_default().get_description().startswith(description)
    assert f"(sampler {sampler}, ratio 0.25)" in rendered.notes


# --- Kong -----------------------------------------------------------------------------------------


def test_with_tracing_kongs_config_is_portico_render_kong_and_the_plugin_last():
    """The ConfigMap parses and re-writes the generated config to add the plugin: nothing of the
    rest may change on the way (numbers, Lua, regex paths)."""
    config = kong_config_in(KNATIVE)
    *others, plugin = config["plugins"]
    assert plugin["name"] == "opentelemetry"
    expected = kong.render(
        MANIFESTS,
        upstream_template=f"http://portico-{{name}}.{NAMESPACE}.svc.cluster.local",
        redis_host=f"portico-redis.{NAMESPACE}.svc.cluster.local",
        consumers=(),
    )
    assert {**config, "plugins": others} == expected


def test_the_plugin_is_what_kong_3_9s_schema_takes_with_these_values():
    config = opentelemetry_plugin(KNATIVE)["config"]
    assert config == {
        "traces_endpoint": f"{ENDPOINT}/v1/traces",
        "resource_attributes": {
            "deployment.environment.name": "staging",
            "team": "claims",
            "k8s.namespace.name": NAMESPACE,
            "service.name": "kong",
            "service.namespace": "portico",
        },
        "sampling_rate": 0.25,
        # extract in the given order (Kong takes the first format found); default_format is
        # required by Kong's propagation schema.
        "propagation": {"extract": ["b3", "w3c"], "inject": ["w3c"], "default_format": "w3c"},
        "headers": {
            "x-honeycomb-team": "{vault://env/portico-otlp-header-0}",
            "x-honeycomb-dataset": "{vault://env/portico-otlp-header-1}",
        },
    }
    # An empty extract is Kong's "start every trace here".
    none = opentelemetry_plugin(render(traced(kongExtract=[])))["config"]["propagation"]
    assert none == {"extract": [], "inject": ["w3c"], "default_format": "w3c"}


def kong_env_vault_variable(reference: str) -> str:
    """The variable Kong's env vault (kong/vaults/env) reads for {vault://env/<name>}: the name
    with - as _, upper-cased."""
    assert reference.startswith("{vault://env/") and reference.endswith("}")
    return reference.removeprefix("{vault://env/").removesuffix("}").replace("-", "_").upper()


def test_each_kong_header_reference_is_a_variable_of_the_kong_container_from_the_secret():
    env = env_of(kong_pod(KNATIVE)["containers"][0])
    assert env["KONG_TRACING_INSTRUMENTATIONS"]["value"] == "request,balancer"
    keys = {"x-honeycomb-team": "HONEYCOMB_API_KEY", "x-honeycomb-dataset": "HONEYCOMB_DATASET"}
    for header, reference in opentelemetry_plugin(KNATIVE)["config"]["headers"].items():
        variable = env[kong_env_vault_variable(reference)]
        assert variable["valueFrom"] == {"secretKeyRef": {"name": SECRET, "key": keys[header]}}
    # Kong resolves them itself: its init container needs none of them.
    [init] = kong_pod(KNATIVE)["initContainers"]
    assert not [e for e in init.get("env", []) if e["name"].startswith("PORTICO_OTLP_HEADER_")]


def test_the_init_container_keeps_the_plugin_and_its_vault_references(tmp_path):
    rendered = render({**FULL, "consumers": {"devConsumers": True}})
    joined = run_init_container(rendered, tmp_path, {"PORTICO_GATEWAY_SECRET": "s" * 48})
    [plugin] = [p for p in joined["plugins"] if p["name"] == "opentelemetry"]
    assert plugin == opentelemetry_plugin(rendered)
    assert plugin["config"]["headers"]["x-honeycomb-team"] == "{vault://env/portico-otlp-header-0}"


def test_a_new_collector_rolls_kong_through_its_config_checksum():
    def kong_template(values: dict[str, Any]) -> dict[str, Any]:
        template: dict[str, Any] = render(values).named("Deployment", "portico-kong")["spec"][
            "template"
        ]
        return template

    before = kong_template(traced())
    after = kong_template(traced(otlpEndpoint="https://otlp.example.com"))
    # Kong's env is the same; only the checksum of its ConfigMap tells the pods to roll.
    assert before["spec"] == after["spec"]
    assert (
        before["metadata"]["annotations"]["checksum/config"]
        != after["metadata"]["annotations"]["checksum/config"]
    )


def test_without_kong_the_functions_still_trace_and_the_notes_leave_kong_out():
    values = {**traced(headersSecret={"name": SECRET}), "kong": {"enabled": False}}
    rendered = render(values)
    assert rendered.of_kind("ConfigMap") == []
    traced_labels = {
        label
        for label, container in containers_by_label(rendered).items()
        if "OTEL_EXPORTER_OTLP_ENDPOINT" in env_of(container)
    }
    assert traced_labels == expected_traced("knative")
    assert "the functions, workers, relay send their spans to" in rendered.notes
    assert "Kong sends none" not in rendered.notes


# --- The collector's egress ------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RENDERS)
def test_the_collector_is_reachable_from_what_traces_and_nothing_else(runtime):
    rendered = RENDERS[runtime]
    found = policies(rendered)
    senders = {"function", "worker", "relay", "gateway"}
    roles = set()
    for label, pod in pods(rendered).items():
        role = pod.labels["portico.dev/role"]
        roles.add(role)
        assert admits(found, pod, COLLECTOR, 4318) == (role in senders), label
        assert not admits(found, pod, COLLECTOR, 4317), label  # the rule's port only
        elsewhere = Endpoint("stranger", "observability", {"app.kubernetes.io/name": "other"})
        assert not admits(found, pod, elsewhere, 4318), label
    assert senders <= roles
    function_policy = next(
        p for p in rendered.of_kind("NetworkPolicy") if p["metadata"]["name"] == "portico-functions"
    )
    assert COLLECTOR_RULE in function_policy["spec"]["egress"]


def test_with_network_policies_off_there_is_no_policy_and_no_warning():
    rendered = render({**traced(), "networkPolicy": {"enabled": False}})
    assert rendered.of_kind("NetworkPolicy") == []
    assert f"send their spans to {ENDPOINT}" in rendered.notes
    assert "WARNING: tracing is on" not in rendered.notes


def test_the_notes_name_the_collector_without_a_warning_once_egress_is_set():
    notes = KNATIVE.notes
    assert (
        f"Tracing: the functions, workers, relay and Kong send their spans to {ENDPOINT}\n"
        "(sampler parentbased_traceidratio, ratio 0.25)."
    ) in notes
    assert "WARNING: tracing is on" not in notes
    assert "Kong sends none" not in notes  # kongHeaders are set


# --- Wrong values, refused by the real engine ------------------------------------------------


@pytest.mark.parametrize(
    ("tracing_values", "named"),
    [
        ({"otlpEndpoint": f"{ENDPOINT}/v1/traces"}, r"/tracing/otlpEndpoint"),
        ({"otlpEndpoint": "grpc://otel-collector:4317"}, r"/tracing/otlpEndpoint"),
        ({"ratio": -0.1}, r"/tracing/ratio"),
        ({"ratio": "half"}, r"/tracing/ratio"),
        ({"kongInstrumentations": "request,off"}, r"/tracing/kongInstrumentations"),
        ({"kongInstrumentations": "everything"}, r"/tracing/kongInstrumentations"),
        ({"kongExtract": ["zipkin"]}, r"/tracing/kongExtract/0"),
        ({"resourceAttributes": {"service.name": "mine"}}, r"/tracing/resourceAttributes"),
        ({"resourceAttributes": {"team": "a,b=c"}}, r"/tracing/resourceAttributes/team"),
        ({"resourceAttributes": {"version": 2}}, r"/tracing/resourceAttributes/version"),
        ({"headersSecret": {"name": SECRET, "value": "abc"}}, r"/tracing/headersSecret"),
        (
            {"headersSecret": {"name": SECRET, "kongHeaders": [{"header": "x api", "key": "K"}]}},
            r"/tracing/headersSecret/kongHeaders/0/header",
        ),
        ({"egress": [{}]}, r"/tracing/egress/0"),
        ({"egress": [{"to": [], "ports": [{"port": 4318}]}]}, r"/tracing/egress/0/to"),
        ({"egress": [{"to": COLLECTOR_RULE["to"]}]}, r"/tracing/egress/0"),
        ({"egress": [{**COLLECTOR_RULE, "ports": []}]}, r"/tracing/egress/0/ports"),
        ({"egress": [{**COLLECTOR_RULE, "port": [4318]}]}, r"/tracing/egress/0"),
        ({"egress": [{**COLLECTOR_RULE, "to": [{}]}]}, r"/tracing/egress/0/to/0"),
        ({"egress": [{**COLLECTOR_RULE, "to": [{"ipBlok": {}}]}]}, r"/tracing/egress/0/to/0"),
        ({"egress": [{**COLLECTOR_RULE, "ports": [{"port": 0}]}]}, r"/tracing/egress/0/ports/0"),
    ],
)
def test_the_schema_refuses_a_wrong_tracing_value_naming_it(tracing_values, named):
    import helm_python

    with pytest.raises(helm_python.HelmValuesError, match=named):
        render(traced(**tracing_values))


def test_kong_headers_without_their_secret_are_refused_by_name():
    import helm_python

    values = traced(headersSecret={"kongHeaders": [{"header": "x-api-key", "key": "API_KEY"}]})
    with pytest.raises(helm_python.HelmError, match=r"tracing\.headersSecret\.name"):
        render(values)


def test_a_collector_outside_the_cluster_or_behind_a_named_port_can_be_written():
    outside = {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 443}]}
    rendered = render(traced(egress=[outside]))
    relay = pods(rendered)["Deployment/portico-relay"]
    saas = Endpoint("saas", None, ip="203.0.113.9")
    assert admits(policies(rendered), relay, saas, 443)
    assert not admits(policies(rendered), relay, saas, 80)
    assert not admits(policies(rendered), relay, Endpoint("other", None, ip="192.0.2.1"), 443)
    # A named port (the collector pod's) is the API's to judge: the evaluator takes numbers.
    named = {**COLLECTOR_RULE, "ports": [{"port": "otlp-http", "protocol": "TCP"}]}
    for o in render(traced(egress=[outside, named])).of_kind("NetworkPolicy"):
        kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)


def test_a_ratio_given_with_set_renders_as_the_number_does():
    """Helm's --set gives 0.1 as the text "0.1" (only integers become numbers): the schema takes
    a fraction's text, and everything reads it as the number."""
    import helm_python

    given = helm_python.parse_set_string(
        f"tracing.enabled=true,tracing.otlpEndpoint={ENDPOINT},tracing.ratio=0.1"
    )
    assert given["tracing"]["ratio"] == "0.1"  # what the real parser makes of it
    from_set, from_file = render(given), render(traced(ratio=0.1))
    assert opentelemetry_plugin(from_set) == opentelemetry_plugin(from_file)
    assert opentelemetry_plugin(from_set)["config"]["sampling_rate"] == 0.1
    assert kong_pod(from_set) == kong_pod(from_file)
    relay = "Deployment/portico-relay relay"
    assert containers_by_label(from_set)[relay] == containers_by_label(from_file)[relay]
    assert "ratio 0.1)" in from_set.notes
    for text in ("1.5", "2", "-0.1", ".5", "0.1.2"):
        with pytest.raises(helm_python.HelmValuesError, match=r"/tracing/ratio"):
            render(traced(ratio=text))


def test_the_chart_readme_documents_every_tracing_value():
    """tests/chart/test_chart_readme.py checks the whole README is current; here, that the
    tracing section is in it, a row for every key of values.yaml's tracing block."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())["tracing"]
    readme = (CHART / "README.md").read_text()
    section = readme.split("### `tracing`", 1)[1].split("\n### ", 1)[0]
    for key, value in values.items():
        assert f"| `tracing.{key}` |" in section, key
        for nested in value if isinstance(value, dict) else ():
            assert f"| `tracing.{key}.{nested}` |" in section, (key, nested)
    assert "--set tracing.ratio=0.1" in section
    assert "Each rule needs both `to` and `ports`" in section
