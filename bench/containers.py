"""The function image in scenario 4, through the docker CLI: is an engine there, the image (built
with `make image`'s script when it is missing), its size, and a container's start to ready."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ROOT, NotReady
from portico.local.ports import free_port
from tests.support import Process, ProcessExited, WaitTimeout

DEFAULT_IMAGE = "portico-functions:dev"
REVISION_LABEL = "org.opencontainers.image.revision"
INSPECT_FORMAT = '{{.Size}}\t{{.Id}}\t{{index .Config.Labels "' + REVISION_LABEL + '"}}'
# What the chart's pods get (charts/portico/templates/_helpers.tpl, containerSecurityContext).
HARDENING = (
    "--read-only",
    "--user", "10001:10001",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
)  # fmt: skip


@dataclass(frozen=True)
class Image:
    tag: str
    size_mb: float  # uncompressed, 10^6 bytes (as `make image` prints it)
    id: str  # sha256:..., shortened
    revision: str  # the commit it was built from, "" when unlabelled


def image_tag() -> str:
    return os.environ.get("IMAGE") or DEFAULT_IMAGE


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"


def missing_engine() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer 'docker info' within 20 s"
    if result.returncode != 0:
        said = last_line(result.stderr or result.stdout)
        return f"no Docker engine answers ('docker info': {said})"
    return None


def parse_inspect(tag: str, text: str) -> Image:
    """`docker image inspect --format INSPECT_FORMAT`'s line: size in bytes, id, revision."""
    size, image_id, revision = [*text.rstrip("\n").split("\t"), "", ""][:3]
    revision = "" if revision == "<no value>" else revision
    return Image(tag, int(size) / 1e6, image_id.removeprefix("sha256:")[:12], revision[:12])


def inspect(tag: str) -> Image | None:
    """The local image's figures, or None when the engine has no such image."""
    result = docker("image", "inspect", "--format", INSPECT_FORMAT, tag)
    return parse_inspect(tag, result.stdout) if result.returncode == 0 else None


def build(tag: str) -> str | None:
    """`make image`'s script (its progress goes to our output); why it failed, or None."""
    finished = subprocess.run(
        ["bash", "docker/build.sh"], cwd=ROOT, env={**os.environ, "IMAGE": tag}, check=False
    )
    if finished.returncode != 0:
        return f"building {tag} with docker/build.sh failed (exit {finished.returncode})"
    return None


def run_command(tag: str, name: str, env_names: list[str]) -> list[str]:
    """`docker run` as the chart runs the image; the values of env_names come from the CLI's
    own environment (`-e NAME`), so no secret is on a command line."""
    environment = [arg for env_name in env_names for arg in ("-e", env_name)]
    return ["docker", "run", "--name", name, "--network", "host", *HARDENING, *environment, tag]


def start_to_ready(tag: str, env: Mapping[str, str], log: Path, timeout: float = 60) -> float:
    """Seconds from invoking `docker run` (creation and start included) to the first 200 from
    the container's /readyz, polled every 5 ms; the container is removed afterwards."""
    name = f"portico-bench-{uuid.uuid4().hex[:12]}"
    container_env = {**env, "PORT": str(free_port())}
    url = f"http://127.0.0.1:{container_env['PORT']}/readyz"
    command = run_command(tag, name, sorted(container_env))
    client = Process(
        command,
        name="docker run",
        env={**os.environ, **container_env},
        log=log,
        own_group=False,
    )
    try:
        return client.wait_ready(url, timeout=timeout, interval=0.005, what=f"{url} answers 200")
    except (WaitTimeout, ProcessExited) as exc:
        said = last_line(log.read_text(errors="replace")[-2000:])
        raise NotReady(f"container {name} ({tag}): {exc.summary}; its last line: {said}") from None
    finally:
        docker("rm", "-f", name)
        try:
            client.wait(timeout=30)
        except subprocess.TimeoutExpired:  # removed before `docker run` had created it
            client.kill()
            docker("rm", "-f", name)


def ensure_image(tag: str, say: Callable[[str], None]) -> Image | str:
    """The local image's figures, built first with `make image`'s script when it is missing;
    or, where it cannot be had (no engine, a failed build), why not."""
    if reason := missing_engine():
        return reason
    if (image := inspect(tag)) is None:
        say(f"{tag} is not present: building it with docker/build.sh (make image's script)")
        if reason := build(tag):
            return reason
        image = inspect(tag)
    return image or f"{tag} is still missing after docker/build.sh"
