"""Durable consumers against real NATS: each event handled once and in order, failures
retried then dead-lettered without blocking the stream, undecodable messages set aside,
a restart resuming where the last consumer acknowledged, and a NATS outage waited out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest
from conftest import make_settings
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from support.nats_server import start_nats
from support.services import ServiceUrls

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.adapters.nats.durable_consumer import (
    DLQ_CONSUMER,
    DLQ_DELIVERIES,
    DLQ_ERROR,
    DLQ_EVENT_ID,
    DLQ_STREAM_SEQ,
    DLQ_SUBJECT,
    DurableEventConsumer,
    dlq_stream_name,
)
from fowergram.adapters.nats.event_stream import (
    JetStreamEvents,
    decode_event,
    event_subject,
    stream_name,
)
from fowergram.adapters.postgres.pool import create_pool
from fowergram.domain.events import RecordedEvent
from fowergram.embedded.nats import EmbeddedNats
from fowergram.observability.metrics import Metrics
from fowergram.realtime.consumers import Consumer, ConsumerOptions, consuming
from fowergram.realtime.outbox_relay import Backoff
from fowergram.realtime.workers import UnknownConsumer, WorkerResources, open_consumers

FAST = ConsumerOptions(
    max_deliver=3,
    ack_wait_s=1.0,
    batch=10,
    retry_delays_s=(0.2, 0.3),
    fetch_wait_s=0.5,
    backoff=Backoff(base_s=0.05, cap_s=0.3),
)


class Recorder:
    """Records every delivery's event id; fails as told."""

    def __init__(
        self,
        kinds: Iterable[str] = ("post.liked",),
        *,
        fail_times: dict[int, int] | None = None,
        always_fail: Iterable[int] = (),
    ) -> None:
        self.kinds = frozenset(kinds)
        self.seen: list[int] = []
        self._fail_times = dict(fail_times or {})
        self._always_fail = set(always_fail)

    async def handle(self, event: RecordedEvent) -> None:
        self.seen.append(event.id)
        if event.id in self._always_fail:
            raise RuntimeError(f"cannot handle event {event.id}\nsecond line")
        if self._fail_times.get(event.id, 0) > 0:
            self._fail_times[event.id] -= 1
            raise RuntimeError("transient failure")


def _event(n: int, kind: str = "post.liked") -> RecordedEvent:
    return RecordedEvent(n, kind, n, {"n": n}, datetime.now(UTC))


async def _publish(nc: NATS, prefix: str, *events: RecordedEvent) -> None:
    publisher = JetStreamEvents(nc, subject_prefix=prefix, max_age_s=3600, ack_timeout_s=2)
    await publisher.ensure_stream()
    for event in events:
        await publisher.publish(event)


async def _eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _consumer(
    nc: NATS,
    prefix: str,
    handler: Recorder,
    *,
    name: str = "test",
    options: ConsumerOptions = FAST,
) -> AsyncIterator[Metrics]:
    metrics = Metrics()
    source = DurableEventConsumer(
        nc,
        subject_prefix=prefix,
        name=name,
        kinds=handler.kinds,
        ack_wait_s=options.ack_wait_s,
        stream_max_age_s=3600,
    )
    async with consuming(Consumer(name, handler, options, source, metrics)):
        yield metrics


def _count(metrics: Metrics, outcome: str, consumer: str = "test") -> float:
    labels = {"consumer": consumer, "outcome": outcome}
    return metrics.registry.get_sample_value("fowergram_consumer_events_total", labels) or 0.0


async def _settled(nc: NATS, prefix: str, last_seq: int, name: str = "test") -> bool:
    """Every delivery acknowledged or terminated, up to stream sequence `last_seq`."""
    try:
        info = await nc.jetstream().consumer_info(stream_name(prefix), name)
    except NotFoundError:  # not created yet
        return False
    return bool(
        info.num_ack_pending == 0
        and info.num_pending == 0
        and info.ack_floor.stream_seq == last_seq
    )


async def _dead_letters(nc: NATS, prefix: str) -> list[Msg]:
    js = nc.jetstream()
    try:
        info = await js.stream_info(dlq_stream_name(prefix))
    except NotFoundError:
        return []
    if info.state.messages == 0:
        return []
    sub = await js.pull_subscribe(f"{prefix}.dlq.>", stream=dlq_stream_name(prefix))
    try:
        return await sub.fetch(batch=info.state.messages, timeout=2)
    finally:
        await sub.unsubscribe()


