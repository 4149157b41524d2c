"""A small evaluator of Kubernetes NetworkPolicies, as the API documents their semantics, for
the chart tests: is a connection from one endpoint to another's port admitted by the egress
rules of the source and the ingress rules of the destination?

- A pod is isolated for a direction when some policy in its namespace selects it and lists that
  direction in policyTypes (Ingress always, Egress when the policy has egress rules and no
  policyTypes); an isolated pod admits what the union of those policies' rules admits.
- A rule with no (or empty) ports matches every port; with no (or empty) peers, every peer.
- A peer with a podSelector alone means pods of the policy's own namespace; a namespaceSelector
  alone, every pod of the matching namespaces; both, the matching pods of those namespaces; an
  ipBlock, the addresses in it (and so, here, only endpoints given an address).
- Traffic from outside the cluster has no egress policy; policies in other namespaces are given
  like any other.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """A pod (a namespace and labels) or, with namespace None, an address outside the cluster.
    `ip` matters only to ipBlock peers."""

    name: str
    namespace: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


@dataclass(frozen=True)
class Policy:
    namespace: str
    manifest: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def spec(self) -> Mapping[str, Any]:
        spec: Mapping[str, Any] = self.manifest["spec"]
        return spec

    def policy_types(self) -> set[str]:
        if "policyTypes" in self.spec:
            return set(self.spec["policyTypes"])
        return {"Ingress", "Egress"} if "egress" in self.spec else {"Ingress"}

    def selects(self, endpoint: Endpoint) -> bool:
        return endpoint.namespace == self.namespace and selector_matches(
            self.spec["podSelector"], endpoint.labels
        )


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: matchLabels and matchExpressions, all of them (an empty one matches
    everything)."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {operator!r}")
    return True


def peer_matches(policy_namespace: str, peer: Mapping[str, Any], endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        if endpoint.ip is None:
            return False
        address = ipaddress.ip_address(endpoint.ip)
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
    if not endpoint.is_pod:
        return False
    assert endpoint.namespace is not None
    if "namespaceSelector" in peer:
        namespace_labels = {NAMESPACE_NAME: endpoint.namespace}
        if not selector_matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selector_matches(peer["podSelector"], endpoint.labels)


def port_matches(ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        number = entry["port"]
        if not isinstance(number, int):
            raise ValueError(f"named port {number!r}: the evaluator needs numbers")
        if number <= port <= entry.get("endPort", number):
            return True
    return False


def rule_admits(
    policy: Policy,
    rule: Mapping[str, Any],
    peers_key: str,
    other: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    if not port_matches(rule.get("ports"), port, protocol):
        return False
    peers = rule.get(peers_key) or []
    return not peers or any(peer_matches(policy.namespace, p, other) for p in peers)


def _admitted(
    policies: Iterable[Policy],
    subject: Endpoint,
    other: Endpoint,
    port: int,
    protocol: str,
    direction: str,
) -> bool:
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolating = [p for p in policies if p.selects(subject) and direction in p.policy_types()]
    if not isolating:
        return True
    return any(
        rule_admits(p, rule, peers_key, other, port, protocol)
        for p in isolating
        for rule in p.spec.get(rules_key) or []
    )


def egress_allows(
    policies: Iterable[Policy], source: Endpoint, destination: Endpoint, port: int, protocol: str
) -> bool:
    if not source.is_pod:
        return True
    return _admitted(policies, source, destination, port, protocol, "Egress")


def ingress_allows(
    policies: Iterable[Policy], source: Endpoint, destination: Endpoint, port: int, protocol: str
) -> bool:
    if not destination.is_pod:
        return True
    return _admitted(policies, destination, source, port, protocol, "Ingress")


def admits(
    policies: Sequence[Policy],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Both ends agree: the source's egress and the destination's ingress."""
    return egress_allows(policies, source, destination, port, protocol) and ingress_allows(
        policies, source, destination, port, protocol
    )
