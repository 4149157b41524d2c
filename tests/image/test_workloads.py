"""Each workload of the chart, run from its own pod spec: it starts, its probes pass, it serves
/metrics where it should, as the user and with the filesystem the spec says."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import psycopg
import pytest
import yaml

from tests.image.conftest import RAN, Backends, Kubelet, Release
from tests.image.pods import Workload
from tests.image.release import WORKLOADS, workload

pytestmark = pytest.mark.timeout(600)

DEPLOYMENTS = [
    w.label for w in WORKLOADS["deployment"] if w.label.startswith("Deployment/") and not w.init
]
KNATIVE = [w for w in WORKLOADS["knative"] if w.is_knative]


def test_the_migrations_job_migrates_and_seeds_then_exits_0(release: Release) -> None:
    with psycopg.connect(release.backends.database_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
        policies = {r[0] for r in conn.execute("SELECT policy_id FROM policies")}
    assert {"claims", "claim_events", "portico_outbox", "portico_idempotency_keys"} <= tables
    assert {"P-1001", "P-1002", "P-2001"} <= policies
    assert "applied: portico-0001-reliability" in release.migrate.container.logs()


@pytest.mark.parametrize("label", DEPLOYMENTS)
def test_every_deployment_passes_its_probes_and_serves_metrics(
    release: Release, label: str
) -> None:
    pod = release.pods[label]
    function = pod.workload.env_value("PORTICO_FUNCTION")
    for probe in pod.workload.probes():
        response = pod.probe(probe)
        assert response.status_code == 200, (probe, response.text, pod.container.logs()[-3000:])
        assert response.json()["function"] == function, (probe, response.text)
    metrics = httpx.get(pod.url("/metrics"), timeout=5)
    assert metrics.status_code == 200
    assert "# TYPE" in metrics.text and metrics.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("label", DEPLOYMENTS)
def test_every_container_runs_as_the_pod_specs_user_and_groups(
    release: Release, label: str
) -> None:
    pod = release.pods[label]
    context = {**pod.workload.pod["securityContext"], **pod.workload.container["securityContext"]}
    status = pod.container.exec("cat", "/proc/1/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["Uid"].split()[0] == str(context["runAsUser"])
    assert fields["Gid"].split()[0] == str(context["runAsGroup"])
    assert str(context["fsGroup"]) in fields["Groups"].split()
    assert int(fields["CapEff"], 16) == 0, "capabilities: drop ALL leaves none"
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2", "the runtime's default seccomp filter"


@pytest.mark.parametrize("label", DEPLOYMENTS)
def test_the_root_filesystem_is_read_only_and_tmp_files_go_to_dev_shm(
    release: Release, label: str
) -> None:
    pod = release.pods[label]
    refused = pod.container.exec("python", "-c", "open('/app/written', 'w')")
    assert "Read-only file system" in refused.stderr
    tmp = pod.container.exec("python", "-c", "import tempfile; print(tempfile.gettempdir())")
    assert tmp.stdout.strip() == "/dev/shm"


@pytest.mark.parametrize("label", DEPLOYMENTS)
def test_probes_are_not_logged(release: Release, label: str) -> None:
    """A readiness probe every 5 s must not be a log line every 5 s."""
    pod = release.pods[label]
    for _ in range(3):
        for probe in pod.workload.probes():
            pod.probe(probe)
    lines = pod.container.logs().splitlines()
    assert lines, "the container logs its start"
    assert not [line for line in lines if "/readyz" in line or "/healthz" in line]


@pytest.mark.parametrize("knative", KNATIVE, ids=[w.label for w in KNATIVE])
def test_every_knative_function_serves_on_the_port_knative_gives_it(
    make_backends: Callable[[str, int], Backends],
    make_kubelet: Callable[[str, Backends], Kubelet],
    release: Release,
    knative: Workload,
) -> None:
    """Knative sets PORT to the containerPort and probes it through the queue-proxy."""
    kubelet = make_kubelet("knative", release.backends)
    pod = kubelet.start(knative, "knative")
    seconds = pod.wait_ready()
    for probe in knative.probes():
        assert pod.probe(probe).status_code == 200
    exit_code = pod.container.stop(knative.grace_seconds)
    assert exit_code == 0, pod.container.logs()
    RAN.append(f"{knative.id} ({knative.role}): ready in {seconds:.1f} s, SIGTERM exit 0")


def test_kongs_init_container_writes_the_full_config_with_the_gateway_secret(
    make_kubelet: Callable[[str, Backends], Kubelet], release: Release
) -> None:
    init = workload("deployment", "Deployment/portico-kong", "config")
    kubelet = make_kubelet("deployment", release.backends)
    pod = kubelet.run_to_completion(init, "kong-config")
    [output] = [m for m in init.container["volumeMounts"] if m["name"] == "declarative"]
    written = kubelet.cluster.volume_folder(init, pod.container.name, "declarative") / "kong.yaml"
    config = yaml.safe_load(written.read_text())
    secret = kubelet.cluster.secrets["portico-gateway"]["PORTICO_GATEWAY_SECRET"]
    text = json.dumps(config)
    assert output["mountPath"] == "/kong"
    assert "vault://" not in text and secret in text
    assert {c["username"] for c in config["consumers"]} >= {"alice", "bob"}
    RAN.append(f"{init.id} ({init.role}): wrote /kong/kong.yaml, exit 0")
