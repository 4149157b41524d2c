"""`make deploy` deploys the image `make images` built: kind/deploy.sh against stub helm and
kubectl programs that record their arguments (no cluster here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT


def deployed_with(tmp_path: Path, image: str | None) -> list[str]:
    calls = tmp_path / "calls"
    for tool in ("helm", "kubectl"):
        stub = tmp_path / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n')
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    env.pop("IMAGE", None)
    if image is not None:
        env["IMAGE"] = image
    subprocess.run(["bash", "kind/deploy.sh"], cwd=ROOT, env=env, check=True, capture_output=True)
    [helm] = [line.split() for line in calls.read_text().splitlines() if line.startswith("helm")]
    return helm


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        (None, "portico-functions", "dev"),
        ("portico-functions:abc123", "portico-functions", "abc123"),
        ("registry.example:5000/team/portico:1.2", "registry.example:5000/team/portico", "1.2"),
        ("registry.example:5000/team/portico", "registry.example:5000/team/portico", "latest"),
    ],
)
def test_deploy_sets_the_charts_image_from_IMAGE(tmp_path, image, repository, tag):
    helm = deployed_with(tmp_path, image)
    assert helm[:3] == ["helm", "upgrade", "--install"]
    assert f"image.repository={repository}" in helm and f"image.tag={tag}" in helm
    assert helm.index("-f") < helm.index(f"image.tag={tag}"), "IMAGE wins over kind/values.yaml"
