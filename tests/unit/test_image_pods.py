"""The image tier's pod-spec translation (tests/image/pods.py), which runs without Docker: every
field the chart sets becomes a `docker run` option, and a field it cannot apply is refused."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.image.docker import IMAGE
from tests.image.pods import Cluster, Unsupported, Workload, cpu_cores, memory_bytes
from tests.image.release import RELEASES, WORKLOADS, workload

SECRETS = {
    "image-tests-db": {"DATABASE_URL": "postgresql://portico@10.0.0.1:5432/portico"},
    "image-tests-redis": {"REDIS_URL": "redis://10.0.0.1:6379/0", "REDIS_ADDRESS": "10.0.0.1:6379"},
}


def cluster(tmp_path: Path, runtime: str = "deployment") -> Cluster:
    return Cluster(RELEASES[runtime], SECRETS, tmp_path)


def test_a_function_deployment_becomes_the_kubelets_docker_options(tmp_path: Path) -> None:
    submit = workload("deployment", "Deployment/portico-submit-claim")
    args = cluster(tmp_path).run_args(submit, "10001:10001", "pod")
    assert args[-1] == IMAGE, "no command: the image's own entrypoint"
    for option in (
        "--user", "10001:10001", "--read-only", "--cap-drop=ALL", "--group-add",
        "--security-opt", "no-new-privileges",
        "--env=PORTICO_FUNCTION=submit-claim",
        "--env=DATABASE_URL=postgresql://portico@10.0.0.1:5432/portico",
    ):  # fmt: skip
        assert option in args, option
    memory = submit.container["resources"]["limits"]["memory"]
    assert f"--memory={memory_bytes(memory)}" in args
    secret = [a for a in args if a.startswith("--env=PORTICO_GATEWAY_SECRET=")]
    assert secret and len(secret[0]) > len("--env=PORTICO_GATEWAY_SECRET=") + 20


def test_a_command_replaces_the_entrypoint_and_args_follow_the_image(tmp_path: Path) -> None:
    init = workload("deployment", "Deployment/portico-kong", "config")
    args = cluster(tmp_path).run_args(init, "10001:10001", "pod")
    assert args[args.index("--entrypoint") + 1] == "portico"
    assert args[args.index(IMAGE) + 1 :][:2] == ["kong-config", "/config/kong.yaml"]
    mounts = [a for a in args if a.startswith("--mount=")]
    assert any("destination=/config,readonly" in m for m in mounts)
    config = next(m for m in mounts if "destination=/config" in m)
    source = Path(config.split("source=")[1].split(",")[0])
    assert (source / "kong.yaml").is_file(), "the ConfigMap's files are in the volume"


def test_knative_gets_the_port_and_names_its_runtime_contract_promises(tmp_path: Path) -> None:
    [knative] = [w for w in WORKLOADS["knative"] if w.label == "KnativeService/portico-get-claim"]
    args = cluster(tmp_path, "knative").run_args(knative, "10001:10001", "pod")
    assert "--env=PORT=8080" in args and "--env=K_SERVICE=portico-get-claim" in args
    assert {p.port for p in knative.probes()} == {8080}


def test_a_field_it_cannot_apply_is_refused_not_dropped(tmp_path: Path) -> None:
    submit = workload("deployment", "Deployment/portico-submit-claim")
    for where, field in (("container", "lifecycle"), ("pod", "hostNetwork")):
        changed = copy.deepcopy(submit)
        target = changed.container if where == "container" else changed.pod
        target[field] = {"preStop": {}} if field == "lifecycle" else True
        with pytest.raises(Unsupported, match=field):
            cluster(tmp_path).run_args(changed, "10001:10001", f"pod-{field}")


def test_run_as_non_root_is_checked_as_the_kubelet_does(tmp_path: Path) -> None:
    submit = workload("deployment", "Deployment/portico-submit-claim")
    rooted = Workload(
        submit.label,
        {**submit.pod, "securityContext": {"runAsNonRoot": True}},
        {**submit.container, "securityContext": {"runAsNonRoot": True}},
        submit.init,
        submit.labels,
    )
    with pytest.raises(AssertionError, match="root"):
        cluster(tmp_path).run_args(rooted, "0", "pod-root")
    with pytest.raises(AssertionError, match="non-numeric"):
        cluster(tmp_path).run_args(rooted, "portico", "pod-named")
    assert "--user" not in cluster(tmp_path).run_args(rooted, "10001:10001", "pod-image-user")


def test_a_missing_secret_key_is_named() -> None:
    submit = workload("deployment", "Deployment/portico-submit-claim")
    with pytest.raises(KeyError, match="image-tests-db"):
        Cluster(RELEASES["deployment"], {}, Path("/nonexistent")).run_args(submit, "1:1", "p")


def test_quantities() -> None:
    assert memory_bytes("256Mi") == 256 * 2**20
    assert memory_bytes("1G") == 10**9
    assert cpu_cores("500m") == 0.5 and cpu_cores("2") == 2.0
    with pytest.raises(Unsupported):
        memory_bytes("1.5Gi")
