"""The chart's NetworkPolicies, evaluated (tests/chart/netpol.py) over the pods the chart renders,
the cluster's own pods (DNS, Knative, KEDA) and strangers: each component may make and take
exactly the connections it needs, and two releases in one namespace do not reach each other."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helm import render
from tests.chart.netpol import Endpoint, Policy, admits, egress_allows, ingress_allows
from tests.chart.renders import (
    EXTERNAL,
    NAMESPACE,
    OWN_GATEWAY,
    RENDERED,
    SWITCHES,
    listening_ports,
    pod_templates,
    pods,
    policies,
)

OTHER = "other"  # a second release in the same namespace

KUBE_DNS = Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"})
KOURIER = Endpoint("kourier", "kourier-system", {"app": "3scale-kourier-gateway"})
ACTIVATOR = Endpoint("activator", "knative-serving", {"app": "activator"})
KEDA_OPERATOR = Endpoint("keda-operator", "keda", {"app": "keda-operator"})
NEIGHBOUR = Endpoint("neighbour", NAMESPACE, {"app": "something-else"})
# A pod that copies a role label but belongs to no Portico release.
IMPOSTOR = Endpoint("impostor", NAMESPACE, {"portico.dev/role": "gateway"})
ELSEWHERE = Endpoint("elsewhere", "elsewhere", {"portico.dev/role": "gateway"})
MY_GATEWAY = Endpoint("my-gateway", "edge", {"app.kubernetes.io/name": "my-gateway"})
EDGE_OTHER = Endpoint("edge-other", "edge", {"app.kubernetes.io/name": "something-else"})
INTERNET = Endpoint("internet", None, ip="203.0.113.7")
STRANGERS = [KUBE_DNS, KOURIER, ACTIVATOR, KEDA_OPERATOR, NEIGHBOUR, IMPOSTOR, ELSEWHERE]
STRANGERS += [MY_GATEWAY, EDGE_OTHER, INTERNET]


class Cluster:
    """Two releases of one values in the namespace, with the cluster's own pods."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.ours = render(values, namespace=NAMESPACE)
        self.theirs = render(values, namespace=NAMESPACE, release=OTHER)
        self.pods = pods(self.ours)
        self.other_pods = pods(self.theirs, release=OTHER)
        self.policies = policies(self.ours) + policies(self.theirs)
        self.ports = listening_ports(self.ours)

    def pod(self, role: str) -> Endpoint:
        """One of our pods of a role (the first, when there are several)."""
        return next(p for p in self.pods.values() if role_of(p) == role)

    def other(self, role: str) -> Endpoint:
        return next(p for p in self.other_pods.values() if role_of(p) == role)

    def admits(
        self, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP"
    ) -> bool:
        return admits(self.policies, source, destination, port, protocol)

    def everyone(self) -> list[Endpoint]:
        return [*self.pods.values(), *self.other_pods.values(), *STRANGERS]


def role_of(pod: Endpoint) -> str:
    return pod.labels.get("portico.dev/role", "")


@pytest.fixture(scope="module")
def defaults() -> Cluster:
    return Cluster({})


@pytest.fixture(scope="module")
def deployment() -> Cluster:
    return Cluster({"functions": {"runtime": "deployment"}})


# --- Every pod, every policy ---------------------------------------------------------------------


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_pod_has_a_policy_of_its_own_for_both_directions(switch):
    rendered = RENDERED[switch]
    found = policies(rendered)
    for label, pod in pods(rendered).items():
        selecting = [
            p.name for p in found if p.selects(pod) and p.policy_types() == {"Ingress", "Egress"}
        ]
        assert "portico-default-deny" in selecting, label
        assert [name for name in selecting if name != "portico-default-deny"], label


def rules(policy: Policy) -> list[dict[str, Any]]:
    return [*(policy.spec.get("ingress") or []), *(policy.spec.get("egress") or [])]


