"""The image tier: the function image, built by `make image`'s script, run as the chart's pod
specs say, against the host's Postgres and Redis.

Needs a Docker engine (Linux, the containers on a bridge network whose gateway is this host);
without one every test here is skipped and the run says why in one line. Each container is a
pod: its own network address, the chart's user, filesystem, capabilities, limits, environment,
volumes and grace period, probed on the paths and ports its probes name.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from psycopg import sql

from bench.containers import missing_engine
from tests.conftest import Services, scratch_dir
from tests.image.docker import (
    IMAGE,
    Container,
    NoBaseImage,
    build_image,
    docker,
    image_user,
)
from tests.image.pods import Cluster, Probe, Workload, pod_name
from tests.image.release import DB_SECRET, REDIS_SECRET, RELEASES, WORKLOADS
from tests.image.services import Address, Forwarder
from tests.support import wait_until

READY_WITHIN_S = 60.0
RAN: list[str] = []  # what the tier ran, for the summary line


def _missing() -> str | None:
    if os.environ.get("PORTICO_IMAGE_TESTS") == "0":
        return "PORTICO_IMAGE_TESTS=0"
    return missing_engine()


_MISSING = _missing()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _MISSING is None:
        return
    skip = pytest.mark.skip(reason=f"image tier: {_MISSING}")
    for item in items:
        if "tests/image/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _MISSING is not None:
        terminalreporter.write_line(f"image tier skipped: {_MISSING}")
    elif RAN:
        terminalreporter.write_line(f"image tier ran {IMAGE}:")
        for line in RAN:
            terminalreporter.write_line(f"  {line}")


# --- the engine, the image and the network ----------------------------------------------------


@pytest.fixture(scope="session")
def image() -> str:
    started = time.monotonic()
    try:
        build_image(IMAGE)
    except NoBaseImage as missing:
        pytest.skip(f"image tier: no base image: {missing}")
    size = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout) / 1e6
    RAN.append(f"built with docker/build.sh in {time.monotonic() - started:.0f} s, {size:.0f} MB")
    return IMAGE


@dataclass(frozen=True)
class Network:
    name: str
    gateway: str  # this host, as the containers see it


@pytest.fixture(scope="session")
def network(image: str) -> Iterator[Network]:
    name = f"portico-image-tests-{os.getpid()}"
    # No masquerading or iptables rules: containers talk to this host (its gateway) only.
    docker(
        "network", "create", "--driver", "bridge",
        "--opt", "com.docker.network.bridge.enable_ip_masquerade=false", name,
    )  # fmt: skip
    inspected = docker("network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", name)
    try:
        yield Network(name, inspected.stdout.strip())
    finally:
        docker("network", "rm", name, check=False)


# --- the backends, at a Service-like address ----------------------------------------------------


@dataclass(frozen=True)
class Backends:
    """One database and one Redis database, as the host and the containers each reach them."""

    database_url: str  # from the host
    redis_url: str
    secrets: dict[str, dict[str, str]]  # DB_SECRET and REDIS_SECRET, as a user would create


def _with_address(url: str, address: Address, path: str) -> str:
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    hostport = f"{address.host}:{address.port}"
    netloc = f"{userinfo}@{hostport}" if userinfo else hostport
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, path=path))


@pytest.fixture(scope="session")
def make_backends(services: Services, network: Network) -> Iterator[Callable[[str, int], Backends]]:
    """Fresh backends: a new database (nothing migrated) and an emptied Redis database number."""
    forwarders: dict[str, Forwarder] = {}

    def forwarder(url: str) -> Forwarder:
        if url not in forwarders:
            try:
                forwarders[url] = Forwarder(network.gateway, _address(url))
            except OSError as error:  # the engine's bridge is not on this host
                pytest.skip(
                    f"image tier: the containers' gateway {network.gateway} is no address of "
                    f"this host ({error.strerror}); the tier needs a Linux engine on this host, "
                    "not one in a VM"
                )
        return forwarders[url]

    def make(database: str, redis_db: int) -> Backends:
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            name = sql.Identifier(database)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        database_url = _with_address(
            services.database_url, _address(services.database_url), f"/{database}"
        )
        redis_url = _with_address(services.redis_url, _address(services.redis_url), f"/{redis_db}")
        redis.Redis.from_url(redis_url).flushdb()
        pg, rd = forwarder(services.database_url).address, forwarder(services.redis_url).address
        return Backends(
            database_url,
            redis_url,
            {
                DB_SECRET: {"DATABASE_URL": _with_address(database_url, pg, f"/{database}")},
                REDIS_SECRET: {
                    "REDIS_URL": _with_address(redis_url, rd, f"/{redis_db}"),
                    "REDIS_ADDRESS": f"{rd.host}:{rd.port}",
                },
            },
        )

    try:
        yield make
    finally:
        for f in forwarders.values():
            f.close()


def _address(url: str) -> Address:
    parts = urllib.parse.urlsplit(url)
    return Address(parts.hostname or "127.0.0.1", parts.port or 0)


# --- pods ---------------------------------------------------------------------------------------


@dataclass
class Pod:
    workload: Workload
    container: Container
    started: float = field(default_factory=time.monotonic)

    @property
    def ip(self) -> str:
        return self.container.ip

    def url(self, path: str, port: int | None = None) -> str:
        return f"http://{self.ip}:{port or self.workload.ports[0]}{path}"

    def probe(self, probe: Probe) -> httpx.Response:
        """The kubelet's httpGet: success is a status from 200 to 399."""
        return httpx.get(f"http://{self.ip}:{probe.port}{probe.path}", timeout=1)

    def wait_ready(self, timeout: float = READY_WITHIN_S) -> float:
        """Probe readiness until it passes; the seconds since the container was started."""
        readiness = [p for p in self.workload.probes() if p.kind == "readiness"]

        def ready() -> bool:
            if not self.container.running():
                raise AssertionError(f"{self.workload.id} exited:\n{self.container.logs()}")
            return all(200 <= self.probe(p).status_code < 400 for p in readiness)

        wait_until(
            ready,
            timeout - (time.monotonic() - self.started),  # the timeout counts from its start
            f"{self.workload.id} is ready",
            interval=0.1,
            ignoring=httpx.HTTPError,
            details=self.container.logs,
        )
        return time.monotonic() - self.started