@pytest.fixture
async def nc(service_urls: ServiceUrls) -> AsyncIterator[NATS]:
    client = await connect_nats(service_urls.nats, name="test-consumers")
    yield client
    await close_nats(client)


@pytest.fixture
async def prefix(nc: NATS) -> AsyncIterator[str]:
    """A subject prefix of this test's own; its streams are deleted afterwards."""
    prefix = f"c{uuid.uuid4().hex[:10]}"
    yield prefix
    for stream in (stream_name(prefix), dlq_stream_name(prefix)):
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(stream)


def test_retry_delays_grow_and_the_last_one_repeats() -> None:
    options = ConsumerOptions()
    assert [options.retry_delay(n) for n in (1, 2, 3, 4, 5, 50)] == [0.5, 2, 10, 30, 30, 30]


@pytest.mark.parametrize(
    "bad",
    [
        {"max_deliver": 0},
        {"max_deliver": 101},
        {"ack_wait_s": 0},
        {"batch": 0},
        {"lanes": 0},
        {"retry_delays_s": ()},
        {"retry_delays_s": (1.0, -1.0)},
    ],
)
def test_options_out_of_range_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        ConsumerOptions(**bad)  # type: ignore[arg-type]


async def test_a_consumer_needs_a_durable_name_and_some_kinds(nc: NATS) -> None:
    source = DurableEventConsumer(
        nc, subject_prefix="x", name="x", kinds=["post.liked"], ack_wait_s=1, stream_max_age_s=60
    )
    for name in ("", "has.dot", "has space", "a>"):
        with pytest.raises(ValueError, match="consumer names"):
            Consumer(name, Recorder(), FAST, source, Metrics())
    with pytest.raises(ValueError, match="no event kinds"):
        Consumer("ok", Recorder(kinds=()), FAST, source, Metrics())


async def test_the_wanted_events_reach_the_handler_once_each_in_order(
    nc: NATS, prefix: str
) -> None:
    kinds = ["post.liked", "comment.created", "user.followed"] * 10
    events = [_event(n, kind) for n, kind in enumerate(kinds, start=1)]
    await _publish(nc, prefix, *events[:15])  # some wait in the stream before it starts
    handler = Recorder(kinds={"post.liked", "comment.created"})
    async with _consumer(nc, prefix, handler) as metrics:
        await _publish(nc, prefix, *events[15:])
        wanted = [event.id for event in events if event.kind != "user.followed"]
        await _eventually(lambda: len(handler.seen) >= len(wanted))
        # (stream sequence = event id here; the last event is one it does not take)
        await _eventually(lambda: _settled(nc, prefix, last_seq=wanted[-1]))
        assert _count(metrics, "ok") == 20
    assert handler.seen == wanted
    info = await nc.jetstream().consumer_info(stream_name(prefix), "test")
    assert info.config.filter_subjects == [
        event_subject(prefix, "comment.created"),
        event_subject(prefix, "post.liked"),
    ]
    assert info.config.ack_wait == FAST.ack_wait_s
    assert await _dead_letters(nc, prefix) == []


async def test_a_failing_event_is_retried_while_later_ones_go_on(nc: NATS, prefix: str) -> None:
    handler = Recorder(fail_times={2: 2})
    async with _consumer(nc, prefix, handler) as metrics:
        await _publish(nc, prefix, *(_event(n) for n in range(1, 6)))
        await _eventually(lambda: _settled(nc, prefix, last_seq=5))
        assert (_count(metrics, "ok"), _count(metrics, "retried")) == (5, 2)
        latency = metrics.registry.get_sample_value(
            "fowergram_consumer_handle_duration_seconds_count", {"consumer": "test"}
        )
        assert latency == 7
    assert handler.seen.count(2) == 3
    # 3, 4 and 5 did not wait for 2's retries (each later by a retry delay).
    assert handler.seen[:5] == [1, 2, 3, 4, 5]
    assert sorted(handler.seen) == [1, 2, 2, 2, 3, 4, 5]
    assert await _dead_letters(nc, prefix) == []


