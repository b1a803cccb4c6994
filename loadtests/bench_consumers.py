"""The notifications consumer alone: how many events a second it settles, and what each
costs PostgreSQL, without HTTP, NATS or the requests competing for the same cores.

    python -m loadtests.bench_consumers [--events 6000] [--rounds 3] [--users 3000]

1. A fresh database (embedded PostgreSQL in a temporary folder; with DATABASE_URL set, a
   fresh database on that server, dropped afterwards), migrated and seeded with
   loadtests/seed.py (smaller than bench_http's: the events, not the reads, are measured).
2. Makes likes of random posts (a skewed choice, so groups are bumped as well as
   started) and follows, as the outbox would record them, and hands them to the real
   `Consumer` (its batches and lanes, `ConsumerOptions`' defaults) with the real
   `NotificationRecorder` and PostgreSQL adapters, on a pool of the size the in-process
   consumers get (CONSUMER_DB_POOL_MAX_SIZE's default).
3. Prints, per round, events settled per second, PostgreSQL's CPU per event (all its
   processes: the embedded ones, or every `postgres` process of the server on
   DATABASE_URL) and this process's CPU per event.

The stream is an in-memory source and the live channel only counts its messages: this
measures the database's share of the pipeline, which is what saturates under write load
(bench_http's likePost: PostgreSQL 80-85% of its core).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import uvloop

from fowergram.adapters.postgres.notification_audience import PostgresAudiences
from fowergram.adapters.postgres.notification_facts import PostgresEventFacts
from fowergram.adapters.postgres.notifications import PostgresNotifications
from fowergram.adapters.postgres.pool import create_pool
from fowergram.config import Settings
from fowergram.domain.events import RecordedEvent
from fowergram.domain.notifications.recorder import NotificationRecorder
from fowergram.embedded.postgres import EmbeddedPostgres
from fowergram.embedded.process import free_port
from fowergram.observability.metrics import Metrics
from fowergram.realtime.consumers import Consumer, ConsumerOptions
from loadtests.seed import SeedSizes, seed
from loadtests.server import fresh_database

FOLLOW_SHARE = 0.2  # of the events; the rest are likes


class _Delivery:
    def __init__(self, event: RecordedEvent, settled: list[int]) -> None:
        self._event = event
        self._settled = settled

    @property
    def deliveries(self) -> int:
        return 1

    def event(self) -> RecordedEvent:
        return self._event

    async def ack(self) -> None:
        self._settled[0] += 1

    async def retry(self, delay_s: float) -> None:
        raise RuntimeError(f"event {self._event.id} failed")

    async def keep_alive(self) -> None:
        return None

    async def dead_letter(self, error: str, event_id: int | None) -> None:
        raise RuntimeError(f"event {event_id} dead-lettered: {error}")


class _ListSource:
    """The events in stream order, `batch` at a time, as a pull consumer gets them."""

    def __init__(self, events: Sequence[RecordedEvent]) -> None:
        self._events = list(events)
        self.settled = [0]

    async def open(self) -> None:
        return None

    async def fetch(self, batch: int, wait_s: float) -> list[_Delivery]:
        taken, self._events = self._events[:batch], self._events[batch:]
        if not taken:
            await asyncio.sleep(0.01)
        return [_Delivery(event, self.settled) for event in taken]

    async def close(self) -> None:
        return None


class _CountingChannel:
    def __init__(self) -> None:
        self.sent = 0

    async def to_user(self, user_id: int, message: dict[str, Any]) -> None:
        self.sent += 1


async def _events(conn: asyncpg.Connection, count: int, first_id: int) -> list[RecordedEvent]:
    rng = random.Random(first_id)
    users = [row["id"] for row in await conn.fetch("SELECT id FROM users")]
    posts = await conn.fetch("SELECT id, author_id FROM posts ORDER BY id LIMIT 20000")
    # A few posts get most likes (Zipf-like).
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(posts))))
    now = datetime.now(UTC)
    events = []
    for n in range(count):
        actor = rng.choice(users)
        if rng.random() < FOLLOW_SHARE:
            payload = {"actorId": actor, "targetId": rng.choice(users)}
            events.append(RecordedEvent(first_id + n, "user.followed", actor, payload, now))
        else:
            post = rng.choices(posts, cum_weights=cum_weights)[0]
            payload = {"actorId": actor, "authorId": post["author_id"]}
            events.append(RecordedEvent(first_id + n, "post.liked", post["id"], payload, now))
    return events


def _cpu(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _postgres_processes(embedded: EmbeddedPostgres | None) -> list[psutil.Process]:
    if embedded is not None and embedded.pid is not None:
        root = psutil.Process(embedded.pid)
        return [root, *root.children(recursive=True)]
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


async def _round(url: str, events: list[RecordedEvent], embedded: EmbeddedPostgres | None) -> None:
    pool = await create_pool(url, min_size=1, max_size=Settings().consumer_db_pool_max_size)
    live = _CountingChannel()
    recorder = NotificationRecorder(
        store=PostgresNotifications(pool),
        facts=PostgresEventFacts(pool),
        audiences=PostgresAudiences(pool),
        live=live,
    )
    source = _ListSource(events)
    consumer = Consumer("bench", recorder, ConsumerOptions(), source, Metrics())
    database = _postgres_processes(embedded)  # after the pool: its backends exist now
    db_before, own_before, started = _cpu(database), time.process_time(), time.perf_counter()
    task = asyncio.create_task(consumer.run())
    while source.settled[0] < len(events):  # noqa: ASYNC110  (acks come from lanes)
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    db_cpu = _cpu(database) - db_before
    own_cpu = time.process_time() - own_before
    consumer.stop()
    await task
    await pool.close()
    per = 1e6 / len(events)
    print(
        f"  {len(events)} events in {elapsed:.2f} s: {len(events) / elapsed:,.0f} events/s; "
        f"PostgreSQL {db_cpu * per:,.0f} µs CPU per event, this process {own_cpu * per:,.0f} µs; "
        f"{live.sent} live messages"
    )


@contextlib.contextmanager
def _database() -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    if os.environ.get("DATABASE_URL"):
        with fresh_database(os.environ["DATABASE_URL"]) as url:
            yield url, None
        return
    with tempfile.TemporaryDirectory(prefix="fowergram-bench-") as folder:
        embedded = EmbeddedPostgres(Path(folder), free_port())
        embedded.launch()
        try:
            yield embedded.wait_ready(), embedded
        finally:
            embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=6000, help="events per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--posts", type=int, default=30000)
    args = parser.parse_args()
    with _database() as (url, embedded):
        env = {**os.environ, "DATABASE_URL": url}
        subprocess.run(
            [sys.executable, "-m", "fowergram.cli", "migrate", "up"],
            env=env,
            check=True,
            capture_output=True,
        )
        seed(url, SeedSizes(users=args.users, posts=args.posts), log=False)
        print(f"notifications consumer, {args.events} events per round (likes and follows)")
        for number in range(args.rounds):

            async def one_round(number: int = number) -> None:
                conn = await asyncpg.connect(url)
                events = await _events(conn, args.events, 1 + number * args.events)
                await conn.close()
                await _round(url, events, embedded)

            uvloop.run(one_round())  # the server's event loop


if __name__ == "__main__":
    main()
