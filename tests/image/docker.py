"""The Docker engine, through its CLI: build the image, run and stop containers (whether an
engine answers at all: bench.containers.missing_engine, shared with `make bench`)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.conftest import ROOT
from tests.support import wait_until

IMAGE = "portico-functions:image-tests"
NO_BASE_IMAGE = 3  # docker/lib.sh's exit code for it


class NoBaseImage(Exception):
    """Neither python:3.11-slim nor the means to make the stand-in (root, debootstrap)."""


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip() or result.stdout}")
    return result


def build_image(tag: str = IMAGE) -> str:
    """`make image`'s script, so the tier runs the image users get from the same steps."""
    result = subprocess.run(
        ["bash", "docker/build.sh"],
        cwd=ROOT,
        env={**os.environ, "IMAGE": tag},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == NO_BASE_IMAGE:
        raise NoBaseImage(result.stderr.strip().splitlines()[-1])
    if result.returncode != 0:
        raise RuntimeError(f"docker/build.sh failed:\n{result.stdout[-4000:]}\n{result.stderr}")
    return tag


def image_user(image: str) -> str:
    return str(docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip())


@dataclass
class Container:
    """One running container; `stop` is the kubelet's: SIGTERM, SIGKILL after the grace."""

    name: str
    network: str
    exit_code: int | None = None
    stop_seconds: float | None = None

    @classmethod
    def run(cls, name: str, network: str, run_args: Sequence[str]) -> Container:
        docker("run", "--detach", "--name", name, "--network", network, *run_args)
        return cls(name, network)

    def inspect(self) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(docker("inspect", self.name).stdout)
        return found[0]

    @property
    def ip(self) -> str:
        return str(self.inspect()["NetworkSettings"]["Networks"][self.network]["IPAddress"])

    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, *command, check=False)

    def wait(self, timeout: float) -> int:
        """Wait for the container to exit by itself; its exit code."""
        wait_until(
            lambda: not self.running(),
            timeout,
            f"{self.name} exits",
            interval=0.2,
            details=lambda: f"{self.name} is still running; its logs:\n{self.logs()}",
        )
        self.exit_code = int(self.inspect()["State"]["ExitCode"])
        return self.exit_code

    def stop(self, grace_seconds: int) -> int:
        started = time.monotonic()
        docker("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 60)
        self.stop_seconds = time.monotonic() - started
        self.exit_code = int(self.inspect()["State"]["ExitCode"])
        return self.exit_code

    def changes(self) -> list[str]:
        """What the container wrote into its own filesystem (`docker diff`)."""
        return docker("diff", self.name).stdout.splitlines()

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name, check=False)
