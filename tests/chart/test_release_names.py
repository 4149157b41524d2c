"""A chart people install twice: every object name starts with the release's <fullname>, so two
releases in one namespace share no name; every reference between objects (selectors, Secret,
ConfigMap and ServiceAccount names, scale targets, hostnames in URLs, Kong's upstreams, the
notes' commands) leads to an object of the same release; nameOverride and fullnameOverride
are honoured; and every object carries the standard app.kubernetes.io labels."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from portico.manifest import load_all
from tests.chart.helm import Rendered, render
from tests.chart.netpol import selector_matches
from tests.chart.renders import EXTERNAL, RENDERED, SWITCHES, is_knative_service, pod_templates
from tests.conftest import FUNCTIONS_DIR

NAMESPACE = "team"
RELEASES = ("a", "b")
FUNCTIONS = {m.name for m in load_all(FUNCTIONS_DIR)}
COMPONENTS = FUNCTIONS | {"kong", "relay", "postgres", "redis", "migrate", "test", "shared"}
ROLES = {"function", "worker", "gateway", "relay", "postgres", "redis", "migrate", "test"}
SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
# Secrets the values name: the user's own, shared by whoever names them.
EXTERNAL_SECRETS = {"claims-db", "claims-redis", "acme-consumers"}
# The switches the two-release tests render (each for release a and b).
TWICE = {
    "defaults": SWITCHES["defaults"],
    "runtime-deployment": SWITCHES["runtime-deployment"],
    "external-postgres-redis": EXTERNAL,
    "kong-off": SWITCHES["kong-off"],
    "kind": SWITCHES["kind"],
    "dev-consumers-deployment": {
        "consumers": {"devConsumers": True},
        "functions": {"runtime": "deployment"},
    },
    "own-consumers": {"consumers": {"existingSecret": "acme-consumers"}},
}
PAIRS = {
    switch: {release: render(values, namespace=NAMESPACE, release=release) for release in RELEASES}
    for switch, values in TWICE.items()
}


def kind_of(o: dict[str, Any]) -> str:
    return "KnativeService" if is_knative_service(o) else str(o["kind"])


def names(rendered: Rendered) -> list[tuple[str, str]]:
    return [(kind_of(o), o["metadata"]["name"]) for o in rendered.objects]


# --- No clash ------------------------------------------------------------------------------------


@pytest.mark.parametrize("switch", TWICE)
def test_two_releases_in_one_namespace_share_no_object_name(switch):
    a, b = PAIRS[switch]["a"], PAIRS[switch]["b"]
    for rendered in (a, b):
        repeated = [name for name, count in Counter(names(rendered)).items() if count > 1]
        assert not repeated, repeated
    assert not set(names(a)) & set(names(b))
    for release, rendered in PAIRS[switch].items():
        for kind, name in names(rendered):
            assert name.startswith(f"{release}-portico"), (release, kind, name)


# --- References ----------------------------------------------------------------------------------


def service_host(host: str) -> str | None:
    """The Service a cluster-local hostname names (in this namespace), or None."""
    match = re.fullmatch(rf"([a-z0-9-]+)\.{NAMESPACE}\.svc\.cluster\.local", host)
    return match.group(1) if match else None


def references(rendered: Rendered) -> Iterator[tuple[str, str, str]]:
    """(where, kind, name) of every object another object (or the notes) refers to by name.
    Kind "Host" is a cluster-local hostname, resolved to a Service or a Knative Service."""
    for label, spec, _ in pod_templates(rendered):
        yield label, "ServiceAccount", spec.get("serviceAccountName", "default")
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                yield label, "Secret", volume["secret"]["secretName"]
            if "configMap" in volume:
                yield label, "ConfigMap", volume["configMap"]["name"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            for env in container.get("env", []):
                source = env.get("valueFrom", {})
                for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if key in source:
                        yield f"{label} {env['name']}", kind, source[key]["name"]
                value = str(env.get("value", ""))
                if "://" in value:
                    yield f"{label} {env['name']}", "Host", urlsplit(value).hostname or ""
                if env["name"] == "FUNCTIONS":  # the helm test's function=service pairs
                    for entry in value.split():
                        yield f"{label} FUNCTIONS", "Service", entry.split("=")[1]
    for o in rendered.objects:
        where = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "StatefulSet":
            yield where, "Service", o["spec"]["serviceName"]
        if o["kind"] == "HorizontalPodAutoscaler":
            yield where, o["spec"]["scaleTargetRef"]["kind"], o["spec"]["scaleTargetRef"]["name"]
        if o["kind"] == "ScaledObject":
            target = o["spec"]["scaleTargetRef"]
            yield where, target.get("kind", "Deployment"), target["name"]
        if o["kind"] == "Secret":
            for key, value in o.get("stringData", {}).items():
                if key in ("DATABASE_URL", "REDIS_URL"):
                    yield f"{where} {key}", "Host", urlsplit(value).hostname or ""
                if key == "REDIS_ADDRESS":
                    yield f"{where} {key}", "Host", value.rsplit(":", 1)[0]
        if o["kind"] == "ConfigMap" and "kong.yaml" in o["data"]:
            config = yaml.safe_load(o["data"]["kong.yaml"])
            for service in config["services"]:
                yield f"{where} {service['name']}", "Host", urlsplit(service["url"]).hostname
            for route in config["routes"]:
                for plugin in route["plugins"]:
                    if plugin["name"] == "rate-limiting":
                        host = plugin["config"]["redis"]["host"]
                        yield f"{where} {route['name']} rate-limiting", "Host", host
    for match in re.finditer(
        rf"svc/([a-z0-9-]+)|get svc -n {NAMESPACE} ([a-z0-9-]+)", rendered.notes
    ):
        yield "NOTES.txt", "Service", match.group(1) or match.group(2)
    for match in re.finditer(rf"get secret -n {NAMESPACE} ([a-z0-9-]+)", rendered.notes):
        yield "NOTES.txt", "Secret", match.group(1)


def resolves(rendered: Rendered, kind: str, name: str) -> bool:
    present = set(names(rendered))
    if kind == "Host":
        service = service_host(name)
        if service is None:
            return name == "redis.example"  # the external Redis the values name
        return ("Service", service) in present or ("KnativeService", service) in present
    if kind == "Service":
        return ("Service", name) in present or ("KnativeService", name) in present
    return (kind, name) in present


@pytest.mark.parametrize("switch", TWICE)
def test_every_reference_leads_to_an_object_of_the_same_release(switch):
    for release, rendered in PAIRS[switch].items():
        found = list(references(rendered))
        assert {kind for _, kind, _ in found} >= {"ServiceAccount", "Secret", "Service"}
        for where, kind, name in found:
            if kind == "Secret" and name in EXTERNAL_SECRETS:
                continue
            if kind == "ServiceAccount" and name == "default":
                continue  # the migrations Job: a hook runs before the release's objects exist
            assert resolves(rendered, kind, name), (release, where, kind, name)
            target = service_host(name) if kind == "Host" else name
            if target is not None:  # not the external Redis's host
                assert target.startswith(f"{release}-portico"), (release, where, name)


def pods_of(rendered: Rendered) -> list[tuple[str, dict[str, str]]]:
    return [(label, labels) for label, _, labels in pod_templates(rendered)]


def selectors(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in rendered.objects:
        where = f"{kind_of(o)}/{o['metadata']['name']}"
        if o["kind"] == "Service" and not is_knative_service(o):
            yield where, {"matchLabels": o["spec"]["selector"]}
        elif o["kind"] in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
            yield where, o["spec"]["selector"]
        elif o["kind"] == "NetworkPolicy":
            yield where, o["spec"]["podSelector"]


@pytest.mark.parametrize("switch", TWICE)
def test_every_selector_selects_pods_of_its_own_release_only(switch):
    for release, rendered in PAIRS[switch].items():
        [other] = [r for name, r in PAIRS[switch].items() if name != release]
        for where, selector in selectors(rendered):
            ours = [
                label for label, labels in pods_of(rendered) if selector_matches(selector, labels)
            ]
            theirs = [
                label for label, labels in pods_of(other) if selector_matches(selector, labels)
            ]
            assert ours, (release, where, "selects no pod")
            assert not theirs, (release, where, theirs)
            if not where.startswith("NetworkPolicy/"):
                # A workload's, its PDB's or its Service's: the pods of one workload.
                assert len(ours) == 1, (release, where, ours)


@pytest.mark.parametrize("switch", TWICE)
def test_every_service_leads_to_a_port_its_pods_listen_on(switch):
    for release, rendered in PAIRS[switch].items():
        for o in rendered.of_kind("Service", "v1"):
            [(label, spec, _)] = backing_pods(rendered, o["metadata"]["name"])
            ports = [p for c in spec["containers"] for p in c.get("ports", [])]
            for port in o["spec"]["ports"]:
                target = port["targetPort"]
                key = "name" if isinstance(target, str) else "containerPort"
                assert [p for p in ports if p.get(key) == target], (release, label, port)


@pytest.mark.parametrize("switch", ["defaults", "runtime-deployment"])
def test_kong_calls_each_function_at_its_own_releases_service(switch):
    for release, rendered in PAIRS[switch].items():
        text = rendered.named("ConfigMap", f"{release}-portico-kong")["data"]["kong.yaml"]
        for service in yaml.safe_load(text)["services"]:
            name = service_host(urlsplit(service["url"]).hostname or "")
            assert name == f"{release}-portico-{service['name']}", service
            # The pods behind that name serve the function Kong routes there.
            served = {function_of(spec) for label, spec, _ in backing_pods(rendered, name)}
            assert served == {service["name"]}, (release, service["name"], served)


def backing_pods(
    rendered: Rendered, service: str
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    for o in rendered.objects:
        if o["metadata"]["name"] != service or o["kind"] != "Service":
            continue
        if is_knative_service(o):
            return pod_templates(Rendered([o], ""))
        selector = {"matchLabels": o["spec"]["selector"]}
        return [p for p in pod_templates(rendered) if selector_matches(selector, p[2])]
    raise AssertionError(f"no Service {service}")


def function_of(spec: dict[str, Any]) -> str:
    [value] = [e["value"] for e in spec["containers"][0]["env"] if e["name"] == "PORTICO_FUNCTION"]
    return str(value)


# --- Overrides -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("release", "values", "fullname", "name"),
    [
        ("portico", {}, "portico", "portico"),
        ("portico-staging", {}, "portico-staging", "portico"),  # contains the chart's name
        ("a", {"nameOverride": "claims"}, "a-claims", "claims"),
        ("claims-eu", {"nameOverride": "claims"}, "claims-eu", "claims"),
        ("a", {"fullnameOverride": "acme"}, "acme", "portico"),
        ("a", {"fullnameOverride": "acme", "nameOverride": "claims"}, "acme", "claims"),
    ],
)
def test_name_override_and_fullname_override_name_every_object(release, values, fullname, name):
    rendered = render({**values, "functions": {"runtime": "deployment"}}, NAMESPACE, release)
    for kind, object_name in names(rendered):
        assert object_name == fullname or object_name.startswith(f"{fullname}-"), (
            kind,
            object_name,
        )
    assert ("ServiceAccount", fullname) in names(rendered)
    assert ("Service", f"{fullname}-submit-claim") in names(rendered)
    assert ("Deployment", f"{fullname}-kong") in names(rendered)
    for o in rendered.objects:
        assert o["metadata"]["labels"]["app.kubernetes.io/name"] == name, o["metadata"]["name"]
    for where, kind, target in references(rendered):
        if kind == "ServiceAccount" and target == "default":
            continue
        assert resolves(rendered, kind, target), (where, kind, target)
    config = yaml.safe_load(rendered.named("ConfigMap", f"{fullname}-kong")["data"]["kong.yaml"])
    hosts = {urlsplit(s["url"]).hostname for s in config["services"]}
    assert f"{fullname}-submit-claim.{NAMESPACE}.svc.cluster.local" in hosts


def test_two_releases_with_fullname_overrides_of_their_own_share_no_name():
    one = render({"fullnameOverride": "claims-eu"}, NAMESPACE, "a")
    two = render({"fullnameOverride": "claims-us"}, NAMESPACE, "b")
    assert not set(names(one)) & set(names(two))


def test_a_name_longer_than_a_dns_label_is_refused_not_cut():
    import helm_python

    long = "x" * 50  # with "-submit-claim" 63 characters, with "-test-functions" 65
    with pytest.raises(helm_python.HelmError, match=r"more than 63"):
        render({"fullnameOverride": long})


def test_the_values_schema_refuses_a_fullname_override_that_is_no_dns_label():
    import helm_python

    with pytest.raises(helm_python.HelmValuesError, match="fullnameOverride"):
        render({"fullnameOverride": "Acme_Claims"})


# --- Labels ----------------------------------------------------------------------------------


def everything() -> Iterator[tuple[str, Rendered]]:
    for switch, rendered in RENDERED.items():
        yield f"{switch}/portico", rendered
    for switch, pair in PAIRS.items():
        for release, rendered in pair.items():
            yield f"{switch}/{release}", rendered


EVERYTHING = dict(everything())


@pytest.mark.parametrize("render_id", EVERYTHING)
def test_every_object_has_the_five_standard_labels(render_id):
    release = render_id.split("/")[1]
    for o in EVERYTHING[render_id].objects:
        labels = o["metadata"]["labels"]
        where = f"{kind_of(o)}/{o['metadata']['name']}"
        assert labels["app.kubernetes.io/name"] == "portico", where
        assert labels["app.kubernetes.io/instance"] == release, where
        assert labels["app.kubernetes.io/component"] in COMPONENTS, where
        assert labels["app.kubernetes.io/part-of"] == "portico", where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where


@pytest.mark.parametrize("render_id", EVERYTHING)
def test_every_pod_carries_its_objects_labels_and_a_role(render_id):
    rendered = EVERYTHING[render_id]
    by_label = {f"{o['kind']}/{o['metadata']['name']}": o for o in rendered.objects}
    for label, _, labels in pod_templates(rendered):
        own = by_label[label]["metadata"]["labels"]
        standard = {
            k: v for k, v in own.items() if k.startswith(("app.kubernetes.io/", "helm.sh/"))
        }
        assert {k: labels.get(k) for k in standard} == standard, label
        assert labels["portico.dev/role"] in ROLES, label


@pytest.mark.parametrize("render_id", EVERYTHING)
def test_selectors_match_name_instance_and_component_only(render_id):
    """What may never change on an upgrade (a Deployment's or StatefulSet's selector is
    immutable): no version, no chart label, no role; the component of the object itself."""
    for o in EVERYTHING[render_id].objects:
        where = f"{kind_of(o)}/{o['metadata']['name']}"
        if o["kind"] in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
            selector = o["spec"]["selector"]
            assert set(selector) == {"matchLabels"}, where
            labels = selector["matchLabels"]
        elif o["kind"] == "Service" and not is_knative_service(o):
            labels = o["spec"]["selector"]
        else:
            continue
        assert set(labels) == SELECTOR_KEYS, where
        component = o["metadata"]["labels"]["app.kubernetes.io/component"]
        assert labels["app.kubernetes.io/component"] == component, where


def test_a_functions_objects_are_labelled_with_its_name():
    rendered = PAIRS["runtime-deployment"]["a"]
    for o in rendered.objects:
        name = o["metadata"]["name"].removeprefix("a-portico-")
        if name in FUNCTIONS:
            assert o["metadata"]["labels"]["app.kubernetes.io/component"] == name, o["kind"]
