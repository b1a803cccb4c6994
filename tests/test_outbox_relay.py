"""The outbox relay against real PostgreSQL and a private NATS server: every committed
event reaches the stream once, in order, across a NATS outage, a lost LISTEN connection
and two relays at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from support.nats_server import start_nats
from support.outbox_events import unpublished_count

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.adapters.nats.event_stream import (
    MSG_ID,
    JetStreamEvents,
    decode_event,
    encode_event,
    stream_config,
    stream_name,
)
from fowergram.adapters.postgres.outbox import record_events
from fowergram.adapters.postgres.outbox_queue import OUTBOX_CHANNEL, PostgresOutboxQueue
from fowergram.adapters.postgres.outbox_wakeups import OutboxWakeups
from fowergram.adapters.postgres.pool import create_pool
from fowergram.domain.events import DomainEvent, RecordedEvent
from fowergram.embedded.nats import EmbeddedNats
from fowergram.observability.metrics import Metrics
from fowergram.realtime.outbox_relay import Backoff, OutboxRelay, RelayOptions, relaying


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(base_s=0.1, cap_s=1.0)
    assert [backoff.delay(n, 0.0) for n in (1, 2, 3, 4, 5, 60)] == [
        0.05, 0.1, 0.2, 0.4, 0.5, 0.5
    ]  # fmt: skip
    assert backoff.delay(2, 0.999) == pytest.approx(0.2, abs=0.001)


def test_an_event_round_trips_through_its_wire_encoding() -> None:
    event = RecordedEvent(
        id=42,
        kind="post.liked",
        aggregate_id=7,
        payload={"userId": 3, "caption": "é ✓"},
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    )
    assert decode_event(encode_event(event)) == event
    assert b'"aggregateId":7' in encode_event(event)


@contextlib.asynccontextmanager
async def _relay(
    database_url: str, nats_url: str, prefix: str, *, poll_interval_s: float = 0.2
) -> AsyncIterator[Metrics]:
    metrics = Metrics()
    nc = await connect_nats(nats_url, name="test-relay")
    pool = await create_pool(database_url, min_size=1, max_size=2)
    relay = OutboxRelay(
        PostgresOutboxQueue(pool),
        JetStreamEvents(nc, subject_prefix=prefix, max_age_s=3600, ack_timeout_s=1),
        OutboxWakeups(database_url, retry_s=0.1),
        metrics,
        RelayOptions(
            batch_size=7,  # several batches per test
            poll_interval_s=poll_interval_s,
            lag_sample_interval_s=0.05,
            backoff=Backoff(base_s=0.05, cap_s=0.3),
        ),
    )
    try:
        async with relaying(relay):
            yield metrics
    finally:
        await pool.close()
        await close_nats(nc)


async def _commit(pool: asyncpg.Pool, first: int, count: int) -> None:
    """`count` events, one transaction each, numbered from `first` in their payload."""
    for n in range(first, first + count):
        async with pool.acquire() as conn, conn.transaction():
            await record_events(conn, [DomainEvent("post.liked", n, {"n": n})])


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _all_published(pool: asyncpg.Pool) -> bool:
    return await unpublished_count(pool) == 0


async def _consume_all(nats_url: str, prefix: str) -> list[tuple[str, RecordedEvent]]:
    """Everything in the stream, through a fresh pull consumer: (Nats-Msg-Id, event)."""
    nc = await connect_nats(nats_url, name="test-consumer")
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"{prefix}.evt.>", stream=stream_name(prefix))
        received: list[tuple[str, RecordedEvent]] = []
        while True:
            try:
                messages = await sub.fetch(batch=50, timeout=0.5)
            except TimeoutError:
                return received
            for message in messages:
                assert message.subject == f"{prefix}.evt.post.liked"
                assert message.headers is not None
                received.append((message.headers[MSG_ID], decode_event(message.data)))
                await message.ack()
    finally:
        await nc.close()  # not drained: a pull subscription's drain waits for its timeout


async def _stream_count(nc: NATS, prefix: str) -> int:
    info = await nc.jetstream().stream_info(stream_name(prefix))
    messages: int = info.state.messages
    return messages


async def _row_has_failed(pool: asyncpg.Pool, n: int) -> bool:
    row = await pool.fetchrow(
        "SELECT attempts, last_error, published_at FROM outbox WHERE aggregate_id = $1", n
    )
    assert row is not None
    assert row["published_at"] is None
    return bool(row["attempts"] > 0 and row["last_error"])


async def _is(check: Callable[[], bool]) -> bool:
    return check()


LAG = "fowergram_outbox_lag_seconds"


def _value(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return value or 0.0


async def test_events_wait_out_a_nats_outage_and_arrive_once_in_order(
    private_database: str, nats_server: EmbeddedNats
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    pool = await create_pool(private_database, min_size=1, max_size=2)
    try:
        async with _relay(private_database, nats_server.url, prefix) as metrics:
            await _commit(pool, 1, 10)
            await _eventually(lambda: _all_published(pool))

            await asyncio.to_thread(nats_server.stop)
            await _commit(pool, 11, 10)
            # The relay tries, fails, records it on the first waiting row, and keeps order.
            await _eventually(lambda: _row_has_failed(pool, 11), timeout=5)
            assert not await _all_published(pool)
            await _eventually(lambda: _is(lambda: _value(metrics, LAG) > 0))
            assert _value(metrics, "fowergram_outbox_publish_failures_total") >= 1

            await start_nats(nats_server)  # same store: the stream and its de-dup window survive
            await _commit(pool, 21, 5)
            await _eventually(lambda: _all_published(pool))
            errors = "SELECT count(*) FROM outbox WHERE last_error IS NOT NULL"
            assert await pool.fetchval(errors) == 0  # cleared by the publication
            published = _value(
                metrics, "fowergram_outbox_events_published_total", {"kind": "post.liked"}
            )
            assert published == 25
            await _eventually(lambda: _is(lambda: _value(metrics, LAG) == 0))

        received = await _consume_all(nats_server.url, prefix)
        ids = await pool.fetch("SELECT id FROM outbox ORDER BY id")
    finally:
        await pool.close()
    assert [event.payload["n"] for _, event in received] == list(range(1, 26))
    assert [event.id for _, event in received] == [row["id"] for row in ids]
    assert all(msg_id == str(event.id) for msg_id, event in received)


async def test_a_commit_wakes_the_relay_also_after_its_listen_connection_drops(
    private_database: str, nats_server: EmbeddedNats
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    listener = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE application_name = 'listen:fg_outbox' AND datname = current_database()"
    )
    pool = await create_pool(private_database, min_size=1, max_size=2)
    try:
        # Polling every minute: only a notification can publish within the test's seconds.
        async with _relay(private_database, nats_server.url, prefix, poll_interval_s=60):
            await _eventually(lambda: _asleep(pool))
            await _commit(pool, 1, 1)
            await _eventually(lambda: _all_published(pool), timeout=3)

            (first,) = await pool.fetch(listener)
            await pool.execute("SELECT pg_terminate_backend($1)", first["pid"])
            await _eventually(lambda: _asleep(pool, besides=first["pid"]))
            await _commit(pool, 2, 1)
            await _eventually(lambda: _all_published(pool), timeout=3)
        received = await _consume_all(nats_server.url, prefix)
    finally:
        await pool.close()
    assert [event.payload["n"] for _, event in received] == [1, 2]


async def _asleep(pool: asyncpg.Pool, besides: int | None = None) -> bool:
    """A relay listens and has asked writers to notify it (from that connection)."""
    rows = await pool.fetch(
        "SELECT s.pid FROM outbox_sleepers s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.application_name = 'listen:fg_outbox' AND a.datname = current_database()"
    )
    return any(row["pid"] != besides for row in rows)


@contextlib.asynccontextmanager
async def _a_commit_nobody_is_told_of(
    database_url: str, nats_url: str, prefix: str, *, poll_interval_s: float
) -> AsyncIterator[tuple[asyncpg.Pool, list[str]]]:
    """A relay polling every `poll_interval_s`, asleep, and event 1 committed without a
    notification: the case polling is for. Its insert (and so its trigger) ran while no
    relay had asked for wake-ups; it commits once the relay sleeps, having last looked
    before the commit. Yields a pool and the notifications heard on the channel."""
    pool = await create_pool(database_url, min_size=1, max_size=2)
    notified: list[str] = []
    listening = await asyncpg.connect(database_url)
    writer = await pool.acquire()  # the pool's connections encode jsonb
    try:
        await listening.add_listener(OUTBOX_CHANNEL, lambda *args: notified.append(args[2]))
        assert await pool.fetchval("SELECT count(*) FROM outbox_sleepers") == 0
        written = writer.transaction()
        await written.start()
        await record_events(writer, [DomainEvent("post.liked", 1, {"n": 1})])
        async with _relay(database_url, nats_url, prefix, poll_interval_s=poll_interval_s):
            await _eventually(lambda: _asleep(pool))
            # Asking, it looks once more a moment later (awake_poll_s, 10 ms): commit
            # after that look, so that only a later poll can find the row.
            await asyncio.sleep(0.5)
            await written.commit()
            yield pool, notified
    finally:
        await pool.release(writer)
        await listening.close()
        await pool.close()


async def test_polling_publishes_a_commit_that_notified_no_one(
    private_database: str, nats_server: EmbeddedNats
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    async with _a_commit_nobody_is_told_of(
        private_database, nats_server.url, prefix, poll_interval_s=0.3
    ) as (pool, notified):
        await _eventually(lambda: _all_published(pool), timeout=5)
        # Marked sent (published_at), not deleted.
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
        received = await _consume_all(nats_server.url, prefix)
    assert notified == []
    assert [event.payload["n"] for _, event in received] == [1]


async def test_without_polling_a_commit_that_notified_no_one_waits(
    private_database: str, nats_server: EmbeddedNats
) -> None:
    """The control for the test above: what delivered the event there was the poll."""
    prefix = f"r{uuid.uuid4().hex[:8]}"
    async with _a_commit_nobody_is_told_of(
        private_database, nats_server.url, prefix, poll_interval_s=60
    ) as (pool, notified):
        await asyncio.sleep(1.5)  # five of the other test's poll intervals
        assert not await _all_published(pool)
        assert await _consume_all(nats_server.url, prefix) == []
    assert notified == []


async def test_two_relays_share_the_work_and_publish_each_event_once(
    private_database: str, nats_server: EmbeddedNats
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    pool = await create_pool(private_database, min_size=1, max_size=4)
    try:
        async with (
            _relay(private_database, nats_server.url, prefix) as one,
            _relay(private_database, nats_server.url, prefix) as two,
        ):
            await asyncio.gather(*(_commit(pool, first, 15) for first in (1, 16, 31, 46)))
            await _eventually(lambda: _all_published(pool))
        received = await _consume_all(nats_server.url, prefix)
    finally:
        await pool.close()
    # Each row was claimed by one relay: no publication was repeated (the stream would
    # have discarded a repeat, so count what the relays published, not what is stored).
    name, kind = "fowergram_outbox_events_published_total", {"kind": "post.liked"}
    assert _value(one, name, kind) + _value(two, name, kind) == 60
    assert sorted(event.payload["n"] for _, event in received) == list(range(1, 61))


@contextlib.asynccontextmanager
async def _publisher(
    nats_server: EmbeddedNats, **options: float
) -> AsyncIterator[tuple[NATS, JetStreamEvents, str]]:
    """A connection, the events' publisher on a fresh prefix, and that prefix."""
    prefix = f"r{uuid.uuid4().hex[:8]}"
    nc = await connect_nats(nats_server.url, name="test-publisher")
    try:
        yield nc, JetStreamEvents(nc, subject_prefix=prefix, max_age_s=3600, **options), prefix
    finally:
        await close_nats(nc)