def peers(policy: Policy) -> list[dict[str, Any]]:
    return [peer for r in rules(policy) for peer in (r.get("from") or []) + (r.get("to") or [])]


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_policy_selects_on_the_release_as_well_as_the_role(switch):
    rendered = RENDERED[switch]
    own_namespace = {"kubernetes.io/metadata.name": NAMESPACE}
    for policy in policies(rendered):
        for rule in rules(policy):
            # An empty (or null) peer list admits everyone: a rule meant for anyone has none.
            for key in ("from", "to"):
                assert rule.get(key, ["absent"]), (policy.name, rule)
        selector = policy.spec["podSelector"]
        assert selector["matchLabels"]["app.kubernetes.io/instance"] == "portico", policy.name
        for peer in peers(policy):
            if peer == OWN_GATEWAY or "ipBlock" in peer:
                continue  # the user's own peer (values), an address
            # A peer that can match this namespace's pods must name the release.
            namespace = peer.get("namespaceSelector")
            if namespace is None or namespace.get("matchLabels") == own_namespace:
                labels = peer["podSelector"]["matchLabels"]
                assert labels["app.kubernetes.io/instance"] == "portico", (policy.name, peer)
                assert "portico.dev/role" in labels, (policy.name, peer)


def test_without_network_policies_none_are_rendered():
    assert render({"networkPolicy": {"enabled": False}}).of_kind("NetworkPolicy") == []


# --- Two releases in one namespace ------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["defaults", "deployment"])
def test_no_pod_of_another_release_reaches_ours_but_through_kongs_front_door(cluster, request):
    c: Cluster = request.getfixturevalue(cluster)
    kong = c.pod("gateway")
    for label, destination in c.pods.items():
        for port in c.ports[label]:
            for source in c.other_pods.values():
                front_door = destination == kong and port == 8000
                # Their egress does not lead to us at all; our ingress admits them only there.
                assert not c.admits(source, destination, port), (source.name, label, port)
                assert ingress_allows(c.policies, source, destination, port, "TCP") == (
                    front_door
                ), (source.name, label, port)


def test_helm_tests_reach_kong_and_every_function_of_their_release(deployment):
    c = deployment
    for test in [p for p in c.pods.values() if role_of(p) == "test"]:
        assert c.admits(test, c.pod("gateway"), 8000), test.name
        for function in [p for p in c.pods.values() if role_of(p) == "function"]:
            assert c.admits(test, function, 8080), (test.name, function.name)
        assert not c.admits(test, c.other("function"), 8080)
        assert not c.admits(test, c.pod("postgres"), 5432)


def test_functions_admit_kong_of_their_release_only(deployment):
    c = deployment
    for function in [p for p in c.pods.values() if role_of(p) == "function"]:
        assert c.admits(c.pod("gateway"), function, 8080), function.name
        assert not ingress_allows(c.policies, c.other("gateway"), function, 8080, "TCP")
        for stranger in [IMPOSTOR, ELSEWHERE, NEIGHBOUR, KOURIER, MY_GATEWAY]:
            assert not c.admits(stranger, function, 8080), (stranger.name, function.name)
    assert not c.admits(c.pod("gateway"), c.other("function"), 8080)


def test_in_front_of_knative_kong_reaches_the_functions_through_kourier(defaults):
    c = defaults
    function = c.pod("function")
    assert c.admits(c.pod("gateway"), KOURIER, 8081)
    assert c.admits(KOURIER, function, 8012)  # the queue-proxy
    assert c.admits(ACTIVATOR, function, 8012)
    assert not c.admits(c.pod("gateway"), function, 8080)  # not needed: never directly
    for stranger in [IMPOSTOR, ELSEWHERE, NEIGHBOUR, KEDA_OPERATOR, c.other("gateway")]:
        assert not c.admits(stranger, function, 8012), stranger.name


