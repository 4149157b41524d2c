"""Running Postgres as a non-root user: Postgres refuses to run as root, so under root (a
container, CI) its binaries run as the `postgres` user, else a system user created for it."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portico.local.embedded_server import EmbeddedServerError

FALLBACK_SYSTEM_USER = "portico"


@dataclass(frozen=True)
class RunAs:
    """The user that runs the Postgres binaries; None fields mean "as we are"."""

    uid: int | None = None
    gid: int | None = None

    def subprocess_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    def chown_tree(self, root: Path) -> None:
        self.chown(root)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                self.chown(Path(dirpath) / name)

    def owns(self, path: Path) -> bool:
        return self.uid is None or path.stat().st_uid == self.uid


def postgres_run_as() -> RunAs:
    """Postgres refuses to run as root, so root hands it to a system user."""
    if os.geteuid() != 0:
        return RunAs()
    user = _existing_user("postgres") or _existing_user(FALLBACK_SYSTEM_USER)
    if user is None:
        user = _create_system_user(FALLBACK_SYSTEM_USER)
    return RunAs(uid=user.pw_uid, gid=user.pw_gid)


def _existing_user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _create_system_user(name: str) -> pwd.struct_passwd:
    command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    # Another process may have created it concurrently; only its absence matters.
    user = _existing_user(name)
    if user is None:
        raise EmbeddedServerError(
            f"Running as root, Postgres needs a non-root user, and `{' '.join(command)}` "
            f"failed: {result.stderr.strip()}"
        )
    return user


def make_traversable(path: Path) -> None:
    """Give others search (o+x) permission on every ancestor of `path`."""
    for directory in path.resolve().parents:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(directory, stat.S_IMODE(mode) | stat.S_IXOTH)
