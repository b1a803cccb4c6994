"""Migrations: up, down, up again; concurrent starts migrate once; the CLI drives them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg
import pytest
from support.services import ServiceUrls, create_database, drop_database

from fowergram.adapters.postgres.migrations import Migrator
from fowergram.config import DEFAULT_MIGRATIONS_DIR
from fowergram.embedded.postgres import EmbeddedPostgres
from fowergram.embedded.process import free_port

CORE_TABLES = {
    "users", "media", "posts", "post_media", "post_edits", "hashtags", "post_hashtags",
    "post_mentions", "saved_posts", "comments", "post_likes", "comment_likes", "follows",
    "blocks", "mutes", "notifications", "notification_settings", "outbox", "sessions",
    "refresh_tokens", "signing_keys",
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


def _columns(url: str) -> set[str]:
    """Every column of the public tables, as "table.column"."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
    yoyo = {"yoyo_lock"}
    return {
        f"{table}.{column}"
        for table, column in rows
        if not table.startswith("_yoyo") and table not in yoyo
    }


def _schema(url: str) -> set[str]:
    """The columns, the constraints (with their definitions), the indexes and the storage
    options of the public tables."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
        options = conn.execute(
            "SELECT relname, unnest(reloptions) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL"
        ).fetchall()
    constraints = {f"{table} {name}: {definition}" for table, name, definition in rows}
    storage = {f"{table} with {option}" for table, option in options}
    kept = {c for c in constraints if "yoyo" not in c}
    return _columns(url) | kept | storage | {i for (i,) in indexes if "yoyo" not in i}


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
    before = _schema(empty_database)
    assert migrator.down() == [_migration_ids()[-1]]
    statuses = migrator.status()
    assert [s.applied for s in statuses] == [True] * (len(statuses) - 1) + [False]
    after = _schema(empty_database)
    assert after != before  # what the latest migration changed is undone...
    assert "users.id" in after  # ... and only that
    assert _columns(empty_database) <= {item for item in before if " " not in item}
    assert migrator.up() == [_migration_ids()[-1]]
    assert _schema(empty_database) == before


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


def _migrate_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fowergram.cli", "migrate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _without_urls(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_URL")}
    return env | extra


def test_cli_unreachable_database_is_one_line_exit_3() -> None:
    port = free_port()  # nothing listens there
    result = _migrate_cli(
        _without_urls(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/nowhere"), "up"
    )
    assert result.returncode == 3
    assert result.stderr.startswith("migrations failed: connection failed")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_cli_missing_migrations_folder_is_named(empty_database: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = _migrate_cli(
        _without_urls(DATABASE_URL=empty_database, MIGRATIONS_DIR=str(missing)), "status"
    )
    assert result.returncode == 3
    assert result.stderr.strip() == f"migrations folder not found: {missing} (MIGRATIONS_DIR)"


def test_cli_uses_the_embedded_database_a_dev_server_runs(tmp_path: Path) -> None:
    # As `make migrate-status` does while `make run` serves: no second server on the data.
    running = EmbeddedPostgres(tmp_path, free_port(), durable=False)
    running.launch()
    try:
        database_url = running.wait_ready()
        result = _migrate_cli(_without_urls(DATA_DIR=str(tmp_path)), "up")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"applied {len(_migration_ids())}:")
        assert _tables(database_url) >= CORE_TABLES
        assert running.pid is not None
        assert psutil.pid_exists(running.pid)  # still serving
    finally:
        running.stop()


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
