"""The Helm chart, rendered by the real Helm engine for the defaults and for every switch: lint,
strict schema validation of every object, and the policies the platform promises."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from cloudcoil.models.knative_serving.serving.v1 import Service as KnativeService

from portico import http_limits
from portico.cli import main
from portico.manifest import load_all
from portico.manifest.limits import upstream_timeout_seconds
from portico.policies.consumers import DEV_CONSUMERS
from portico.policies.upstream import SECRET_REFERENCE
from portico.render import kong
from portico.render.values import generated, generated_block, rewrite_values
from tests.chart.helm import CHART, ENGINE, Rendered, lint, render
from tests.chart.renders import (
    DEFAULTS,
    RENDERED,
    SWITCHES,
    long_running,
    pod_specs,
    pod_templates,
)
from tests.conftest import FUNCTIONS_DIR

KUBERNETES_VERSION = "1.32.0"
MANIFESTS = load_all(FUNCTIONS_DIR)
HTTP = {m.name: m for m in MANIFESTS if m.api is not None}
WORKERS = {m.name: m for m in MANIFESTS if m.trigger is not None}
GATEWAY_SECRET_HEADER = "X-Portico-Gateway-Secret"


# --- The engine: lint and strict validation ------------------------------------------------------


@pytest.mark.parametrize("switch", SWITCHES)
def test_lint_finds_no_errors(switch):
    assert lint(SWITCHES[switch]) == [], ENGINE


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_core_object_passes_strict_schema_validation(switch):
    for o in RENDERED[switch].objects:
        if o["apiVersion"].startswith(("serving.knative.dev", "keda.sh")):
            continue
        kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_knative_and_keda_object_matches_its_crd_model(switch):
    models: dict[str, type[KnativeService] | type[ScaledObject]] = {
        "serving.knative.dev/v1": KnativeService,
        "keda.sh/v1alpha1": ScaledObject,
    }
    for o in RENDERED[switch].objects:
        model = models.get(o["apiVersion"])
        if model is None:
            continue
        parsed = model.model_validate(o)
        # The models ignore unknown fields; a field that does not survive the round trip is one.
        assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == o


def test_an_unknown_field_is_caught_by_the_crd_round_trip():
    service = copy.deepcopy(DEFAULTS.of_kind("Service", "serving.knative.dev")[0])
    service["spec"]["template"]["spec"]["containerConcurency"] = 4
    parsed = KnativeService.model_validate(service)
    assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") != service


def test_the_values_schema_refuses_a_typo_and_an_unknown_runtime():
    import helm_python

    chart = helm_python.Chart.load(CHART)
    with pytest.raises(helm_python.HelmValuesError, match="servcie"):
        chart.validate_schema({"kong": {"servcie": {"type": "NodePort"}}})
    with pytest.raises(helm_python.HelmValuesError, match="runtime"):
        chart.validate_schema({"functions": {"runtime": "lambda"}})


# --- Policies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_container_is_non_root_read_only_and_limited(switch):
    for label, spec in pod_specs(RENDERED[switch]):
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{label} {container['name']}"
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where


# The user each image runs as (docker/Dockerfile; the official kong, postgres:*-alpine and
# redis:*-alpine images).
IMAGE_USERS = {"portico-functions": 10001, "kong": 1000, "postgres": 70, "redis": 999}


def image_user(image: str) -> int:
    return IMAGE_USERS[image.rsplit(":", 1)[0].rsplit("/", 1)[-1]]


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_pod_has_a_pod_level_security_context(switch):
    knative_allowed = SWITCHES[switch].get("functions", {}).get("knativePodSecurityContext", False)
    for label, spec, _ in pod_templates(RENDERED[switch]):
        pod: dict[str, Any] = spec.get("securityContext") or {}
        if label.startswith("Service/") and not knative_allowed:
            # Knative refuses one unless kubernetes.podspec-securitycontext is enabled.
            assert "securityContext" not in spec, label
        else:
            assert pod["runAsNonRoot"] is True, label
            assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, label
            assert pod["runAsUser"] == image_user(spec["containers"][0]["image"]), label
            assert pod["fsGroup"] == pod["runAsGroup"], label
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{label} {container['name']}"
            effective = {**pod, **container["securityContext"]}
            assert effective["runAsNonRoot"] is True, where
            assert effective["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert effective["runAsUser"] == image_user(container["image"]), where


@pytest.mark.parametrize("switch", SWITCHES)
def test_no_pod_mounts_a_service_account_token(switch):
    """Nothing in the release calls the Kubernetes API, so no pod carries a token for it
    (Knative Services included: Knative's PodSpec takes the field without a feature flag)."""
    for label, spec in pod_specs(RENDERED[switch]):
        assert spec.get("automountServiceAccountToken") is False, label


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_long_running_container_has_liveness_and_readiness_probes(switch):
    for label, spec in long_running(RENDERED[switch]):
        for container in spec["containers"]:
            assert "livenessProbe" in container and "readinessProbe" in container, label


def test_portico_containers_probe_healthz_and_readyz():
    for label, spec in long_running(DEFAULTS):
        container = spec["containers"][0]
        if container["image"].startswith("portico-functions"):
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", label
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", label


# --- Functions -----------------------------------------------------------------------------------


def test_each_http_function_is_a_cluster_local_knative_service_as_its_manifest_says():
    services = {s["metadata"]["name"]: s for s in DEFAULTS.of_kind("Service", "serving.knative")}
    assert set(services) == {f"portico-{name}" for name in HTTP}
    for name, manifest in HTTP.items():
        service = services[f"portico-{name}"]
        assert service["metadata"]["labels"]["app.kubernetes.io/component"] == name
        assert service["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
        template = service["spec"]["template"]
        assert template["metadata"]["annotations"] == {
            "autoscaling.knative.dev/min-scale": str(manifest.function.scale.min),
            "autoscaling.knative.dev/max-scale": str(manifest.function.scale.max),
            "autoscaling.knative.dev/target": str(manifest.function.concurrency),
        }
        assert template["spec"]["containerConcurrency"] == manifest.function.concurrency
        assert template["spec"]["timeoutSeconds"] == upstream_timeout_seconds(manifest)
        [container] = template["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["PORTICO_FUNCTION"]["value"] == name
        assert container["resources"]["limits"]["memory"] == manifest.function.memory


def test_by_default_every_http_function_scales_to_zero():
    for service in DEFAULTS.of_kind("Service", "serving.knative"):
        annotations = service["spec"]["template"]["metadata"]["annotations"]
        assert annotations["autoscaling.knative.dev/min-scale"] == "0"


def test_each_worker_scales_from_zero_on_its_rq_list():
    objects = {o["metadata"]["name"]: o for o in DEFAULTS.of_kind("ScaledObject")}
    assert set(objects) == {f"portico-{name}" for name in WORKERS}
    for name, manifest in WORKERS.items():
        spec = objects[f"portico-{name}"]["spec"]
        assert manifest.trigger is not None
        assert spec["scaleTargetRef"] == {"name": f"portico-{name}"}
        assert spec["minReplicaCount"] == 0
        assert spec["maxReplicaCount"] == manifest.function.scale.max
        [trigger] = spec["triggers"]
        assert trigger["type"] == "redis"
        assert trigger["metadata"]["listName"] == f"rq:queue:{manifest.trigger.queue}"
        assert trigger["metadata"]["addressFromEnv"] == "REDIS_ADDRESS"
        deployment = DEFAULTS.named("Deployment", f"portico-{name}")
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > manifest.function.timeout_seconds
        assert "REDIS_ADDRESS" in {e["name"] for e in pod["containers"][0]["env"]}


def test_without_keda_workers_are_plain_replicas():
    rendered = RENDERED["keda-off"]
    assert rendered.of_kind("ScaledObject") == []
    for name in WORKERS:
        assert rendered.named("Deployment", f"portico-{name}")["spec"]["replicas"] == 1


def test_the_deployment_runtime_gives_each_http_function_a_deployment_service_and_hpa():
    rendered = RENDERED["runtime-deployment"]
    assert rendered.of_kind("Service", "serving.knative") == []
    for name, manifest in HTTP.items():
        deployment = rendered.named("Deployment", f"portico-{name}")
        assert deployment["spec"]["replicas"] == 1  # no scale to zero without Knative
        service = rendered.named("Service", f"portico-{name}")
        assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        hpa = rendered.named("HorizontalPodAutoscaler", f"portico-{name}")
        assert hpa["spec"]["maxReplicas"] == manifest.function.scale.max
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"portico-{name}"


def test_the_relay_always_runs_with_a_disruption_budget():
    relay = DEFAULTS.named("Deployment", "portico-relay")
    assert relay["spec"]["replicas"] == 1
    env = {e["name"]: e for e in relay["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PORTICO_FUNCTION"]["value"] == "relay"
    pdb = DEFAULTS.named("PodDisruptionBudget", "portico-relay")
    assert pdb["spec"]["selector"] == relay["spec"]["selector"]


# --- Kong ----------------------------------------------------------------------------------------


def kong_config_in(rendered: Rendered) -> dict[str, Any]:
    text = rendered.named("ConfigMap", "portico-kong")["data"]["kong.yaml"]
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@pytest.mark.parametrize(
    ("switch", "namespace", "redis_host", "redis_port"),
    [
        ("defaults", "portico", "portico-redis.portico.svc.cluster.local", 6379),
        ("external-postgres-redis", "claims", "redis.example", 6380),
    ],
)
def test_the_kong_configmap_is_portico_render_kong_for_the_same_values(
    switch, namespace, redis_host, redis_port
):
    rendered = render(SWITCHES[switch], namespace=namespace)
    expected = kong.render(
        MANIFESTS,
        upstream_template=f"http://portico-{{name}}.{namespace}.svc.cluster.local",
        redis_host=redis_host,
        redis_port=redis_port,
        consumers=(),
    )
    assert kong_config_in(rendered) == expected


def test_kong_is_db_less_and_rolls_when_its_config_changes():
    deployment = DEFAULTS.named("Deployment", "portico-kong")
    pod = deployment["spec"]["template"]
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["KONG_DATABASE"] == "off"
    assert env["KONG_DECLARATIVE_CONFIG"] == "/kong/kong.yaml"
    assert env["KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES"] == "cjson.safe"
    checksum = pod["metadata"]["annotations"]["checksum/config"]

    def checksum_with(values: dict[str, Any], namespace: str = "portico") -> str:
        kong_pod = render(values, namespace).named("Deployment", "portico-kong")["spec"]["template"]
        return str(kong_pod["metadata"]["annotations"]["checksum/config"])

    assert checksum_with({}, namespace="elsewhere") != checksum  # upstream hosts changed
    assert checksum_with({"relay": {"replicas": 2}}) == checksum  # Kong's config did not


# The functions' gunicorn request-line limit, the smaller of its two (header lines may be longer).
GUNICORN_LIMIT_BYTES = http_limits.FUNCTION_REQUEST_LINE_BYTES


def nginx_size(text: str) -> int:
    """An nginx size: bytes, or with a k / m suffix."""
    units = {"k": 1024, "m": 1024 * 1024}
    suffix = text[-1].lower()
    return int(text[:-1]) * units[suffix] if suffix in units else int(text)


def test_kong_names_no_version_and_refuses_long_lines_before_a_function_would():
    env = {e["name"]: e.get("value") for e in kong_pod(DEFAULTS)["containers"][0]["env"]}
    # No Server: kong/<version> nor Via: kong/<version> (nor X-Kong-* headers).
    assert env["KONG_HEADERS"] == "off"
    # nginx keeps a request line, and each header line, in one large buffer, its CRLF included:
    # a buffer smaller than gunicorn's limit means Kong refuses first, with its own answer.
    count, size = env["KONG_NGINX_HTTP_LARGE_CLIENT_HEADER_BUFFERS"].split()
    assert int(count) >= 1
    assert nginx_size(size) < GUNICORN_LIMIT_BYTES
    assert nginx_size(size) >= 4096  # room for a JWT in Authorization
    # What nginx refuses comes back through Kong's error handler in JSON, not text/plain.
    assert env["KONG_ERROR_DEFAULT_TYPE"] == "application/json"
    if "KONG_NGINX_HTTP_CLIENT_HEADER_BUFFER_SIZE" in env:
        assert nginx_size(env["KONG_NGINX_HTTP_CLIENT_HEADER_BUFFER_SIZE"]) <= nginx_size(size)


@pytest.mark.parametrize("switch", SWITCHES)
def test_the_gateway_secret_reaches_the_http_functions_and_kongs_init_container_only(switch):
    rendered = RENDERED[switch]
    secret = {"name": "portico-gateway", "key": "PORTICO_GATEWAY_SECRET"}
    knative = SWITCHES[switch].get("functions", {}).get("runtime", "knative") == "knative"
    kind = "Service" if knative else "Deployment"
    expected = {f"{kind}/portico-{name} function" for name in HTTP}
    if rendered.of_kind("ConfigMap"):  # Kong is enabled
        expected.add("Deployment/portico-kong init config")
    found = set()
    for label, spec in pod_specs(rendered):
        containers = [("init", c) for c in spec.get("initContainers", [])] + [
            ("", c) for c in spec["containers"]
        ]
        for kind, container in containers:
            env = {e["name"]: e for e in container.get("env", [])}
            if "PORTICO_GATEWAY_SECRET" in env:
                found.add(" ".join(filter(None, (label, kind, container["name"]))))
                assert env["PORTICO_GATEWAY_SECRET"]["valueFrom"]["secretKeyRef"] == secret
    assert found == expected


def test_the_gateway_secret_is_generated_long_and_random_or_taken_from_a_secret_of_yours():
    value = DEFAULTS.named("Secret", "portico-gateway")["stringData"]["PORTICO_GATEWAY_SECRET"]
    assert len(value) == 48 and value.isascii() and value.isalnum()
    again = render({}).named("Secret", "portico-gateway")["stringData"]["PORTICO_GATEWAY_SECRET"]
    assert again != value  # generated per install (then kept across upgrades by lookup)
    rendered = render({"gatewaySecret": {"existingSecret": "acme-gateway"}})
    assert "portico-gateway" not in {s["metadata"]["name"] for s in rendered.of_kind("Secret")}
    [init] = kong_pod(rendered)["initContainers"]
    [reference] = [e for e in init["env"] if e["name"] == "PORTICO_GATEWAY_SECRET"]
    assert reference["valueFrom"]["secretKeyRef"]["name"] == "acme-gateway"


def test_the_kong_service_type_and_node_port_are_values():
    rendered = render({"kong": {"service": {"type": "NodePort", "nodePort": 32080}}})
    [port] = rendered.named("Service", "portico-kong")["spec"]["ports"]
    assert (port["port"], port["nodePort"]) == (80, 32080)
    balanced = render({"kong": {"service": {"type": "LoadBalancer"}}})
    assert balanced.named("Service", "portico-kong")["spec"]["type"] == "LoadBalancer"


def kong_pod(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.named("Deployment", "portico-kong")["spec"]["template"]["spec"]
    return spec


def run_init_container(
    rendered: Rendered, directory: Path, env: dict[str, str | None]
) -> dict[str, Any]:
    """Kong's init container, run by its own command and arguments on the ConfigMap and the
    consumers Secret, with this environment; what it writes for Kong."""
    configmap = directory / "kong.yaml"
    configmap.write_text(rendered.named("ConfigMap", "portico-kong")["data"]["kong.yaml"])
    consumers = directory / "consumers.yaml"
    secret = rendered.named("Secret", "portico-consumers")
    consumers.write_text(secret["stringData"]["consumers.yaml"])
    [init] = kong_pod(rendered)["initContainers"]
    command = [*init["command"], *init.get("args", [])]
    assert command[:2] == ["portico", "kong-config"]
    paths = {
        "/config/kong.yaml": str(configmap),
        "/consumers/consumers.yaml": str(consumers),
        "/kong/kong.yaml": str(directory / "out.yaml"),
    }
    arguments = [paths.get(a, a) for a in command[2:]]
    result = CliRunner().invoke(main, ["kong-config", *arguments], env=env)
    assert result.exit_code == 0, result.output
    joined: dict[str, Any] = yaml.safe_load((directory / "out.yaml").read_text())
    return joined


def with_secret(document: Any, secret: str) -> Any:
    """The document with the gateway secret written in place of its reference."""
    if isinstance(document, dict):
        return {k: with_secret(v, secret) for k, v in document.items()}
    if isinstance(document, list):
        return [with_secret(v, secret) for v in document]
    if isinstance(document, str):
        return document.replace(SECRET_REFERENCE, secret)
    return document


def test_the_init_container_joins_configmap_consumers_and_gateway_secret_into_the_full_config(
    tmp_path,
):
    rendered = RENDERED["dev-consumers"]
    # The value the init container gets: the chart's gateway Secret, through its env.
    [init] = kong_pod(rendered)["initContainers"]
    [reference] = [e for e in init["env"] if e["name"] == "PORTICO_GATEWAY_SECRET"]
    key = reference["valueFrom"]["secretKeyRef"]
    secret = rendered.named("Secret", key["name"])["stringData"][key["key"]]
    joined = run_init_container(rendered, tmp_path, {"PORTICO_GATEWAY_SECRET": secret})
    expected = kong.render(
        MANIFESTS,
        upstream_template="http://portico-{name}.portico.svc.cluster.local",
        redis_host="portico-redis.portico.svc.cluster.local",
        consumers=DEV_CONSUMERS,
    )
    assert joined == with_secret(expected, secret)
    # Every route adds the secret and drops a client's own copy; no reference is left for Kong.
    for route in joined["routes"]:
        [transformer] = [p for p in route["plugins"] if p["name"] == "request-transformer"]
        assert f"{GATEWAY_SECRET_HEADER}:{secret}" in transformer["config"]["add"]["headers"]
        assert GATEWAY_SECRET_HEADER in transformer["config"]["remove"]["headers"]
    assert "{vault://" not in yaml.safe_dump(joined)
    # The ConfigMap itself holds the reference only, never the secret.
    configmap = rendered.named("ConfigMap", "portico-kong")["data"]["kong.yaml"]
    assert SECRET_REFERENCE in configmap and secret not in configmap


def test_without_consumers_kong_gets_none_and_notes_say_so():
    [init] = DEFAULTS.named("Deployment", "portico-kong")["spec"]["template"]["spec"][
        "initContainers"
    ]
    assert "--consumers" not in init.get("args", [])
    assert DEFAULTS.of_kind("Secret") and not [
        s for s in DEFAULTS.of_kind("Secret") if s["metadata"]["name"] == "portico-consumers"
    ]
    assert "No consumers are configured" in DEFAULTS.notes
    assert "dev consumers alice and bob are enabled" in RENDERED["dev-consumers"].notes


def test_an_existing_consumers_secret_is_mounted():
    rendered = render({"consumers": {"existingSecret": "acme-consumers"}})
    pod = rendered.named("Deployment", "portico-kong")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["consumers"]["secret"]["secretName"] == "acme-consumers"


def test_kong_off_renders_no_gateway():
    names = {f"{o['kind']}/{o['metadata']['name']}" for o in RENDERED["kong-off"].objects}
    assert not {n for n in names if "kong" in n or n.endswith("test-claims")}


# --- Postgres, Redis, migrations, network policies -------------------------------------------


def test_postgres_and_redis_run_in_the_chart_with_persistent_volumes():
    for name in ("portico-postgres", "portico-redis"):
        statefulset = DEFAULTS.named("StatefulSet", name)
        [claim] = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_external_postgres_and_redis_come_from_secrets():
    rendered = RENDERED["external-postgres-redis"]
    assert rendered.of_kind("StatefulSet") == []
    relay = rendered.named("Deployment", "portico-relay")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in relay["containers"][0]["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "claims-db"
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "claims-redis"


def test_external_postgres_without_its_secret_is_refused_by_name():
    import helm_python

    with pytest.raises(helm_python.HelmError, match=r"externalDatabase\.existingSecret"):
        render({"postgres": {"enabled": False}})


def test_migrations_run_as_a_hook_before_upgrades():
    [job] = DEFAULTS.of_kind("Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    [external] = RENDERED["external-postgres-redis"].of_kind("Job")
    assert external["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PORTICO_FUNCTION"]["value"] == "migrate"


def hook_phases(o: dict[str, Any]) -> set[str]:
    annotations = o["metadata"].get("annotations") or {}
    return set(filter(None, annotations.get("helm.sh/hook", "").split(",")))


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_object_a_pre_install_hook_pod_needs_exists_before_it_runs(switch):
    """Helm creates a release's ordinary objects only after its pre-install hooks: a hook pod
    naming one of them (its ServiceAccount, a Secret, a ConfigMap) never starts."""
    rendered = RENDERED[switch]
    ordinary = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects if not hook_phases(o)}
    for o in rendered.objects:
        if "pre-install" not in hook_phases(o) or o["kind"] not in ("Job", "Pod"):
            continue
        spec = o["spec"] if o["kind"] == "Pod" else o["spec"]["template"]["spec"]
        needed = {("ServiceAccount", spec.get("serviceAccountName", "default"))}
        for container in spec.get("initContainers", []) + spec["containers"]:
            for env in container.get("env", []):
                for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if key in env.get("valueFrom", {}):
                        needed.add((kind, env["valueFrom"][key]["name"]))
        assert not needed & ordinary, (o["metadata"]["name"], needed & ordinary)


def test_helm_test_submits_a_claim_through_kong_and_reads_it_back():
    pod = DEFAULTS.named("Pod", "portico-test-claims")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["args"][0]
    assert '"POST", "/claims"' in script and '"GET", "/claims/"' in script
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["GATEWAY"] == "http://portico-kong.portico.svc.cluster.local:80"


@pytest.mark.parametrize("switch", SWITCHES)
def test_helm_test_checks_every_http_function_with_or_without_kong(switch):
    rendered = RENDERED[switch]
    tests = [p for p in rendered.of_kind("Pod") if hook_phases(p) == {"test"}]
    assert tests, "helm test would pass with no test"
    pod = rendered.named("Pod", "portico-test-functions")
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    # function=service: the name its /readyz gives, the Service (or Knative Service) it answers at
    functions = dict(entry.split("=") for entry in env["FUNCTIONS"].split())
    assert functions == {name: f"portico-{name}" for name in HTTP}
    assert env["NAMESPACE"] == "portico"
    script = pod["spec"]["containers"][0]["args"][0]
    assert ".svc.cluster.local/readyz" in script and '"status": "ready"' in script


def test_notes_print_how_to_call_the_api():
    assert "POST /claims  ->  portico-submit-claim" in DEFAULTS.notes
    assert "curl -s -X POST $PORTICO_URL/claims" in DEFAULTS.notes


def test_notes_print_each_functions_scale_as_its_runtime_runs_it():
    for name, manifest in HTTP.items():
        scale = manifest.function.scale
        route = f"{manifest.api.route.method} {manifest.api.route.path}" if manifest.api else ""
        assert f"{route}  ->  portico-{name} (scale {scale.min}..{scale.max})" in DEFAULTS.notes
        hpa = RENDERED["runtime-deployment"].named("HorizontalPodAutoscaler", f"portico-{name}")
        replicas = f"{hpa['spec']['minReplicas']}..{hpa['spec']['maxReplicas']}"
        notes = RENDERED["runtime-deployment"].notes
        assert f"{route}  ->  portico-{name} (scale {replicas})" in notes


def test_without_kong_the_notes_say_what_ones_own_gateway_must_send():
    notes = RENDERED["kong-off"].notes
    assert "X-Portico-Gateway-Secret" in notes
    assert "kubectl get secret -n portico portico-gateway" in notes
    assert "networkPolicy.extraGatewaySelectors" in RENDERED["kong-off-runtime-deployment"].notes
    assert "X-Portico-Gateway-Secret" not in DEFAULTS.notes


# --- The generated values --------------------------------------------------------------------


def test_the_committed_values_are_current():
    committed = (CHART / "values.yaml").read_text()
    assert generated_block(committed) == generated(MANIFESTS), (
        "charts/portico/values.yaml is stale: run `make render`"
    )
    assert rewrite_values(committed, MANIFESTS) == committed


def test_render_values_keeps_the_hand_written_part(tmp_path: Path):
    values = tmp_path / "values.yaml"
    values.write_text("# my comment\nimage: {repository: x}\n")
    arguments = ["render", "values", "--values", str(values), "--functions-dir", str(FUNCTIONS_DIR)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    text = values.read_text()
    assert text.startswith("# my comment\nimage: {repository: x}\n")
    assert generated_block(text) == generated(MANIFESTS)
    assert CliRunner().invoke(main, arguments).exit_code == 0
    assert values.read_text() == text  # idempotent