async def test_an_event_failing_every_time_is_dead_lettered_and_the_stream_goes_on(
    nc: NATS, prefix: str
) -> None:
    handler = Recorder(always_fail={2})
    async with _consumer(nc, prefix, handler) as metrics:
        await _publish(nc, prefix, *(_event(n) for n in range(1, 4)))
        await _eventually(lambda: _count(metrics, "dead_lettered") == 1)
        await _publish(nc, prefix, *(_event(n) for n in range(4, 6)))
        await _eventually(lambda: _settled(nc, prefix, last_seq=5))
        assert (_count(metrics, "ok"), _count(metrics, "retried")) == (4, 2)
    assert handler.seen.count(2) == FAST.max_deliver
    assert [n for n in handler.seen if n != 2] == [1, 3, 4, 5]

    (letter,) = await _dead_letters(nc, prefix)
    assert letter.subject == f"{prefix}.dlq.test"
    assert decode_event(letter.data).id == 2
    headers = letter.headers or {}
    assert headers[DLQ_CONSUMER] == "test"
    assert headers[DLQ_SUBJECT] == event_subject(prefix, "post.liked")
    assert headers[DLQ_STREAM_SEQ] == "2"
    assert headers[DLQ_DELIVERIES] == str(FAST.max_deliver)
    assert headers[DLQ_EVENT_ID] == "2"
    assert "cannot handle event 2" in headers[DLQ_ERROR]
    assert "\n" not in headers[DLQ_ERROR]


async def test_an_event_whose_last_delivery_went_unsettled_is_dead_lettered_untried(
    nc: NATS, prefix: str
) -> None:
    """What a consumer crashing on its last attempt leaves behind: no further attempt,
    but not silently dropped either."""
    await _publish(nc, prefix, _event(1), _event(2))
    handler = Recorder()
    crashing = DurableEventConsumer(
        nc,
        subject_prefix=prefix,
        name="test",
        kinds=handler.kinds,
        ack_wait_s=FAST.ack_wait_s,
        stream_max_age_s=3600,
    )
    await crashing.open()
    counts: list[int] = []
    while len(counts) < FAST.max_deliver:  # taken and never settled, until ack_wait ends
        for delivery in await crashing.fetch(1, wait_s=2 * FAST.ack_wait_s):
            if delivery.event().id == 1:
                counts.append(delivery.deliveries)
            else:
                await delivery.ack()
    await crashing.close()
    assert counts == [1, 2, 3]

    async with _consumer(nc, prefix, handler) as metrics:
        await _eventually(lambda: _settled(nc, prefix, last_seq=2))
        assert _count(metrics, "dead_lettered") == 1
    assert handler.seen == []
    (letter,) = await _dead_letters(nc, prefix)
    headers = letter.headers or {}
    assert headers[DLQ_DELIVERIES] == "4"
    assert headers[DLQ_EVENT_ID] == "1"
    assert headers[DLQ_ERROR] == f"unsettled after {FAST.max_deliver} deliveries"


async def test_an_undecodable_message_is_dead_lettered_at_once(nc: NATS, prefix: str) -> None:
    handler = Recorder()
    subject = event_subject(prefix, "post.liked")
    async with _consumer(nc, prefix, handler) as metrics:
        await _publish(nc, prefix, _event(1))
        js = nc.jetstream()
        await js.publish(subject, b"{not json", stream=stream_name(prefix))
        await js.publish(subject, orjson.dumps({"id": 9}), stream=stream_name(prefix))
        await _publish(nc, prefix, _event(2))
        await _eventually(lambda: _settled(nc, prefix, last_seq=4))
        assert (_count(metrics, "dead_lettered"), _count(metrics, "retried")) == (2, 0)
    assert handler.seen == [1, 2]
    letters = await _dead_letters(nc, prefix)
    assert [letter.data for letter in letters] == [b"{not json", b'{"id":9}']
    for letter, seq in zip(letters, ("2", "3"), strict=True):
        headers = letter.headers or {}
        assert headers[DLQ_STREAM_SEQ] == seq
        assert headers[DLQ_DELIVERIES] == "1"
        assert DLQ_EVENT_ID not in headers
        assert headers[DLQ_ERROR].startswith("undecodable")


async def test_a_restarted_consumer_resumes_after_the_last_acknowledged_event(
    nc: NATS, prefix: str
) -> None:
    first = Recorder()
    async with _consumer(nc, prefix, first):
        await _publish(nc, prefix, *(_event(n) for n in range(1, 6)))
        await _eventually(lambda: _settled(nc, prefix, last_seq=5))
    await _publish(nc, prefix, *(_event(n) for n in range(6, 9)))  # while none runs

    second = Recorder()
    async with _consumer(nc, prefix, second):
        await _eventually(lambda: _settled(nc, prefix, last_seq=8))
        await asyncio.sleep(FAST.ack_wait_s * 1.5)  # a lost acknowledgement would show now
    assert first.seen == [1, 2, 3, 4, 5]
    assert second.seen == [6, 7, 8]

    # Another name is another durable consumer: it starts at the stream's first event.
    other = Recorder()
    async with _consumer(nc, prefix, other, name="other"):
        await _eventually(lambda: _settled(nc, prefix, last_seq=8, name="other"))
    assert other.seen == list(range(1, 9))


