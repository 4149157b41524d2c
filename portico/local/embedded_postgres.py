"""A real Postgres cluster on a data dir, started detached with pg_ctl, reused while it runs."""

from __future__ import annotations

import contextlib
import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from portico.local.binaries import find_postgres_bindir
from portico.local.embedded_server import EmbeddedServer, EmbeddedServerError
from portico.local.ports import record_port
from portico.local.processes import log_tail, looks_like_postgres, process_is_alive, read_pid
from portico.local.run_as import RunAs, make_traversable, postgres_run_as

log = logging.getLogger("portico.local.embedded_postgres")

DATABASE = "portico"
SUPERUSER = "portico"
PG_START_TIMEOUT_S = 60


class EmbeddedPostgres(EmbeddedServer):
    """A Postgres cluster in `data_dir/pgdata`, logging to `data_dir/postgres.log`.

    `bindir` is the Postgres bin directory to try first (settings.pg_bindir); the data's
    major version still decides, so other found binaries serve data it cannot run. None: found
    (portico.local.binaries)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        durable: bool = True,
        bindir: Path | None = None,
    ) -> None:
        super().__init__(data_dir, port=port, durable=durable)
        self._pgdata = self._data_dir / "pgdata"
        self._logfile = self._data_dir / "postgres.log"
        self._preferred_bindir = bindir
        self._bindir: Path | None = None
        self._run_as: RunAs | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def bindir(self) -> Path:
        """The bin directory whose binaries run this data."""
        if self._bindir is None:
            self._bindir = find_postgres_bindir(self._pgdata, self._preferred_bindir)
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
        pid = read_pid(self._postmaster_pid)
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
        return process_is_alive(pid) and looks_like_postgres(pid)

    def _remove_stale_lock_file(self) -> None:
        # Postgres removes a lock file whose pid is gone, but not one whose pid is a zombie (a
        # killed postmaster that PID 1 has not reaped yet), and would refuse to start. Safe:
        # its shared memory check still refuses while an old backend lives on.
        pid = read_pid(self._postmaster_pid)
        if pid is not None and not self._is_live_postgres(pid):
            self._postmaster_pid.unlink(missing_ok=True)

    @property
    def _user(self) -> RunAs:
        if self._run_as is None:
            self._run_as = postgres_run_as()
        return self._run_as

    def _prepare_dirs(self) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        if self._user.uid is None:
            return
        make_traversable(self._data_dir / "pgdata")
        make_traversable(self.bindir / "postgres")
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
        record_port(self._data_dir, self.port)
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
                f"Last lines of {self._logfile}:\n{log_tail(self._logfile)}"
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
