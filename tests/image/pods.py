"""A rendered pod spec as `docker run` arguments: what the kubelet would do with each field.

Every field the chart sets is either honoured here (user, read-only root, capabilities,
no-new-privileges, seccomp, limits, env from values, Secrets and ConfigMaps, volumes, ports,
probes, the grace period) or refused with `Unsupported`, so a chart value the image tier cannot
apply fails a test instead of being dropped without a word.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chart.helm import Rendered

# The kubelet's own defaults for what a pod spec leaves out.
DEFAULT_GRACE_SECONDS = 30
KNATIVE_DEFAULT_PORT = 8080
MEMORY = Path("/dev/shm")  # a tmpfs on every Linux host

POD_FIELDS = {
    "containers", "initContainers", "securityContext", "serviceAccountName",
    "automountServiceAccountToken", "terminationGracePeriodSeconds", "restartPolicy",
    "imagePullSecrets", "volumes",
    # Knative's revision fields: the queue-proxy's business, not the container's.
    "containerConcurrency", "timeoutSeconds",
}  # fmt: skip
CONTAINER_FIELDS = {
    "name", "image", "imagePullPolicy", "command", "args", "env", "ports", "readinessProbe",
    "livenessProbe", "startupProbe", "resources", "securityContext", "volumeMounts",
    "workingDir",
}  # fmt: skip
SECURITY_FIELDS = {
    "runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "supplementalGroups",
    "allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities", "seccompProfile",
    "privileged",
}  # fmt: skip


class Unsupported(Exception):
    """A pod spec field the image tier cannot apply the way a kubelet would."""


@dataclass(frozen=True)
class Probe:
    kind: str  # readiness, liveness, startup
    path: str
    port: int
    period_seconds: int
    failure_threshold: int


@dataclass(frozen=True)
class Workload:
    """One container of one rendered pod template."""

    label: str  # kind/name, e.g. Deployment/portico-submit-claim
    pod: dict[str, Any]
    container: dict[str, Any]
    init: bool
    labels: dict[str, str]  # the pod's

    @property
    def id(self) -> str:
        return f"{self.label}:{self.container['name']}"

    @property
    def role(self) -> str:
        """What PORTICO_FUNCTION makes of it."""
        function = self.env_value("PORTICO_FUNCTION")
        command = " ".join(self.container.get("command", []))
        if "kong-config" in command:
            return "kong config (init container)"
        if function in ("relay", "migrate"):
            return function
        role = self.labels.get("portico.dev/role", "?")
        return {"function": "http function", "worker": "queue worker"}.get(role, role)

    @property
    def is_knative(self) -> bool:
        return self.label.startswith("KnativeService/")

    @property
    def grace_seconds(self) -> int:
        return int(self.pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))

    def env_value(self, name: str) -> str | None:
        for entry in self.container.get("env", []):
            if entry["name"] == name and "value" in entry:
                return str(entry["value"])
        return None

    @property
    def ports(self) -> list[int]:
        ports = [int(p["containerPort"]) for p in self.container.get("ports", [])]
        return ports or ([KNATIVE_DEFAULT_PORT] if self.is_knative else [])

    def probes(self) -> list[Probe]:
        found = []
        for kind in ("startup", "readiness", "liveness"):
            spec = self.container.get(f"{kind}Probe")
            if spec is None:
                continue
            if set(spec) - {"httpGet", "periodSeconds", "failureThreshold", "initialDelaySeconds"}:
                raise Unsupported(f"{self.id}: {kind}Probe fields {sorted(spec)}")
            http = spec["httpGet"]
            found.append(
                Probe(
                    kind,
                    http["path"],
                    self._port(http.get("port")),
                    int(spec.get("periodSeconds", 10)),
                    int(spec.get("failureThreshold", 3)),
                )
            )
        return found

    def _port(self, port: int | str | None) -> int:
        if port is None:  # Knative: the queue-proxy probes the container's one port
            return self.ports[0]
        if isinstance(port, int):
            return port
        for entry in self.container.get("ports", []):
            if entry.get("name") == port:
                return int(entry["containerPort"])
        raise Unsupported(f"{self.id}: probe names the port {port!r}, which is not declared")


def workloads(rendered: Rendered, image: str) -> list[Workload]:
    """Every container of the release that runs the function image."""
    found = []
    for o in rendered.objects:
        if o["kind"] == "Pod":
            pod, labels = o["spec"], o["metadata"].get("labels", {})
            label = f"Pod/{o['metadata']['name']}"
        elif o["kind"] in ("Deployment", "StatefulSet", "Job") or _is_knative(o):
            template = o["spec"]["template"]
            pod, labels = template["spec"], template["metadata"].get("labels", {})
            kind = "KnativeService" if _is_knative(o) else o["kind"]
            label = f"{kind}/{o['metadata']['name']}"
        else:
            continue
        for init, key in ((True, "initContainers"), (False, "containers")):
            for container in pod.get(key, []):
                if container["image"] == image:
                    found.append(Workload(label, pod, container, init, labels))
    return found


def _is_knative(o: Mapping[str, Any]) -> bool:
    return o["kind"] == "Service" and str(o["apiVersion"]).startswith("serving.knative.dev")


class Cluster:
    """What a kubelet reads besides the pod spec: the Secrets and ConfigMaps of the release
    (rendered) and of the user (given), and a folder for volumes."""

    def __init__(
        self, rendered: Rendered, secrets: Mapping[str, Mapping[str, str]], scratch: Path
    ) -> None:
        self.secrets: dict[str, dict[str, str]] = {
            o["metadata"]["name"]: _secret_data(o) for o in rendered.of_kind("Secret")
        }
        self.secrets.update({name: dict(data) for name, data in secrets.items()})
        self.config_maps: dict[str, dict[str, str]] = {
            o["metadata"]["name"]: dict(o.get("data", {})) for o in rendered.of_kind("ConfigMap")
        }
        self.scratch = scratch
        self.memory_scratch = MEMORY / scratch.name

    def run_args(self, workload: Workload, image_user: str, pod_name: str) -> list[str]:
        """`docker run` options, the image and its arguments, for one container."""
        pod, container = workload.pod, workload.container
        _refuse_unknown(workload.id, "pod", pod, POD_FIELDS)
        _refuse_unknown(workload.id, "container", container, CONTAINER_FIELDS)
        if pod.get("automountServiceAccountToken", True):
            raise Unsupported(f"{workload.id}: a service account token (no API server here)")
        args = ["--hostname", pod_name[:63]]
        args += self._security(workload, image_user)
        args += _resources(workload.id, container.get("resources", {}))
        args += self._env(workload)
        args += self._volumes(workload, pod_name)
        if "workingDir" in container:
            args += ["--workdir", container["workingDir"]]
        command = list(container.get("command", []))
        if command:
            args += ["--entrypoint", command[0]]
        return [*args, container["image"], *command[1:], *container.get("args", [])]

    def _security(self, workload: Workload, image_user: str) -> list[str]:
        pod_level = workload.pod.get("securityContext", {})
        own = workload.container.get("securityContext", {})
        for where, context in (("pod", pod_level), ("container", own)):
            _refuse_unknown(workload.id, f"{where} securityContext", context, SECURITY_FIELDS)
        merged = {**pod_level, **own}  # the container's own settings win, as in Kubernetes
        if merged.get("privileged"):
            raise Unsupported(f"{workload.id}: privileged")
        args: list[str] = []
        user = merged.get("runAsUser")
        group = merged.get("runAsGroup")
        if user is not None:
            args += ["--user", f"{user}:{group}" if group is not None else str(user)]
        if merged.get("runAsNonRoot"):
            _check_non_root(workload.id, user, image_user)
        for gid in [pod_level.get("fsGroup"), *pod_level.get("supplementalGroups", [])]:
            if gid is not None:
                args += ["--group-add", str(gid)]
        if merged.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        if merged.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        capabilities = merged.get("capabilities", {})
        args += [f"--cap-drop={c}" for c in capabilities.get("drop", [])]
        args += [f"--cap-add={c}" for c in capabilities.get("add", [])]
        seccomp = merged.get("seccompProfile", {}).get("type", "RuntimeDefault")
        if seccomp == "Unconfined":
            args += ["--security-opt", "seccomp=unconfined"]
        elif seccomp != "RuntimeDefault":  # Docker's default profile is the runtime's default
            raise Unsupported(f"{workload.id}: seccompProfile {seccomp}")
        return args

    def _env(self, workload: Workload) -> list[str]:
        environment: dict[str, str] = {}
        if workload.is_knative:  # Knative's runtime contract
            name = workload.label.split("/", 1)[1]
            environment |= {
                "PORT": str(workload.ports[0]),
                "K_SERVICE": name,
                "K_CONFIGURATION": name,
                "K_REVISION": f"{name}-00001",
            }
        for entry in workload.container.get("env", []):
            environment[entry["name"]] = self._env_value(workload.id, entry)
        return [f"--env={name}={value}" for name, value in environment.items()]

    def _env_value(self, where: str, entry: Mapping[str, Any]) -> str:
        if "value" in entry:
            return str(entry["value"])
        source = entry.get("valueFrom", {})
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            return self._key(where, "Secret", self.secrets, ref["name"], ref["key"])
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            return self._key(where, "ConfigMap", self.config_maps, ref["name"], ref["key"])
        raise Unsupported(f"{where}: env {entry['name']} from {sorted(source)}")

    @staticmethod
    def _key(
        where: str, kind: str, found: Mapping[str, Mapping[str, str]], name: str, key: str
    ) -> str:
        if name not in found or key not in found[name]:
            raise KeyError(f"{where}: {kind} {name} has no key {key} (have: {sorted(found)})")
        return found[name][key]

    def _volumes(self, workload: Workload, pod_name: str) -> list[str]:
        volumes = {v["name"]: v for v in workload.pod.get("volumes", [])}
        fs_group = workload.pod.get("securityContext", {}).get("fsGroup")
        args = []
        for mount in workload.container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            source = self._folder(volume, pod_name)
            if not source.exists():  # one folder per volume and pod, shared by its containers
                self._fill(workload.id, volume, source, fs_group)
            read_only = ",readonly" if mount.get("readOnly") else ""
            args.append(
                f"--mount=type=bind,source={source},destination={mount['mountPath']}{read_only}"
            )
        return args

    def volume_folder(self, workload: Workload, pod_name: str, name: str) -> Path:
        """The host folder behind one of a pod's volumes."""
        [volume] = [v for v in workload.pod.get("volumes", []) if v["name"] == name]
        return self._folder(volume, pod_name)

    def _folder(self, volume: Mapping[str, Any], pod_name: str) -> Path:
        """Where a volume lives: a memory-backed emptyDir on this host's tmpfs, as a node's."""
        name = str(volume["name"])
        if volume.get("emptyDir", {}).get("medium") == "Memory":
            return self.memory_scratch / pod_name / name
        return self.scratch / pod_name / name

    def _fill(self, where: str, volume: Mapping[str, Any], source: Path, fs_group: Any) -> None:
        source.mkdir(parents=True)
        if "emptyDir" in volume:
            if set(volume["emptyDir"]) - {"medium", "sizeLimit"}:
                raise Unsupported(f"{where}: emptyDir {volume['emptyDir']}")
        elif "configMap" in volume:
            data = self.config_maps[volume["configMap"]["name"]]
            _write_items(source, data, volume["configMap"].get("items"))
        elif "secret" in volume:
            data = self.secrets[volume["secret"]["secretName"]]
            _write_items(source, data, volume["secret"].get("items"))
        else:
            raise Unsupported(f"{where}: volume {sorted(volume)}")
        _own_by_group(source, fs_group)