async def test_a_stopping_consumer_hands_back_the_rest_of_its_batch(nc: NATS, prefix: str) -> None:
    class Slow(Recorder):
        async def handle(self, event: RecordedEvent) -> None:
            await super().handle(event)
            await asyncio.sleep(0.3)

    # Unacknowledged, the rest would come back only after a minute: past the test's wait.
    options = replace(FAST, ack_wait_s=60)
    slow = Slow()
    await _publish(nc, prefix, *(_event(n) for n in range(1, 11)))
    async with _consumer(nc, prefix, slow, options=options):
        await _eventually(lambda: len(slow.seen) >= 2)
    handled = list(slow.seen)
    assert handled == list(range(1, len(handled) + 1))
    assert len(handled) < 10
    after = Recorder()
    async with _consumer(nc, prefix, after, options=options):
        await _eventually(lambda: _settled(nc, prefix, last_seq=10))
    assert after.seen == list(range(len(handled) + 1, 11))


class LanedRecorder(Recorder):
    """Lanes from the payload; lane "a"'s first event waits (up to 5 s) for lane "b" to
    begin, which only concurrent lanes allow."""

    def __init__(self, *, hold_first: bool = True, pause_s: float = 0.0) -> None:
        super().__init__()
        self.b_began = asyncio.Event()
        self.waited_for_b: bool | None = None
        self._hold_first = hold_first
        self._pause_s = pause_s

    def lane(self, event: RecordedEvent) -> object:
        return event.payload["lane"]

    async def handle(self, event: RecordedEvent) -> None:
        if event.payload["lane"] == "b":
            self.b_began.set()
        if self._hold_first and event.id == 1:
            try:
                await asyncio.wait_for(self.b_began.wait(), 5)
                self.waited_for_b = True
            except TimeoutError:
                self.waited_for_b = False
        await super().handle(event)
        await asyncio.sleep(self._pause_s)


def _laned(n: int, lane: str) -> RecordedEvent:
    return RecordedEvent(n, "post.liked", n, {"lane": lane}, datetime.now(UTC))


async def test_lanes_of_a_batch_are_handled_at_once_each_in_stream_order(
    nc: NATS, prefix: str
) -> None:
    lanes = "aabababbaa"
    await _publish(nc, prefix, *(_laned(n, lane) for n, lane in enumerate(lanes, start=1)))
    handler = LanedRecorder()
    async with _consumer(nc, prefix, handler) as metrics:  # one batch of 10
        await _eventually(lambda: _settled(nc, prefix, last_seq=10))
        assert _count(metrics, "ok") == 10
    assert handler.waited_for_b is True
    assert handler.seen.index(3) < handler.seen.index(1)  # b went on while a's first waited
    assert sorted(handler.seen) == list(range(1, 11))
    for lane in "ab":
        mine = [n for n in handler.seen if lanes[n - 1] == lane]
        assert mine == [n for n, at in enumerate(lanes, start=1) if at == lane]