async def test_a_repeated_publication_inside_the_window_is_stored_once(
    nats_server: EmbeddedNats,
) -> None:
    """What a relay that crashed between the ack and its commit does: publish again."""
    async with _publisher(nats_server) as (nc, events, prefix):
        await events.ensure_stream()
        await events.ensure_stream()  # idempotent
        event = RecordedEvent(1, "post.liked", 5, {}, datetime.now(UTC))
        assert await events.publish_all([event]) == [None]
        assert await events.publish_all([event]) == [None]  # acknowledged as a duplicate
        assert await _stream_count(nc, prefix) == 1
        info = await nc.jetstream().stream_info(stream_name(prefix))
        assert info.config.duplicate_window == 300
        assert info.config.subjects == [f"{prefix}.evt.>"]


async def test_a_batch_is_sent_whole_and_each_event_gets_its_own_outcome(
    nats_server: EmbeddedNats,
) -> None:
    async with _publisher(nats_server, ack_timeout_s=2) as (nc, events, prefix):
        # The stream made here with a size limit: one event of the batch is refused.
        config = stream_config(prefix, max_age_s=3600)
        await nc.jetstream().add_stream(replace(config, max_msg_size=400))
        now = datetime.now(UTC)
        batch = [RecordedEvent(n, "post.liked", n, {"n": n}, now) for n in range(1, 6)]
        batch[2] = replace(batch[2], payload={"n": 3, "padding": "x" * 500})
        outcomes = await events.publish_all(batch)
        assert [outcome is None for outcome in outcomes] == [True, True, False, True, True]
        assert "maximum" in str(outcomes[2]).lower()
        # The others are stored, in the order sent.
        stored = [event.id for _, event in await _consume_all(nats_server.url, prefix)]
        assert stored == [1, 2, 4, 5]
        assert await events.publish_all([]) == []