@pytest.mark.parametrize("cluster", ["defaults", "deployment"])
def test_postgres_answers_this_releases_functions_workers_relay_and_migrations_only(
    cluster, request
):
    c: Cluster = request.getfixturevalue(cluster)
    postgres = c.pod("postgres")
    assert c.admits(c.pod("relay"), postgres, 5432)
    assert not ingress_allows(c.policies, c.other("relay"), postgres, 5432, "TCP")
    expected = {p.name for p in c.pods.values() if role_of(p) in ("function", "worker", "relay")}
    expected.add(c.pod("migrate").name)
    assert {p.name for p in c.everyone() if c.admits(p, postgres, 5432)} == expected
    # Postgres's own policy alone, whatever the callers' egress says.
    answered = {
        p.name for p in c.everyone() if ingress_allows(c.policies, p, postgres, 5432, "TCP")
    }
    assert answered == expected


def test_redis_answers_this_releases_components_kong_and_keda_only(defaults):
    c = defaults
    redis = c.pod("redis")
    expected = {
        p.name for p in c.pods.values() if role_of(p) in ("function", "worker", "relay", "gateway")
    } | {KEDA_OPERATOR.name}
    assert {p.name for p in c.everyone() if c.admits(p, redis, 6379)} == expected
    answered = {p.name for p in c.everyone() if ingress_allows(c.policies, p, redis, 6379, "TCP")}
    assert answered == expected


def test_each_component_reaches_what_it_needs_and_nothing_more(defaults):
    c = defaults
    postgres, redis, kong = c.pod("postgres"), c.pod("redis"), c.pod("gateway")
    needs = {
        "function": {"postgres", "redis"},
        "worker": {"postgres", "redis"},
        "relay": {"postgres", "redis"},
        "migrate": {"postgres"},
        "gateway": {"redis", "kourier"},
        "test": {"gateway", "kourier"},  # the API through Kong, each /readyz through Kourier
        "postgres": set(),
        "redis": set(),
    }
    destinations = {"postgres": postgres, "redis": redis, "gateway": kong, "kourier": KOURIER}
    ports = {"postgres": 5432, "redis": 6379, "gateway": 8000, "kourier": 8081}
    for source in c.pods.values():
        wanted = needs[role_of(source)]
        for name, destination in destinations.items():
            assert c.admits(source, destination, ports[name]) == (name in wanted), (
                source.name,
                name,
            )
        calls_out = bool(wanted)
        for protocol in ("UDP", "TCP"):
            assert c.admits(source, KUBE_DNS, 53, protocol) == calls_out, source.name
        assert not c.admits(source, INTERNET, 443), source.name
        assert not c.admits(source, KUBE_DNS, 443), source.name


def test_anyone_may_call_kongs_proxy_port_and_nothing_else_of_it(defaults):
    c = defaults
    kong = c.pod("gateway")
    for source in [INTERNET, NEIGHBOUR, ELSEWHERE, IMPOSTOR, c.pod("test")]:
        assert c.admits(source, kong, 8000), source.name
        assert not c.admits(source, kong, 8100), source.name
    # Kong's side admits anyone there; the other release's pods are held back by their own
    # egress (their test pod calls their Kong).
    assert ingress_allows(c.policies, c.other("test"), kong, 8000, "TCP")
    assert not c.admits(c.other("test"), kong, 8000)


# --- Switches ----------------------------------------------------------------------------------


def test_with_external_postgres_and_redis_the_pods_reach_them_on_their_ports():
    c = Cluster(EXTERNAL)
    database = Endpoint("database", None, ip="10.20.0.5")
    for role in ("function", "worker", "relay", "migrate"):
        assert c.admits(c.pod(role), database, 5432), role
        assert not c.admits(c.pod(role), database, 22), role
    for role in ("function", "worker", "relay", "gateway"):
        assert c.admits(c.pod(role), database, 6380), role
    assert not c.admits(c.pod("migrate"), database, 6380)

    limited = Cluster(
        {**EXTERNAL, "networkPolicy": {"externalDatabase": {"cidrs": ["10.20.0.0/24"]}}}
    )
    assert limited.admits(limited.pod("relay"), database, 5432)
    assert not limited.admits(limited.pod("relay"), Endpoint("x", None, ip="192.0.2.1"), 5432)


