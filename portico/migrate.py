"""Schema migrations: plain SQL files applied in order by yoyo, safe to re-run.

Sources: Portico's own (portico/migrations/) first, then each app's functions/<app>/migrations/.
A migration's id is its file name, so names must be unique across apps (prefix them with the
app's name, e.g. claims-0001-tables.sql).
"""

from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

PLATFORM_MIGRATIONS = Path(__file__).parent / "migrations"


def migration_dirs(functions_dir: Path) -> list[Path]:
    app_dirs = sorted(p for p in functions_dir.glob("*/migrations") if p.is_dir())
    return [d for d in [PLATFORM_MIGRATIONS, *app_dirs] if any(d.glob("*.sql"))]


def yoyo_url(database_url: str) -> str:
    scheme, sep, rest = database_url.partition("://")
    return (
        f"postgresql+psycopg://{rest}"
        if scheme in ("postgres", "postgresql") and sep
        else database_url
    )


def migrate(database_url: str, functions_dir: Path) -> list[str]:
    """Apply every pending migration; returns the ids applied (empty when up to date)."""
    dirs = migration_dirs(functions_dir)
    if not dirs:
        return []
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(*(str(d) for d in dirs))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]
