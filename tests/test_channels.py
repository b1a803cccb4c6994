"""Live channels over real NATS: reference-counted upstream interest (as the server sees
it), one fan-out for all sinks, a bounded backend backlog, and delivery across a NATS
restart. Whether the server still sends a channel is read from the client's count of
messages received (`nc.stats["in_msgs"]`): a message published on the channel, then one
on a sentinel channel, both from the same connection, arrive in that order or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats.errors
import pytest
from broadcaster import Event
from broadcaster._backends.memory import MemoryBackend
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from support.nats_server import private_nats, start_nats
from support.services import ServiceUrls

from fowergram.adapters.nats.broadcast_backend import NatsBackend, RawEvent
from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.adapters.nats.direct_subscription import subscribe_direct
from fowergram.embedded.nats import EmbeddedNats
from fowergram.observability.metrics import Metrics
from fowergram.realtime.channels import Channels, ChannelSink


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str | bytes]] = []

    def deliver(self, channel: str, message: str | bytes) -> None:
        self.messages.append((channel, message))

    @property
    def payloads(self) -> list[str | bytes]:
        return [message for _, message in self.messages]


class BrokenSink:
    def deliver(self, channel: str, message: str | bytes) -> None:
        raise RuntimeError("sink bug")


def _raw(event: Event) -> RawEvent:
    """The backend's events carry the payload as received: bytes (`RawEvent`)."""
    assert isinstance(event, RawEvent)
    return event


