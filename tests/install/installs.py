"""Portico installed as a user installs it: the checkout, non-editable, into a fresh virtual
environment of its own, with one set of extras, pinned by constraints.txt; and the processes
run from it, with an environment that sees nothing of the project's own .venv.

uv when it is there (the project's .venv has it; seconds, its wheel cache shared), else pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, scratch_dir

CONSTRAINTS = ROOT / "constraints.txt"
# What building Portico's wheel reads: copied out so the build writes nothing into the
# checkout (setuptools' build/ and egg-info) and installs the working tree as it is now.
SOURCE_FILES = ("pyproject.toml", "README.md")
SOURCE_DIRS = ("portico",)
INSTALL_TIMEOUT_S = 900.0  # pip, with nothing cached; uv takes seconds
# Variables that would point a process at the project's own environment or servers.
DROPPED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "DATABASE_URL", "REDIS_URL")


class IndexUnreachable(Exception):
    """No installer reaches the package index: the tier cannot run here."""


class InstallFailed(Exception):
    """The index answers, and installing the checkout failed all the same: a real failure."""


@dataclass(frozen=True)
class Installer:
    name: str  # "uv" or "pip"
    uv: Path | None = None

    def create(self, venv: Path) -> None:
        if self.uv is not None:
            command = [str(self.uv), "venv", "--quiet", "--python", sys.executable, str(venv)]
        else:
            command = [sys.executable, "-m", "venv", str(venv)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def install_command(self, python: Path, requirement: str) -> list[str]:
        if self.uv is not None:
            return [
                str(self.uv), "pip", "install", "--system-certs", "--python", str(python),
                "-c", str(CONSTRAINTS), "-b", str(CONSTRAINTS), requirement,
            ]  # fmt: skip
        return [str(python), "-m", "pip", "install", "-c", str(CONSTRAINTS), requirement]

    def index_answers(self, python: Path) -> bool:
        """Whether the package index answers at all, nothing cached: one small look-up."""
        if self.uv is not None:
            command = [
                str(self.uv), "pip", "install", "--system-certs", "--dry-run", "--no-cache",
                "--python", str(python), "click",
            ]  # fmt: skip
        else:
            command = [
                str(python), "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                "--dest", str(python.parent.parent / "probe"), "click",
            ]  # fmt: skip
        try:
            probe = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0


def installers() -> list[Installer]:
    """uv first (the project's .venv has it, or PATH does), then pip; PORTICO_INSTALL_WITH=pip
    (or uv) takes that one only."""
    found = [Path(sys.prefix) / "bin" / "uv", shutil.which("uv")]
    uv = next((Path(p) for p in found if p is not None and os.access(p, os.X_OK)), None)
    every = ([Installer("uv", uv)] if uv is not None else []) + [Installer("pip")]
    wanted = os.environ.get("PORTICO_INSTALL_WITH")
    return [i for i in every if i.name == wanted] if wanted else every


@dataclass(frozen=True)
class Install:
    """One fresh venv with Portico and `extras` installed in it."""

    extras: str  # "" for the base install, else e.g. "local"
    venv: Path
    installer: str
    seconds: float

    @property
    def label(self) -> str:
        return f"[{self.extras}]" if self.extras else "the base"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self, **extra: str) -> dict[str, str]:
        """This machine's environment as a user's shell in this venv has it: its bin first on
        PATH, the project's .venv nowhere, no DATABASE_URL / REDIS_URL."""
        own_bin = str(Path(sys.prefix) / "bin")
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != own_bin]
        env = {k: v for k, v in os.environ.items() if k not in DROPPED}
        return {
            **env,
            "PATH": os.pathsep.join([str(self.venv / "bin"), *path]),
            "VIRTUAL_ENV": str(self.venv),
            **extra,
        }

    def run(
        self, *args: str, cwd: Path, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """A command of this venv's (`portico`, `python`), its output captured."""
        command = [self.bin(args[0]), *args[1:]]
        return subprocess.run(
            command, cwd=cwd, env=self.env(**env), capture_output=True, text=True, timeout=timeout
        )


def copy_source(destination: Path) -> Path:
    destination.mkdir(parents=True)
    for name in SOURCE_FILES:
        shutil.copy2(ROOT / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCE_DIRS:
        shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    return destination


def install(extras: str, root: Path | None = None) -> Install:
    """A fresh venv under `root` (a scratch dir every user can traverse: Postgres runs from it
    as a non-root user under root) with the checkout installed, non-editable, with `extras`."""
    root = root or scratch_dir(f"portico-install-{extras or 'base'}-")
    try:
        return _install_into(root, extras)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _install_into(root: Path, extras: str) -> Install:
    source = copy_source(root / "source")
    requirement = f"{source}[{extras}]" if extras else str(source)
    unreachable = []
    for installer in installers():
        venv = root / f"venv-{installer.name}"
        installer.create(venv)
        python = venv / "bin" / "python"
        log = root / f"{installer.name}.log"
        started = time.monotonic()
        with log.open("w") as out:
            done = subprocess.run(
                installer.install_command(python, requirement),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT_S,
            )
        seconds = time.monotonic() - started
        if done.returncode == 0:
            return Install(extras, venv, installer.name, seconds)
        tail = "\n".join(log.read_text().splitlines()[-25:])
        if installer.index_answers(python):
            raise InstallFailed(f"{installer.name} could not install {requirement}:\n{tail}")
        unreachable.append(f"{installer.name}: {first_error(tail)}")
    raise IndexUnreachable("; ".join(unreachable))


def first_error(log: str) -> str:
    """The line of an installer's output that says what went wrong, shortened."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "originates" not in line]
    line = (errors or lines or ["(no output)"])[0]
    return line if len(line) <= 160 else line[:157] + "..."