async def test_a_handler_without_lanes_is_given_one_event_at_a_time(nc: NATS, prefix: str) -> None:
    class Unlaned(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.at_once, self.most_at_once = 0, 0

        async def handle(self, event: RecordedEvent) -> None:
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
            await asyncio.sleep(0.02)
            await super().handle(event)
            self.at_once -= 1

    await _publish(nc, prefix, *(_laned(n, "ab"[n % 2]) for n in range(1, 9)))
    handler = Unlaned()
    async with _consumer(nc, prefix, handler):
        await _eventually(lambda: _settled(nc, prefix, last_seq=8))
    assert handler.seen == list(range(1, 9))
    assert handler.most_at_once == 1


async def test_a_stopping_laned_consumer_hands_back_what_its_lanes_had_not_begun(
    nc: NATS, prefix: str
) -> None:
    options = replace(FAST, ack_wait_s=60)
    lanes = "abababababab"[:10]
    await _publish(nc, prefix, *(_laned(n, lane) for n, lane in enumerate(lanes, start=1)))
    slow = LanedRecorder(hold_first=False, pause_s=0.3)
    async with _consumer(nc, prefix, slow, options=options):
        await _eventually(lambda: len(slow.seen) >= 2)
    handled = sorted(slow.seen)
    assert 2 <= len(handled) < 10
    after = Recorder()
    async with _consumer(nc, prefix, after, options=options):
        await _eventually(lambda: _settled(nc, prefix, last_seq=10))
    assert sorted(handled + after.seen) == list(range(1, 11))  # each once, none lost


async def test_an_undecodable_message_in_a_laned_batch_is_set_aside(nc: NATS, prefix: str) -> None:
    await _publish(nc, prefix, _laned(1, "a"))
    js = nc.jetstream()
    await js.publish(event_subject(prefix, "post.liked"), b"{not json", stream=stream_name(prefix))
    await _publish(nc, prefix, _laned(3, "b"))
    handler = LanedRecorder()
    async with _consumer(nc, prefix, handler) as metrics:
        await _eventually(lambda: _settled(nc, prefix, last_seq=3))
        assert (_count(metrics, "ok"), _count(metrics, "dead_lettered")) == (2, 1)
    assert sorted(handler.seen) == [1, 3]
    assert [letter.data for letter in await _dead_letters(nc, prefix)] == [b"{not json"]


async def test_nothing_is_lost_across_a_nats_outage(
    nats_server: EmbeddedNats, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fowergram.realtime.consumers")
    prefix = f"c{uuid.uuid4().hex[:10]}"
    client = await connect_nats(nats_server.url, name="test-outage")
    handler = Recorder()
    try:
        async with _consumer(client, prefix, handler) as metrics:
            await _publish(client, prefix, *(_event(n) for n in range(1, 6)))
            await _eventually(lambda: _settled(client, prefix, last_seq=5))

            await asyncio.to_thread(nats_server.stop)
            await _eventually(lambda: _outage_logs(caplog) == 1)
            await asyncio.sleep(1.0)  # several failed attempts: still one log line
            await start_nats(nats_server)  # same store: the stream and consumer survive
            await _eventually(lambda: client.is_connected)

            await _publish(client, prefix, *(_event(n) for n in range(6, 11)))
            await _eventually(lambda: _settled(client, prefix, last_seq=10))
            assert _count(metrics, "ok") == 10
    finally:
        await close_nats(client)
    assert handler.seen == list(range(1, 11))
    assert _outage_logs(caplog) == 1
    assert any(
        record.getMessage() == "consumer reaching the stream again" for record in caplog.records
    )


def _outage_logs(caplog: pytest.LogCaptureFixture) -> int:
    message = "consumer cannot reach the stream; retrying"
    return sum(record.getMessage() == message for record in caplog.records)


async def test_open_consumers_runs_the_named_ones_from_the_registry(
    service_urls: ServiceUrls, migrated_database: str, nc: NATS
) -> None:
    settings = make_settings(service_urls, migrated_database, consumer_ack_wait_s=1)
    prefix = settings.nats_subject_prefix
    built: dict[str, Recorder] = {}
    given: list[WorkerResources] = []

    def factory(name: str, kinds: set[str]) -> Callable[[WorkerResources], Recorder]:
        def build(resources: WorkerResources) -> Recorder:
            given.append(resources)
            built[name] = Recorder(kinds=kinds)
            return built[name]

        return build

    registry = {
        "likes": factory("likes", {"post.liked"}),
        "follows": factory("follows", {"user.followed"}),
        "idle": factory("idle", {"post.deleted"}),
    }
    pool = await create_pool(migrated_database, min_size=1, max_size=1)
    metrics = Metrics()
    try:
        with pytest.raises(UnknownConsumer, match=r"'nope' \(choices: follows, idle, likes\)"):
            async with open_consumers(settings, metrics, nc, pool, ["nope"], registry=registry):
                pass
        names = ["likes", "follows"]
        async with open_consumers(
            settings, metrics, nc, pool, names, registry=registry, options=FAST
        ) as tasks:
            assert sorted(tasks) == ["follows", "likes"]
            await _publish(nc, prefix, _event(1), _event(2, "user.followed"), _event(3))
            await _eventually(lambda: _settled(nc, prefix, last_seq=3, name="likes"))
            await _eventually(lambda: _settled(nc, prefix, last_seq=2, name="follows"))
        assert all(task.done() and not task.cancelled() for task in tasks.values())
        assert built["likes"].seen == [1, 3]
        assert built["follows"].seen == [2]
        assert "idle" not in built
        assert given[0].settings is settings
        assert given[0].db is pool
        assert given[0].nats is nc
        assert _count(metrics, "ok", "likes") == 2
    finally:
        await pool.close()
        for stream in (stream_name(prefix), dlq_stream_name(prefix)):
            with contextlib.suppress(NotFoundError):
                await nc.jetstream().delete_stream(stream)
