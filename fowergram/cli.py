"""`fowergram serve | dev | migrate up|down|status`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from types import FrameType

import uvicorn
from nats.aio.client import Client as NATS

from fowergram.adapters.postgres.migrations import MigrationError
from fowergram.app import create_app
from fowergram.config import ConfigError, Settings, load_settings
from fowergram.embedded.process import EmbeddedServiceError, free_port
from fowergram.observability.logs import configure_logging
from fowergram.server import Server, uvicorn_options

log = logging.getLogger("fowergram.cli")

EXIT_CONFIG = 2
EXIT_STARTUP = 3
DEV_PORT = 8000


class _Stop(Exception):
    """Raised by our SIGTERM handler so every `finally` runs, as on Ctrl-C."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signum)


def _migrate(settings: Settings) -> None:
    from fowergram.adapters.postgres.migrations import Migrator

    assert settings.database_url is not None
    Migrator(settings.database_url, settings.migrations_dir).up()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.services_configured:
        print(
            "fowergram serve needs DATABASE_URL, REDIS_URL and NATS_URL; "
            "use `fowergram dev` for the embedded stack",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if settings.migrate_on_start:
        _migrate(settings)
    host, port = args.host or settings.host, args.port or settings.port
    if args.workers == 1:
        app = create_app(settings)
        config = uvicorn.Config(app, host=host, port=port, **uvicorn_options(settings))
        Server(config).run()
        return 0
    with contextlib.ExitStack() as cleanup:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            metrics_dir = cleanup.enter_context(
                tempfile.TemporaryDirectory(prefix="fowergram-metrics-")
            )
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        # Each worker process builds its own app from the environment.
        uvicorn.run(
            "fowergram.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            **uvicorn_options(settings),
        )
    return 0


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    from fowergram.embedded.stack import EmbeddedStack

    signal.signal(signal.SIGTERM, _raise_stop)
    stack = EmbeddedStack.for_settings(settings)
    try:
        urls = stack.start()
        settings = settings.model_copy(update=urls)
        _migrate(settings)
        app = create_app(settings)
        host, port = args.host or "127.0.0.1", args.port or DEV_PORT
        config = uvicorn.Config(app, host=host, port=port, **uvicorn_options(settings))
        Server(config).run()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        stack.stop()
        log.info("embedded services stopped")
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from fowergram.adapters.postgres.migrations import Migrator
    from fowergram.embedded.postgres import EmbeddedPostgres
    from fowergram.embedded.stack import EmbeddedStack

    # Without DATABASE_URL, migrate the embedded development database: the one a running
    # `fowergram dev` serves, or a server started just for this.
    stack = EmbeddedStack(settings.data_dir)
    database_url = settings.database_url
    if database_url is None:
        if (running := EmbeddedPostgres.running_port(settings.data_dir)) is not None:
            database_url = f"postgresql://postgres@127.0.0.1:{running}/fowergram"
        else:
            stack.postgres_port = settings.embedded_postgres_port or free_port()
    try:
        database_url = database_url or stack.start()["database_url"]
        migrator = Migrator(database_url, settings.migrations_dir)
        if args.action == "up":
            applied = migrator.up()
            print(f"applied {len(applied)}: {' '.join(applied)}" if applied else "up to date")
        elif args.action == "down":
            rolled_back = migrator.down(args.count)
            print(f"rolled back {len(rolled_back)}: {' '.join(rolled_back)}")
        else:
            for status in migrator.status():
                print(f"{'applied' if status.applied else 'pending'}  {status.id}")
    finally:
        stack.stop()
    return 0


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    """Rotate the access-token signing key now (the scheduled rotation needs no command)."""
    if settings.database_url is None:
        print("fowergram keys needs DATABASE_URL", file=sys.stderr)
        return EXIT_CONFIG
    database_url = settings.database_url

    async def rotate() -> str:
        from datetime import timedelta

        from fowergram.adapters.clock import SystemClock
        from fowergram.adapters.postgres.pool import create_pool
        from fowergram.adapters.postgres.signing_keys import SigningKeyStore

        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            store = SigningKeyStore(
                pool,
                SystemClock(),
                rotation=timedelta(seconds=settings.signing_key_rotation_s),
                verify_grace=timedelta(seconds=settings.access_token_ttl_s + 60),
            )
            key = await store.rotate_now(retire_others=args.retire_others)
            return key.kid
        finally:
            await pool.close()

    kid = asyncio.run(rotate())
    print(f"signing with {kid}" + ("; older keys retired" if args.retire_others else ""))
    return 0


def cmd_prune(settings: Settings, args: argparse.Namespace) -> int:
    """Delete ended sessions, spent tokens and retired keys (run it daily, e.g. cron)."""
    database_url = settings.database_url
    if database_url is None:
        print("fowergram prune needs DATABASE_URL", file=sys.stderr)
        return EXIT_CONFIG

    async def run() -> dict[str, int]:
        from fowergram.adapters.postgres.pool import create_pool
        from fowergram.adapters.postgres.retention import prune

        pool = await create_pool(database_url, min_size=1, max_size=1)
        try:
            return await prune(pool)
        finally:
            await pool.close()

    for table, count in asyncio.run(run()).items():
        print(f"{table}: {count} deleted")
    return 0


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    """Grant a role: `fowergram users set-role <username> <user|moderator|admin>`."""
    database_url, redis_url = settings.database_url, settings.redis_url
    if database_url is None or redis_url is None:
        print("fowergram users needs DATABASE_URL and REDIS_URL", file=sys.stderr)
        return EXIT_CONFIG

    async def run() -> list[str]:
        from fowergram.adapters.postgres.pool import create_pool
        from fowergram.adapters.postgres.retention import set_role
        from fowergram.adapters.redis.client import create_redis
        from fowergram.adapters.redis.revocations import RedisRevocationList

        pool = await create_pool(database_url, min_size=1, max_size=1)
        redis = create_redis(redis_url)
        try:
            ended = await set_role(pool, args.username, args.role)
            # Their access tokens carry the old role: refuse them at once.
            revocations = RedisRevocationList(
                redis, key_prefix=settings.redis_key_prefix, ttl_s=settings.access_token_ttl_s + 60
            )
            if ended:
                await revocations.add(ended)
            return ended
        finally:
            await pool.close()
            await redis.aclose()

    try:
        ended = asyncio.run(run())
    except LookupError:
        print(f"no user named {args.username!r}", file=sys.stderr)
        return 1
    print(f"{args.username} is now {args.role}; {len(ended)} session(s) signed out")
    return 0


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    """Print (or write) the GraphQL schema in SDL: the contract clients build against."""
    from fowergram.graphql.schema import schema_sdl

    sdl = schema_sdl()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(sdl)
    else:
        sys.stdout.write(sdl)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run a background worker alone (servers run it in-process unless disabled): the
    outbox relay, one durable consumer by name, or all of them (`consumers`)."""
    from fowergram.realtime.workers import CONSUMERS

    if settings.database_url is None or settings.nats_url is None:
        print(f"fowergram worker {args.name} needs DATABASE_URL and NATS_URL", file=sys.stderr)
        return EXIT_CONFIG
    database_url, nats_url = settings.database_url, settings.nats_url
    names = sorted(CONSUMERS) if args.name == "consumers" else [args.name]
    if not names:
        print("fowergram worker consumers: no consumers are registered", file=sys.stderr)
        return EXIT_CONFIG

    @contextlib.asynccontextmanager
    async def running(nats: NATS) -> AsyncIterator[list[asyncio.Task[None]]]:
        from fowergram.adapters.postgres.pool import create_pool
        from fowergram.app import open_outbox_relay
        from fowergram.observability.metrics import Metrics
        from fowergram.realtime.workers import open_consumers

        if args.name == "relay":
            async with open_outbox_relay(settings, Metrics(), nats) as relay:
                yield [relay]
            return
        pool = await create_pool(database_url, min_size=1, max_size=settings.db_pool_max_size)
        try:
            async with open_consumers(settings, Metrics(), nats, pool, names) as tasks:
                yield list(tasks.values())
        finally:
            await pool.close()

    async def run() -> None:
        from fowergram.adapters.nats.connection import close_nats, connect_nats

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        nats = await connect_nats(nats_url, name=f"{settings.app_name}-{args.name}-{os.getpid()}")
        try:
            async with running(nats) as tasks:
                stop = asyncio.create_task(stopping.wait())
                await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
        finally:
            await close_nats(nats)

    asyncio.run(run())
    return 0


def _worker_names() -> list[str]:
    from fowergram.realtime.workers import CONSUMERS

    return ["relay", "consumers", *sorted(CONSUMERS)]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 1 and 65535")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fowergram", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve HTTP and WebSocket (services from env)")
    serve.add_argument("--host", help="bind address (default HOST)")
    serve.add_argument("--port", type=_port, help="port (default PORT)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes")
    serve.set_defaults(handler=cmd_serve)

    dev = commands.add_parser(
        "dev", help="start embedded PostgreSQL, Redis and NATS where unconfigured, migrate, serve"
    )
    dev.add_argument("--host", help="bind address (default 127.0.0.1)")
    dev.add_argument("--port", type=_port, help=f"port (default {DEV_PORT})")
    dev.set_defaults(handler=cmd_dev)

    migrate = commands.add_parser("migrate", help="apply or roll back schema migrations")
    migrate.add_argument("action", choices=["up", "down", "status"])
    migrate.add_argument(
        "--count", type=_positive, default=1, help="migrations to roll back (down)"
    )
    migrate.set_defaults(handler=cmd_migrate)

    worker = commands.add_parser("worker", help="run a background worker on its own")
    worker.add_argument(
        "name",
        choices=_worker_names(),
        help="relay: outbox events to JetStream; consumers: every durable consumer; "
        "or one consumer by name",
    )
    worker.set_defaults(handler=cmd_worker)

    keys = commands.add_parser("keys", help="access-token signing keys")
    keys.add_argument("action", choices=["rotate"])
    keys.add_argument(
        "--retire-others",
        action="store_true",
        help="stop accepting tokens signed by older keys (after a suspected leak)",
    )
    keys.set_defaults(handler=cmd_keys)

    prune = commands.add_parser("prune", help="delete ended sessions, spent tokens, old keys")
    prune.set_defaults(handler=cmd_prune)

    users = commands.add_parser("users", help="administer accounts")
    users.add_argument("action", choices=["set-role"])
    users.add_argument("username")
    users.add_argument("role", choices=["user", "moderator", "admin"])
    users.set_defaults(handler=cmd_users)

    schema = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema.add_argument("--output", help="write to this file instead of stdout")
    schema.set_defaults(handler=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    try:
        code: int = args.handler(settings, args)
    except (EmbeddedServiceError, MigrationError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_STARTUP
    return code


if __name__ == "__main__":
    sys.exit(main())
