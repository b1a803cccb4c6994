"""Session-wide real services and a migrated database; per-test isolation by prefixes."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from support.live_server import LiveServer
from support.nats_server import private_nats
from support.observed_pool import ObservedPool
from support.services import (
    ServiceUrls,
    configured_url,
    create_database,
    drop_database,
)
from support.social_helpers import Member, join

from fowergram.adapters.postgres.migrations import Migrator
from fowergram.adapters.postgres.pool import create_pool
from fowergram.app import create_app
from fowergram.config import DEFAULT_MIGRATIONS_DIR, Settings, load_settings
from fowergram.embedded.nats import EmbeddedNats
from fowergram.embedded.process import free_port
from fowergram.embedded.stack import EmbeddedStack

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def service_urls() -> Iterator[ServiceUrls]:
    database, redis, nats = (
        configured_url("DATABASE_URL"),
        configured_url("REDIS_URL"),
        configured_url("NATS_URL"),
    )
    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemps, and
    # would delete the data of servers still running here.
    data_dir = Path(tempfile.mkdtemp(prefix="fowergram-test-"))
    stack = EmbeddedStack(
        data_dir,
        postgres_port=None if database else free_port(),
        redis_port=None if redis else free_port(),
        nats_port=None if nats else free_port(),
        durable=False,
    )
    try:
        with stack as started:
            yield ServiceUrls(
                database_server=database or started["database_url"],
                redis=redis or started["redis_url"],
                nats=nats or started["nats_url"],
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_database(service_urls: ServiceUrls) -> Iterator[str]:
    """One migrated database for the session; tests that change the schema make their own."""
    url = create_database(service_urls.database_server)
    Migrator(url, DEFAULT_MIGRATIONS_DIR).up()
    yield url
    drop_database(service_urls.database_server, url)


@pytest.fixture
async def pool(migrated_database: str) -> AsyncIterator[asyncpg.Pool]:
    """The application's pool (its codecs) on the session's database; files whose tests
    need another database or size define their own."""
    pool = await create_pool(migrated_database, min_size=1, max_size=3)
    yield pool
    await pool.close()


@pytest.fixture
async def observed(migrated_database: str) -> AsyncIterator[ObservedPool]:
    """Like `pool`, recording every statement: tests of reads and writes batched into one."""
    statements: list[str] = []
    pool = await create_pool(
        migrated_database, min_size=1, max_size=3, on_query=lambda r: statements.append(r.query)
    )
    yield ObservedPool(pool, statements)
    await pool.close()


@pytest.fixture(scope="session")
def database_template(service_urls: ServiceUrls) -> Iterator[str]:
    """A migrated database nobody connects to, copied by `private_database`."""
    url = create_database(service_urls.database_server, prefix="fg_template")
    Migrator(url, DEFAULT_MIGRATIONS_DIR).up()
    yield url
    drop_database(service_urls.database_server, url)


@pytest.fixture
def private_database(service_urls: ServiceUrls, database_template: str) -> Iterator[str]:
    """A migrated database of this test's own (a copy of the template: fast)."""
    url = create_database(service_urls.database_server, template=database_template)
    yield url
    drop_database(service_urls.database_server, url)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A NATS server of this test's own: the test stops it and starts it again
    (`support.nats_server.start_nats`)."""
    server = private_nats(tmp_path)
    server.launch()
    server.wait_ready()
    yield server
    server.stop()


def make_settings(service_urls: ServiceUrls, database_url: str, **overrides: object) -> Settings:
    unique = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "_env_file": None,
        "database_url": database_url,
        "redis_url": service_urls.redis,
        "nats_url": service_urls.nats,
        "redis_key_prefix": f"t{unique}:",
        "nats_subject_prefix": f"t{unique}",
        "db_pool_min_size": 1,
        "db_pool_max_size": 5,
        # The development mailbox (and any other local data) in a private folder.
        "data_dir": Path(tempfile.gettempdir()) / f"fowergram-test-{unique}",
        # Replays are revoked at once unless a test studies the grace period itself.
        "refresh_reuse_grace_s": 0,
        # Cheap argon2 in tests: the cost parameters are not what is under test.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        # Test servers share the session database and NATS: an in-process relay in each
        # would publish the others' rows into its own stream. Off unless a test studies it
        # (on a private database).
        "outbox_relay_enabled": False,
        "consumers_enabled": False,
        # Servers run inside the test process: their collector policy (freezing,
        # thresholds) would act on every test's objects. test_gc_policy.py tests it alone.
        "gc_freeze_after_start": False,
        "gc_refreeze_interval_s": 0,
        "gc_thresholds": "",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(service_urls: ServiceUrls, migrated_database: str) -> Settings:
    return make_settings(service_urls, migrated_database)


@pytest.fixture(scope="session")
def live_server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[LiveServer]:
    """A real server shared by the tests that only read."""
    settings = make_settings(service_urls, migrated_database, ws_connection_init_timeout_s=0.5)
    with LiveServer(create_app(settings), settings) as server:
        yield server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "service_urls" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def new_member(live_server: LiveServer) -> Iterator[Callable[[], Member]]:
    """Signs up people on the shared server; their clients close after the test."""
    made: list[Member] = []

    def make() -> Member:
        made.append(join(live_server.http_url))
        return made[-1]

    yield make
    for member in made:
        member.client.close()