def test_without_kong_ones_own_gateway_is_admitted_to_the_functions():
    c = Cluster(SWITCHES["kong-off-runtime-deployment"])
    function = c.pod("function")
    assert c.admits(MY_GATEWAY, function, 8080)
    assert not c.admits(EDGE_OTHER, function, 8080)
    assert not c.admits(IMPOSTOR, function, 8080)


def test_without_kong_and_knative_the_chart_asks_for_ones_own_gateway():
    import helm_python

    values = {"kong": {"enabled": False}, "functions": {"runtime": "deployment"}}
    with pytest.raises(helm_python.HelmError, match=r"networkPolicy\.extraGatewaySelectors"):
        render(values)


def test_without_kong_in_front_of_knative_the_functions_still_answer_knative():
    c = Cluster(SWITCHES["kong-off"])
    assert c.admits(KOURIER, c.pod("function"), 8012)
    assert not c.admits(MY_GATEWAY, c.pod("function"), 8080)


def test_without_keda_redis_answers_no_keda():
    c = Cluster(SWITCHES["keda-off"])
    assert not c.admits(KEDA_OPERATOR, c.pod("redis"), 6379)


def test_metrics_scrapers_reach_the_metrics_ports_only():
    prometheus = Endpoint("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
    scraper = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    c = Cluster({"networkPolicy": {"metricsScrapers": [scraper]}})
    for role in ("function", "worker", "relay"):
        assert c.admits(prometheus, c.pod(role), 8080), role
    assert c.admits(prometheus, c.pod("gateway"), 8100)
    assert not c.admits(prometheus, c.pod("postgres"), 5432)
    assert not Cluster({}).admits(prometheus, c.pod("relay"), 8080)


# --- The evaluator itself ----------------------------------------------------------------------


def test_the_evaluator_reads_selectors_and_rules_as_kubernetes_does():
    def policy(spec: dict[str, Any]) -> list[Policy]:
        return [Policy("ns", {"metadata": {"name": "p"}, "spec": spec})]

    a = Endpoint("a", "ns", {"app": "a"})
    b = Endpoint("b", "ns", {"app": "b"})
    far = Endpoint("far", "far", {"app": "a"})
    only_a: dict[str, Any] = {
        "podSelector": {"matchLabels": {"app": "b"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}],
    }
    assert admits(policy(only_a), a, b, 80)
    assert not admits(policy(only_a), far, b, 80)  # a podSelector alone: this namespace
    deny = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert not admits(policy(deny), a, b, 80) and not egress_allows(policy(deny), a, far, 1, "TCP")
    anyone_on_80 = {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}
    assert admits(policy(anyone_on_80), far, b, 80) and not admits(policy(anyone_on_80), a, b, 81)
    assert admits(policy(anyone_on_80), a, far, 81)  # no policy in "far": not isolated
    both = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "far"}},
        "podSelector": {"matchLabels": {"app": "a"}},
    }
    egress = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [both]}]}
    assert egress_allows(policy(egress), b, far, 1, "TCP")
    assert not egress_allows(policy(egress), b, Endpoint("z", "far", {"app": "z"}), 1, "TCP")
    assert not egress_allows(policy(egress), b, a, 1, "TCP")
    expressions = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    assert policy({"podSelector": expressions})[0].selects(a)
    assert not policy({"podSelector": expressions})[0].selects(Endpoint("n", "ns", {}))


def test_pod_templates_are_the_workloads_the_chart_renders():
    labels = {label for label, _, _ in pod_templates(RENDERED["defaults"])}
    assert {"Deployment/portico-kong", "StatefulSet/portico-postgres", "Job/portico-migrate-1"} <= (
        labels
    )
