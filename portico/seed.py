"""Demo data: each app's functions/<app>/seed/*.sql, applied in order in one transaction.

Seed files must be idempotent (INSERT ... ON CONFLICT), so `portico seed` can run on every
`make dev` and restores the dev contract's data without touching anything else.
"""

from __future__ import annotations

from pathlib import Path

import psycopg


def seed_files(functions_dir: Path) -> list[Path]:
    return sorted(functions_dir.glob("*/seed/*.sql"))


def seed(database_url: str, functions_dir: Path) -> list[Path]:
    files = seed_files(functions_dir)
    with psycopg.connect(database_url) as conn:
        for path in files:
            conn.execute(path.read_text())
    return files
