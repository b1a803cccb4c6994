"""Migrations: up, down, up again; concurrent starts migrate once; the CLI drives them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from support.services import ServiceUrls, create_database, drop_database

from fowergram.adapters.postgres.migrations import Migrator
from fowergram.config import DEFAULT_MIGRATIONS_DIR

CORE_TABLES = {
    "users", "media", "posts", "post_media", "post_edits", "hashtags", "post_hashtags",
    "post_mentions", "saved_posts", "comments", "post_likes", "comment_likes", "follows",
    "blocks", "mutes", "notifications", "notification_settings", "outbox",
}  # fmt: skip


@pytest.fixture
def empty_database(service_urls: ServiceUrls) -> Iterator[str]:
    url = create_database(service_urls.database_server, prefix="fg_mig")
    yield url
    drop_database(service_urls.database_server, url)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows if not name.startswith("_yoyo") and name != "yoyo_lock"}


def _migration_ids() -> list[str]:
    return sorted(
        path.name.removesuffix(".sql")
        for path in DEFAULT_MIGRATIONS_DIR.glob("*.sql")
        if not path.name.endswith(".rollback.sql")
    )


def test_every_migration_has_a_rollback() -> None:
    for migration_id in _migration_ids():
        assert (DEFAULT_MIGRATIONS_DIR / f"{migration_id}.rollback.sql").is_file(), migration_id


def test_up_down_up_round_trip(empty_database: str) -> None:
    migrator = Migrator(empty_database, DEFAULT_MIGRATIONS_DIR)
    everything = _migration_ids()

    assert migrator.up() == everything
    assert _tables(empty_database) >= CORE_TABLES
    assert all(status.applied for status in migrator.status())
    assert migrator.up() == []  # idempotent

    rolled_back = migrator.down(count=len(everything))
    assert rolled_back == list(reversed(everything))
    assert _tables(empty_database) == set()
    assert not any(status.applied for status in migrator.status())

    assert migrator.up() == everything
    assert _tables(empty_database) >= CORE_TABLES


def test_down_rolls_back_only_the_latest(empty_database: str) -> None:
    migrator = Migrator(empty_database, DEFAULT_MIGRATIONS_DIR)
    migrator.up()
    assert migrator.down() == [_migration_ids()[-1]]
    assert "outbox" not in _tables(empty_database)
    assert "notifications" in _tables(empty_database)


def test_concurrent_instances_migrate_once(empty_database: str) -> None:
    def migrate() -> list[str]:
        return Migrator(empty_database, DEFAULT_MIGRATIONS_DIR).up()

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: migrate(), range(3)))

    applied = sorted(results, key=len, reverse=True)
    assert applied[0] == _migration_ids()
    assert applied[1] == applied[2] == []
    with psycopg.connect(empty_database) as conn:
        (count,) = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone() or (0,)
    assert count == len(_migration_ids())


def test_cli_migrate_up_status_down(empty_database: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database}

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "fowergram.cli", "migrate", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert run("up").startswith(f"applied {len(_migration_ids())}:")
    status = run("status").splitlines()
    assert status == [f"applied  {migration_id}" for migration_id in _migration_ids()]
    assert run("down").startswith("rolled back 1:")
    assert run("status").splitlines()[-1] == f"pending  {_migration_ids()[-1]}"