async def _notifications_for_one_commit(pool: asyncpg.Pool, database_url: str) -> int:
    """How many notifications on the outbox channel one committed event sends."""
    received: list[str] = []
    listening = await asyncpg.connect(database_url)
    try:
        await listening.add_listener(OUTBOX_CHANNEL, lambda *args: received.append(args[2]))
        await _commit(pool, 1, 1)
        await asyncio.sleep(0.3)
    finally:
        await listening.close()
    return len(received)


async def test_writers_notify_only_while_a_relay_sleeps(private_database: str) -> None:
    pool = await create_pool(private_database, min_size=1, max_size=2)
    try:
        await pool.execute("DELETE FROM outbox_sleepers")
        assert await _notifications_for_one_commit(pool, private_database) == 0
        async with pool.acquire() as sleeper:  # a relay's session asking for wake-ups
            await sleeper.execute("INSERT INTO outbox_sleepers (pid) VALUES (pg_backend_pid())")
            assert await _notifications_for_one_commit(pool, private_database) == 1
            await sleeper.execute("DELETE FROM outbox_sleepers WHERE pid = pg_backend_pid()")
        assert await _notifications_for_one_commit(pool, private_database) == 0
    finally:
        await pool.close()


async def test_an_awake_relay_spares_writers_the_notification_and_sleeps_when_idle(
    private_database: str, nats_server: EmbeddedNats
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    pool = await create_pool(private_database, min_size=1, max_size=2)
    sleepers = "SELECT count(*) FROM outbox_sleepers"
    try:
        # Polling every minute: asleep, only a notification can publish in the test's time.
        async with _relay(private_database, nats_server.url, prefix, poll_interval_s=60):
            await _eventually(lambda: _asleep(pool))
            seen_awake = False
            for n in range(1, 41):  # a steady stream: the relay stays awake
                await _commit(pool, n, 1)
                await asyncio.sleep(0.02)
                seen_awake |= await pool.fetchval(sleepers) == 0
            await _eventually(lambda: _all_published(pool), timeout=3)
            assert seen_awake  # it asked writers to stop notifying while rows kept coming
            await _eventually(lambda: _asleep(pool))  # idle again: it asks for them
            await _commit(pool, 41, 1)
            await _eventually(lambda: _all_published(pool), timeout=3)
        received = await _consume_all(nats_server.url, prefix)
    finally:
        await pool.close()
    assert [event.payload["n"] for _, event in received] == list(range(1, 42))