@dataclass
class Kubelet:
    """Starts the chart's containers as pods on the test network and cleans up after them."""

    network: Network
    cluster: Cluster
    image_user: str
    pods: list[Pod] = field(default_factory=list)

    def start(self, workload: Workload, suffix: str, drop: tuple[str, ...] = ()) -> Pod:
        """Run one container; `drop` leaves out run options (only to show what they do)."""
        name = pod_name(workload, f"{suffix}-{os.getpid()}")
        args = [a for a in self.cluster.run_args(workload, self.image_user, name) if a not in drop]
        pod = Pod(workload, Container.run(name, self.network.name, args))
        self.pods.append(pod)
        return pod

    def run_to_completion(self, workload: Workload, suffix: str, timeout: float = 120) -> Pod:
        pod = self.start(workload, suffix)
        exit_code = pod.container.wait(timeout)
        assert exit_code == 0, f"{workload.id} exited {exit_code}:\n{pod.container.logs()}"
        return pod

    def remove_all(self) -> None:
        for pod in self.pods:
            pod.container.remove()
        self.pods.clear()


@pytest.fixture(scope="session")
def make_kubelet(network: Network, image: str) -> Iterator[Callable[[str, Backends], Kubelet]]:
    made: list[Kubelet] = []
    user = image_user(image)

    def make(runtime: str, backends: Backends) -> Kubelet:
        scratch = scratch_dir(f"portico-image-{runtime}-")
        kubelet = Kubelet(
            network, Cluster(RELEASES[runtime], backends.secrets, Path(scratch)), user
        )
        made.append(kubelet)
        return kubelet

    try:
        yield make
    finally:
        for kubelet in made:
            kubelet.remove_all()


@dataclass
class Release:
    """The deployment-runtime release, running: migrated by its Job, every Deployment ready."""

    backends: Backends
    kubelet: Kubelet
    migrate: Pod
    pods: dict[str, Pod]  # by workload label


@pytest.fixture(scope="session")
def release(
    make_backends: Callable[[str, int], Backends], make_kubelet: Callable[..., Kubelet]
) -> Release:
    backends = make_backends("portico_image", 6)
    kubelet = make_kubelet("deployment", backends)
    [job] = [w for w in WORKLOADS["deployment"] if w.label.startswith("Job/")]
    migrate = kubelet.run_to_completion(job, "release")
    RAN.append(f"{job.id} ({job.role}): exit 0")
    long_running = [
        w for w in WORKLOADS["deployment"] if w.label.startswith("Deployment/") and not w.init
    ]
    pods = {w.label: kubelet.start(w, "release") for w in long_running}
    for pod in pods.values():
        seconds = pod.wait_ready()
        RAN.append(f"{pod.workload.id} ({pod.workload.role}): ready in {seconds:.1f} s")
    return Release(backends, kubelet, migrate, pods)