async def _eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _value(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.registry.get_sample_value(name, labels or {}) or 0.0


SUBSCRIPTIONS = "fowergram_channel_subscriptions"
DELIVERIES = "fowergram_channel_deliveries_total"
DROPPED = "fowergram_channel_dropped_total"


@pytest.fixture
def prefix() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def nc(service_urls: ServiceUrls) -> AsyncIterator[NATS]:
    client = await connect_nats(service_urls.nats, name="test-channels")
    yield client
    await close_nats(client)


class Live:
    """Channels over the shared test server, with a sentinel channel for probing."""

    def __init__(self, channels: Channels, nc: NATS, metrics: Metrics, prefix: str) -> None:
        self.channels, self.nc, self.metrics = channels, nc, metrics
        self.sentinel, self.sentinel_inbox = f"{prefix}.sentinel", Inbox()

    async def server_sends(self, channel: str) -> bool:
        """Whether the server delivers `channel` to this connection (any subscription)."""
        before, seen = self.nc.stats["in_msgs"], len(self.sentinel_inbox.messages)
        await self.nc.publish(channel, b"probe")
        await self.nc.publish(self.sentinel, b"sentinel")
        await _eventually(lambda: len(self.sentinel_inbox.messages) > seen)
        arrived = self.nc.stats["in_msgs"] - before
        assert arrived in (1, 2), arrived  # 3 or more: subscribed twice
        return arrived == 2


@pytest.fixture
async def live(nc: NATS, prefix: str) -> AsyncIterator[Live]:
    metrics = Metrics()
    async with Channels(NatsBackend(nc, metrics=metrics), metrics=metrics) as channels:
        state = Live(channels, nc, metrics, prefix)
        await channels.join(state.sentinel, state.sentinel_inbox)
        yield state


async def test_first_join_subscribes_upstream_and_the_last_leave_unsubscribes(
    live: Live, prefix: str
) -> None:
    channels, channel = live.channels, f"{prefix}.user.1"
    first, second = Inbox(), Inbox()
    assert not await live.server_sends(channel)

    await channels.join(channel, first)
    await channels.join(channel, second)
    assert channels.interest(channel) == 2
    assert channels.upstream == {channel, live.sentinel}
    assert _value(live.metrics, SUBSCRIPTIONS) == 2
    await channels.publish(channel, b"one")
    await _eventually(lambda: len(second.messages) == 1)
    assert first.messages == second.messages == [(channel, b"one")]

    await channels.leave(channel, first)
    assert channels.interest(channel) == 1
    assert await live.server_sends(channel)  # the probe reaches `second` only
    assert first.payloads == [b"one"]
    assert second.payloads == [b"one", b"probe"]

    await channels.leave(channel, second)
    await channels.leave(channel, second)  # twice, or never joined: nothing happens
    await channels.leave(f"{prefix}.user.unknown", first)
    assert channels.interest(channel) == 0
    assert channels.upstream == {live.sentinel}
    assert _value(live.metrics, SUBSCRIPTIONS) == 1
    assert not await live.server_sends(channel)
    assert second.payloads == [b"one", b"probe"]


async def test_concurrent_first_joins_subscribe_upstream_once(live: Live, prefix: str) -> None:
    channel = f"{prefix}.user.2"
    inboxes = [Inbox() for _ in range(50)]
    await asyncio.gather(*(live.channels.join(channel, inbox) for inbox in inboxes))
    assert live.channels.interest(channel) == 50
    assert _value(live.metrics, SUBSCRIPTIONS) == 2  # the channel and the sentinel

    before = live.nc.stats["in_msgs"]
    await live.channels.publish(channel, b"x")
    await live.channels.publish(channel, "y")  # str is sent as its UTF-8 bytes
    await _eventually(lambda: all(len(inbox.messages) >= 2 for inbox in inboxes))
    assert live.nc.stats["in_msgs"] - before == 2  # one upstream subscription
    assert all(inbox.payloads == [b"x", b"y"] for inbox in inboxes)
    assert _value(live.metrics, DELIVERIES) == 100


@pytest.mark.parametrize("yields", range(8))
async def test_a_join_racing_the_last_leave_ends_subscribed(
    live: Live, prefix: str, yields: int
) -> None:
    channel, leaving, joining = f"{prefix}.user.3", Inbox(), Inbox()
    await live.channels.join(channel, leaving)

    async def join_later() -> None:
        for _ in range(yields):  # land at each step of the unsubscribe in turn
            await asyncio.sleep(0)
        await live.channels.join(channel, joining)

    await asyncio.gather(live.channels.leave(channel, leaving), join_later())
    assert live.channels.interest(channel) == 1
    assert channel in live.channels.upstream
    await live.channels.publish(channel, b"after")
    await _eventually(lambda: len(joining.messages) == 1)
    assert joining.payloads == [b"after"]
    assert leaving.payloads == []


@pytest.mark.parametrize("yields", range(6))
async def test_a_leave_racing_the_first_join_ends_unsubscribed(
    live: Live, prefix: str, yields: int
) -> None:
    channel, inbox = f"{prefix}.user.4", Inbox()

    async def leave_later() -> None:
        for _ in range(yields):
            await asyncio.sleep(0)
        await live.channels.leave(channel, inbox)

    await asyncio.gather(live.channels.join(channel, inbox), leave_later())
    assert live.channels.interest(channel) == 0
    assert channel not in live.channels.upstream
    assert not await live.server_sends(channel)


async def test_random_joins_and_leaves_settle_to_interest(live: Live, prefix: str) -> None:
    names = [f"{prefix}.user.r{n}" for n in range(4)]
    inboxes = [Inbox() for _ in range(12)]
    rng = random.Random(7)

    async def churn(inbox: Inbox) -> None:
        for _ in range(30):
            channel = rng.choice(names)
            await live.channels.join(channel, inbox)
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)
            if rng.random() < 0.7:
                await live.channels.leave(channel, inbox)

    await asyncio.gather(*(churn(inbox) for inbox in inboxes))
    for channel in names:
        joined = live.channels.interest(channel) > 0
        assert (channel in live.channels.upstream) == joined
        assert await live.server_sends(channel) == joined


