"""The kind cluster as the e2e tests see it: Kong's base URL for requests, kubectl for pods.

Pod counts come from `kubectl get pods -o json`; a pod that is terminating (it has a
deletionTimestamp) or finished no longer counts, since it no longer receives work. A function's
objects and pods are found by the chart's labels (the release and the function's name as its
app.kubernetes.io/component), not by object names, which the release's name decides.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support import wait_until

NAMESPACE = "portico"
RELEASE = "portico"
POLL_SECONDS = 1.0
SETUP_HINT = (
    "run `make kind-up images kind-load deploy e2e` on a machine with docker, kind, kubectl "
    "and helm (see kind/README.md)"
)
FIGURES: list[str] = []  # printed at the end of the run by tests/e2e/conftest.py


@dataclass(frozen=True)
class Cluster:
    base_url: str
    namespace: str = NAMESPACE
    context: str | None = None
    release: str = RELEASE

    def of(self, component: str) -> str:
        """The label selector of a component of the release (a function's name, kong, ...)."""
        return f"app.kubernetes.io/instance={self.release},app.kubernetes.io/component={component}"

    def named(self, kind: str, component: str) -> str:
        """The release's one object of a kind for a component, as kind/name; fails saying what
        was found when there is not exactly one (e.g. not deployed)."""
        found = self.kubectl("get", kind, "-l", self.of(component), "-o", "name").split()
        if len(found) != 1:
            raise AssertionError(
                f"expected one {kind} labelled {self.of(component)} in {self.namespace}, "
                f"found {found or 'none'}: is release {self.release} deployed (make deploy)?"
            )
        return found[0]

    def kubectl(self, *args: str, timeout_s: float = 30) -> str:
        command = [*kubectl_base(self.context), "-n", self.namespace, *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if result.returncode != 0:
            raise AssertionError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
        return result.stdout

    def live_pods(self, selector: str) -> list[str]:
        listing = json.loads(self.kubectl("get", "pods", "-l", selector, "-o", "json"))
        return [pod["metadata"]["name"] for pod in listing["items"] if is_live(pod)]

    def describe(self, selector: str, *extra: str) -> str:
        """What a reader of a failure needs: the pods, and any extra objects (e.g. the
        ScaledObject) as `kubectl get` shows them."""
        shown = [self.shown("get", "pods", "-l", selector, "-o", "wide")]
        return "\n".join([*shown, self.shown("get", *extra)] if extra else shown)

    def shown(self, *args: str) -> str:
        """kubectl's output, or why there is none; for failure messages, so it never raises."""
        try:
            return self.kubectl(*args).strip() or "(none)"
        except (AssertionError, subprocess.TimeoutExpired) as error:
            return str(error)


def kubectl_base(context: str | None) -> list[str]:
    return ["kubectl", *(["--context", context] if context else [])]


def is_live(pod: Mapping[str, Any]) -> bool:
    terminating = pod["metadata"].get("deletionTimestamp") is not None
    return not terminating and pod.get("status", {}).get("phase") in ("Pending", "Running")


def wait_for_pods(
    cluster: Cluster,
    selector: str,
    wanted: Callable[[int], bool],
    description: str,
    timeout_s: float,
    *describe_also: str,
) -> float:
    """Poll until the number of live pods matching `selector` satisfies `wanted`; return the
    seconds it took. On timeout, fail with the pods (and `describe_also` objects) shown."""
    started = time.monotonic()
    pods: list[str] = []

    def enough() -> bool:
        pods[:] = cluster.live_pods(selector)
        return wanted(len(pods))

    wait_until(
        enough,
        timeout_s,
        f"{description} ({selector})",
        interval=POLL_SECONDS,
        details=lambda: (
            f"still {len(pods)} live pod(s): {pods}\n{cluster.describe(selector, *describe_also)}"
        ),
    )
    return time.monotonic() - started


def report(line: str) -> None:
    FIGURES.append(line)
    print(f"\n[e2e] {line}", flush=True)


def missing_for_e2e(environ: Mapping[str, str]) -> list[str]:
    """Everything that stops the e2e tests from running here, in words; empty when nothing."""
    missing = []
    if not environ.get("PORTICO_E2E_BASE_URL"):
        missing.append("PORTICO_E2E_BASE_URL is not set (Kong's URL, e.g. http://localhost:32080)")
    if shutil.which("kubectl") is None:
        return [*missing, "kubectl is not installed (not on PATH)"]
    context = environ.get("PORTICO_E2E_KUBE_CONTEXT") or None
    unreachable = kubectl_failure(context, "version", "--request-timeout=5s")
    if unreachable:
        return [*missing, f"kubectl cannot reach a cluster ({unreachable})"]
    namespace = environ.get("PORTICO_E2E_NAMESPACE", NAMESPACE)
    if kubectl_failure(context, "get", "namespace", namespace, "--request-timeout=5s"):
        missing.append(f"namespace {namespace} not found: Portico is not deployed (make deploy)")
    return missing


def kubectl_failure(context: str | None, *args: str) -> str | None:
    """None when the kubectl command succeeds, else the last line of what it said."""
    command = [*kubectl_base(context), *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(command)}` did not answer within 20 s"
    if result.returncode == 0:
        return None
    said = (result.stderr or result.stdout).strip().splitlines()
    return said[-1] if said else f"exit status {result.returncode}"