def pod_name(workload: Workload, suffix: str) -> str:
    base = re.sub(r"[^a-z0-9-]", "-", workload.label.split("/", 1)[1].lower())
    return f"portico-image-{base}-{suffix}"


def _refuse_unknown(where: str, what: str, spec: Mapping[str, Any], known: set[str]) -> None:
    unknown = set(spec) - known
    if unknown:
        raise Unsupported(f"{where}: {what} fields {sorted(unknown)} are not applied here")


def _check_non_root(where: str, user: Any, image_user: str) -> None:
    """The kubelet's runAsNonRoot check: the uid that will run must be known and not 0."""
    uid = user if user is not None else image_user.split(":", 1)[0]
    if not str(uid).isdigit():
        raise AssertionError(f"{where}: runAsNonRoot with a non-numeric user {uid!r}")
    if int(uid) == 0:
        raise AssertionError(f"{where}: runAsNonRoot, but the container would run as root")


def _resources(where: str, resources: Mapping[str, Any]) -> list[str]:
    if set(resources) - {"requests", "limits"}:
        raise Unsupported(f"{where}: resources {sorted(resources)}")
    limits = resources.get("limits", {})
    if set(limits) - {"cpu", "memory"} or set(resources.get("requests", {})) - {"cpu", "memory"}:
        raise Unsupported(f"{where}: resources {resources}")
    args = []
    if "memory" in limits:
        limit = memory_bytes(limits["memory"])
        args += [f"--memory={limit}", f"--memory-swap={limit}"]  # no swap, as on a node
    if "cpu" in limits:
        args.append(f"--cpus={cpu_cores(limits['cpu'])}")
    return args


_UNITS = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "k": 10**3, "M": 10**6, "G": 10**9, "": 1,
}  # fmt: skip


def memory_bytes(quantity: str | int) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|K|k|M|G|)", str(quantity))
    if match is None:
        raise Unsupported(f"memory quantity {quantity!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def cpu_cores(quantity: str | int | float) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return data | {k: str(v) for k, v in secret.get("stringData", {}).items()}


def _write_items(folder: Path, data: Mapping[str, str], items: Any) -> None:
    paths = {i["key"]: i["path"] for i in items} if items else {key: key for key in data}
    for key, path in paths.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[key])
        target.chmod(0o644)  # the kubelet's defaultMode 0644


def _own_by_group(folder: Path, gid: Any) -> None:
    """What fsGroup does to a volume: group-owned, its folders group-writable and set-gid. Not
    root (a user's laptop), the folders are made writable for everyone instead."""
    for path in [folder, *folder.rglob("*")]:
        try:
            if gid is None:
                raise PermissionError
            shutil.chown(path, group=int(gid))
            if path.is_dir():
                path.chmod(0o2775)
        except PermissionError:
            if path.is_dir():
                path.chmod(0o777)