async def test_a_failing_sink_does_not_stop_the_others(
    live: Live, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    channel, before, after = f"{prefix}.post.9", Inbox(), Inbox()
    broken = [BrokenSink(), BrokenSink()]
    sinks: tuple[ChannelSink, ...] = (before, *broken, after)
    for sink in sinks:
        await live.channels.join(channel, sink)
    with caplog.at_level(logging.ERROR, logger="fowergram.realtime.channels"):
        await live.channels.publish(channel, b"1")
        await live.channels.publish(channel, b"2")
        await _eventually(lambda: len(after.messages) == 2)
    assert before.payloads == after.payloads == [b"1", b"2"]
    assert _value(live.metrics, DROPPED, {"reason": "sink_error"}) == 4
    assert _value(live.metrics, DELIVERIES) == 4
    failures = [r for r in caplog.records if r.getMessage() == "channel sink failed"]
    assert len(failures) == 2  # one line per message, not per failing sink


async def test_a_message_published_right_after_join_is_received(
    live: Live, prefix: str, service_urls: ServiceUrls
) -> None:
    # From another connection: nothing orders it after this connection's SUB but the
    # round trip `join` waits for. (A PING/PONG flush is not enough with nats-py 2.16:
    # this missed a few of 40 under load; see NatsBackend._confirm.)
    publisher = await connect_nats(service_urls.nats, name="test-publisher")
    inboxes = [Inbox() for _ in range(100)]
    try:
        for n, inbox in enumerate(inboxes):
            channel = f"{prefix}.user.fresh{n}"
            await live.channels.join(channel, inbox)
            await publisher.publish(channel, b"%d" % n)
            await publisher.flush()
    finally:
        await close_nats(publisher)
    await _eventually(lambda: all(inbox.messages for inbox in inboxes))
    assert [inbox.payloads for inbox in inboxes] == [[b"%d" % n] for n in range(100)]


async def test_a_wildcard_channel_reaches_its_sinks_under_its_own_name(
    live: Live, prefix: str
) -> None:
    inbox = Inbox()
    await live.channels.join(f"{prefix}.post.*", inbox)
    await live.channels.publish(f"{prefix}.post.5", b"five")
    await _eventually(lambda: bool(inbox.messages))
    assert inbox.messages == [(f"{prefix}.post.*", b"five")]


async def test_an_invalid_channel_is_refused_and_leaves_nothing_behind(live: Live) -> None:
    inbox = Inbox()
    for bad in ("", "has space", "a..b", "crlf\r\nPUB x 1"):
        with pytest.raises(nats.errors.BadSubjectError):
            await live.channels.join(bad, inbox)
        assert live.channels.interest(bad) == 0
    assert live.channels.upstream == {live.sentinel}
    assert _value(live.metrics, SUBSCRIPTIONS) == 1
    with pytest.raises(ValueError, match="max_backlog"):
        NatsBackend(live.nc, max_backlog=0)


async def test_the_backlog_drops_its_oldest_and_counts(
    nc: NATS, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics, channel = Metrics(), f"{prefix}.user.slow"
    backend = NatsBackend(nc, max_backlog=3, metrics=metrics)
    await backend.connect()
    try:
        await backend.subscribe(channel)
        with caplog.at_level(logging.WARNING, logger="fowergram.adapters.nats"):
            for n in range(10):  # nobody reads: the backlog fills
                await nc.publish(channel, b"%d" % n)
            await _eventually(lambda: backend.dropped == 7)
        assert backend.backlog == 3
        events = [_raw(await backend.next_published()) for _ in range(3)]
    finally:
        await backend.disconnect()
    assert all(isinstance(event, RawEvent) and event.channel == channel for event in events)
    assert [event.message for event in events] == [b"7", b"8", b"9"]  # the newest kept
    assert _value(metrics, DROPPED, {"reason": "backlog"}) == 7
    full = [r for r in caplog.records if "backlog full" in r.getMessage()]
    assert len(full) == 1  # rate-limited: one line for the burst
    assert backend.channels == frozenset()
    assert nc.is_connected  # a shared client is left open


async def test_the_listener_lets_other_tasks_run_while_it_drains_a_backlog() -> None:
    """Over broadcaster's in-memory backend (str messages pass through as str): a backlog
    is taken without suspending, so the listener must yield now and then by itself."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    class TickRecorder(Inbox):
        def __init__(self) -> None:
            super().__init__()
            self.ticks: list[int] = []

        def deliver(self, channel: str, message: str | bytes) -> None:
            super().deliver(channel, message)
            self.ticks.append(ticks)

    recorder = TickRecorder()
    async with Channels(MemoryBackend("memory://")) as channels:
        await channels.join("memory.channel", recorder)
        for n in range(5000):  # queued at once: an unbounded queue's put does not suspend
            await channels.publish("memory.channel", f"m{n}")
        ticking = asyncio.create_task(ticker())
        await _eventually(lambda: len(recorder.messages) == 5000)
        ticking.cancel()
    assert recorder.payloads == [f"m{n}" for n in range(5000)]
    assert recorder.ticks[-1] > recorder.ticks[0]


# --- a private server: stopped and restarted ---------------------------------


async def _publish(url: str, *messages: tuple[str, bytes]) -> None:
    publisher = await connect_nats(url, name="test-publisher")
    try:
        for channel, payload in messages:
            await publisher.publish(channel, payload)
    finally:
        await close_nats(publisher)


async def _reconnected(nc: NATS) -> None:
    await _eventually(lambda: nc.is_connected, timeout=30)
    await nc.flush()  # after the replayed SUBs: the server has them


async def test_channels_deliver_after_nats_restarts(nats_server: EmbeddedNats, prefix: str) -> None:
    nc = await connect_nats(nats_server.url, name="test-restart")
    kept, joined_in_outage = Inbox(), Inbox()
    try:
        async with Channels(NatsBackend(nc)) as channels:
            await channels.join(f"{prefix}.user.1", kept)
            await _publish(nats_server.url, (f"{prefix}.user.1", b"before"))
            await _eventually(lambda: len(kept.messages) == 1)

            await asyncio.to_thread(nats_server.stop)
            await _eventually(lambda: not nc.is_connected)
            await channels.join(f"{prefix}.user.2", joined_in_outage)  # does not wait
            assert channels.upstream == {f"{prefix}.user.1", f"{prefix}.user.2"}

            await start_nats(nats_server)
            await _reconnected(nc)
            await _publish(
                nats_server.url,
                (f"{prefix}.user.1", b"after"),
                (f"{prefix}.user.2", b"joined in the outage"),
            )
            await _eventually(lambda: len(joined_in_outage.messages) == 1)
            await _eventually(lambda: len(kept.messages) == 2)
    finally:
        await close_nats(nc)
    assert kept.payloads == [b"before", b"after"]
    assert joined_in_outage.payloads == [b"joined in the outage"]


async def test_an_owned_connection_waits_for_nats_to_come_up(tmp_path: Path, prefix: str) -> None:
    server = private_nats(tmp_path)  # not started yet
    channel, inbox = f"{prefix}.user.1", Inbox()
    stack = contextlib.AsyncExitStack()
    entering = asyncio.create_task(stack.enter_async_context(Channels(NatsBackend(server.url))))
    try:
        await asyncio.sleep(1)
        assert not entering.done()  # waiting (not failed) while nothing listens
        await start_nats(server)
        channels = await asyncio.wait_for(entering, 30)
        await channels.join(channel, inbox)
        await _publish(server.url, (channel, b"first"))
        await _eventually(lambda: len(inbox.messages) == 1)

        await asyncio.to_thread(server.stop)
        await start_nats(server)

        # No handle on the owned client: publish until one gets through its reconnection.
        async def delivered() -> None:
            while len(inbox.messages) < 2:
                await _publish(server.url, (channel, b"again"))
                await asyncio.sleep(0.2)

        await asyncio.wait_for(delivered(), 30)
    finally:
        entering.cancel()
        await stack.aclose()
        server.stop()
    assert inbox.payloads[0] == b"first"
    assert set(inbox.payloads[1:]) == {b"again"}


async def test_a_failing_direct_handler_does_not_stop_the_client_reading(
    nc: NATS, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[bytes] = []

    def broken(msg: Msg) -> None:
        raise RuntimeError("a bug in a handler")

    bad = await subscribe_direct(nc, f"{prefix}.user.bad", broken)
    good = await subscribe_direct(nc, f"{prefix}.user.good", lambda msg: received.append(msg.data))
    try:
        with caplog.at_level(logging.ERROR, logger="fowergram.adapters.nats"):
            for n in range(3):
                await nc.publish(f"{prefix}.user.bad", b"x")
                await nc.publish(f"{prefix}.user.good", b"%d" % n)
            await _eventually(lambda: len(received) == 3)
        assert received == [b"0", b"1", b"2"]
        assert "nats message handler failed" in caplog.text
    finally:
        await bad.unsubscribe()
        await good.unsubscribe()


async def test_joins_in_one_turn_share_a_probe_and_each_is_confirmed(
    live: Live, prefix: str, service_urls: ServiceUrls
) -> None:
    # A reconnect storm: 200 channels joined at once are confirmed by probes sent after
    # their SUBs, so a message published by another connection as each join returns
    # reaches it.
    publisher = await connect_nats(service_urls.nats, name="test-publisher")
    inboxes = [Inbox() for _ in range(200)]

    async def join_then_publish(n: int, inbox: Inbox) -> None:
        channel = f"{prefix}.user.storm{n}"
        await live.channels.join(channel, inbox)
        await publisher.publish(channel, b"%d" % n)

    try:
        await asyncio.gather(*(join_then_publish(n, inbox) for n, inbox in enumerate(inboxes)))
        await publisher.flush()
    finally:
        await close_nats(publisher)
    await _eventually(lambda: all(inbox.messages for inbox in inboxes))
    assert [inbox.payloads for inbox in inboxes] == [[b"%d" % n] for n in range(200)]


async def test_a_cancelled_probe_leaves_its_subscribers_subscribed_and_is_replaced(
    nc: NATS, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    backend = NatsBackend(nc)
    await backend.connect()
    first, second = f"{prefix}.user.probe1", f"{prefix}.user.probe2"
    try:
        joining = asyncio.create_task(backend.subscribe(first))
        await asyncio.sleep(0)  # its SUB is written and this turn's probe made
        probe = backend._next_probe
        assert probe is not None
        probe.cancel()
        with caplog.at_level(logging.WARNING, logger="fowergram.adapters.nats"):
            await asyncio.wait_for(joining, 5)  # unconfirmed, not cancelled itself
        assert "subscription unconfirmed" in caplog.text
        # The next join is confirmed by a probe of its own, not the cancelled one.
        await asyncio.wait_for(backend.subscribe(second), 5)
        assert backend._next_probe is not probe
        await nc.publish(first, b"a")
        await nc.publish(second, b"b")
        events = [_raw(await asyncio.wait_for(backend.next_published(), 5)) for _ in range(2)]
    finally:
        await backend.disconnect()
    assert sorted((e.channel, e.message) for e in events) == [(first, b"a"), (second, b"b")]


async def test_a_subscriber_cancelled_while_its_probe_runs_is_cancelled(
    nc: NATS, prefix: str
) -> None:
    backend = NatsBackend(nc)
    await backend.connect()
    try:
        joining = asyncio.create_task(backend.subscribe(f"{prefix}.user.quitter"))
        await asyncio.sleep(0)
        joining.cancel()
        with pytest.raises(asyncio.CancelledError):
            await joining
        probe = backend._next_probe
        assert probe is None or not probe.cancelled()  # shielded: others still use it
    finally:
        await backend.disconnect()


async def test_joins_made_together_are_each_subscribed_once_and_receive(
    live: Live, prefix: str, service_urls: ServiceUrls
) -> None:
    inboxes = [Inbox() for _ in range(60)]
    already = f"{prefix}.user.already"
    await live.channels.join(already, Inbox())
    # Twenty channels, three sinks each; one of them upstream before.
    channels = [already, *(f"{prefix}.user.m{n}" for n in range(19))]
    joins = [(channels[n % 20], inbox) for n, inbox in enumerate(inboxes)]

    assert await live.channels.join_many(joins) == [None] * 60

    assert live.channels.upstream == {live.sentinel, *channels}
    assert [live.channels.interest(c) for c in channels] == [4] + [3] * 19
    for channel in channels:
        assert await live.server_sends(channel)  # subscribed once (else it asserts)
    publisher = await connect_nats(service_urls.nats, name="test-publisher")
    try:
        for channel in channels:
            await publisher.publish(channel, channel.encode())
        await publisher.flush()
    finally:
        await close_nats(publisher)
    await _eventually(lambda: all(len(inbox.messages) == 2 for inbox in inboxes))
    for n, inbox in enumerate(inboxes):
        assert inbox.payloads[-1] == channels[n % 20].encode()


async def test_a_failed_join_among_many_fails_alone_and_leaves_nothing(live: Live) -> None:
    good, bad = f"{live.sentinel}.good", "has space"
    sinks = [Inbox(), Inbox(), Inbox()]

    outcomes = await live.channels.join_many([(good, sinks[0]), (bad, sinks[1]), (good, sinks[2])])

    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], nats.errors.BadSubjectError)
    assert live.channels.interest(bad) == 0
    assert live.channels.interest(good) == 2
    assert live.channels.upstream == {live.sentinel, good}


async def test_a_leave_while_its_channel_is_subscribed_with_others_unsubscribes_it(
    live: Live, prefix: str
) -> None:
    # A sink leaving while join_many subscribes its channel waits for that, then the
    # channel, now unwanted, is unsubscribed.
    left, kept = f"{prefix}.user.left", f"{prefix}.user.kept"
    leaving, staying = Inbox(), Inbox()
    joining = asyncio.create_task(live.channels.join_many([(left, leaving), (kept, staying)]))
    await asyncio.sleep(0)  # the subscriptions are under way
    assert live.channels.interest(left) == 1
    await live.channels.leave(left, leaving)
    assert await joining == [None, None]
    await _eventually(lambda: left not in live.channels.upstream)
    assert live.channels.upstream == {live.sentinel, kept}
    assert not await live.server_sends(left)
    assert await live.server_sends(kept)


async def test_channels_a_cancelled_join_many_was_subscribing_are_unsubscribed_after(
    live: Live, prefix: str
) -> None:
    # Nobody waits for them once the joiner is gone: the changes under way undo them.
    channels = [f"{prefix}.user.u{n}" for n in range(3)]
    joining = asyncio.create_task(live.channels.join_many([(c, Inbox()) for c in channels]))
    await asyncio.sleep(0)  # the subscriptions are under way
    joining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await joining
    # The client's own subscriptions (nats-py's `_subs`, as direct_subscription relies on):
    # `upstream` alone reads the same before they subscribe as after they are undone.
    await _eventually(lambda: not {sub.subject for sub in live.nc._subs.values()} & {*channels})
    assert live.channels.upstream == {live.sentinel}
    for channel in channels:
        assert not await live.server_sends(channel)


@pytest.mark.parametrize("yields", range(5))
async def test_a_cancelled_join_many_joins_none(live: Live, prefix: str, yields: int) -> None:
    channels = [f"{prefix}.user.c{n}" for n in range(5)]
    joining = asyncio.create_task(live.channels.join_many([(c, Inbox()) for c in channels]))
    for _ in range(yields):  # cancelled at each step of the subscriptions in turn
        await asyncio.sleep(0)
    joining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await joining
    assert all(live.channels.interest(c) == 0 for c in channels)
    for channel in channels:  # a join and a leave wait for the changes under way
        passing = Inbox()
        await live.channels.join(channel, passing)
        await live.channels.leave(channel, passing)
    assert live.channels.upstream == {live.sentinel}
    for channel in channels:
        assert not await live.server_sends(channel)
