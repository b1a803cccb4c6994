"""Schema migrations: plain SQL files in `migrations/`, applied by yoyo-migrations.

Several instances may start at once: a PostgreSQL advisory lock (released even if
the holder crashes) makes them take turns, so each migration is applied once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.exceptions import BadMigration, LockTimeout, MigrationConflict

log = logging.getLogger(__name__)

# Any constant the application does not use for another advisory lock.
_MIGRATION_LOCK_KEY = 0x46_47_4D_49  # "FGMI"


class MigrationError(RuntimeError):
    """Migrations could not run; the message is one line for the operator."""


@dataclass(frozen=True)
class MigrationStatus:
    id: str
    applied: bool


def _yoyo_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    try:
        yield
    except (psycopg.Error, BadMigration, LockTimeout, MigrationConflict) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MigrationError(f"migrations failed: {first_line}") from exc


@contextlib.contextmanager
def _exclusive(database_url: str) -> Iterator[None]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))


class Migrator:
    def __init__(self, database_url: str, migrations_dir: Path) -> None:
        if not migrations_dir.is_dir():
            raise MigrationError(f"migrations folder not found: {migrations_dir} (MIGRATIONS_DIR)")
        self.database_url = database_url
        self.migrations_dir = migrations_dir

    def up(self) -> list[str]:
        """Apply every pending migration; return the ids applied."""
        with _reported(), _exclusive(self.database_url):
            backend = get_backend(_yoyo_url(self.database_url))
            try:
                # We hold the advisory lock, so a yoyo lock row can only be a crashed run's.
                backend.break_lock()
                migrations = read_migrations(str(self.migrations_dir))
                pending = backend.to_apply(migrations)
                with backend.lock():
                    backend.apply_migrations(pending)
            finally:
                backend.connection.close()
        applied = [migration.id for migration in pending]
        if applied:
            log.info("migrations applied", extra={"migrations": applied})
        return applied

    def down(self, count: int = 1) -> list[str]:
        """Roll back the `count` most recent migrations; return the ids rolled back."""
        with _reported(), _exclusive(self.database_url):
            backend = get_backend(_yoyo_url(self.database_url))
            try:
                backend.break_lock()
                migrations = read_migrations(str(self.migrations_dir))
                with backend.lock():
                    chosen = backend.to_rollback(migrations)[:count]
                    backend.rollback_migrations(chosen)
            finally:
                backend.connection.close()
        rolled_back = [migration.id for migration in chosen]
        log.info("migrations rolled back", extra={"migrations": rolled_back})
        return rolled_back

    def status(self) -> list[MigrationStatus]:
        with _reported():
            backend = get_backend(_yoyo_url(self.database_url))
            try:
                migrations = read_migrations(str(self.migrations_dir))
                applied = backend.get_applied_migration_hashes()
                return [MigrationStatus(m.id, m.hash in applied) for m in migrations]
            finally:
                backend.connection.close()
