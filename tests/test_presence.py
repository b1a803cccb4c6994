"""Presence on real Redis and NATS: several trackers with their own instance ids are several
instances; one that stops beating takes its users offline once; storms stay consistent;
the `presence` query over the live server follows the privacy rules."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from redis.asyncio import Redis
from support.live_server import LiveServer
from support.services import ServiceUrls
from support.social_helpers import Member, follow_in_db

from fowergram.adapters.clock import SystemClock
from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.adapters.nats.presence_events import (
    NatsPresenceEvents,
    decode_presence,
    presence_subject,
)
from fowergram.adapters.redis.client import create_redis
from fowergram.adapters.redis.presence import RedisPresence
from fowergram.domain.presence import HeldSockets, PresenceState, Socket, Status
from fowergram.presence_wiring import presence_tracker
from fowergram.realtime.presence_keeper import PresenceOptions, PresenceTracker, presence_keeping

ONLINE, OFFLINE = Status.ONLINE, Status.OFFLINE
SENTINEL = b"sentinel"


class ShiftedClock:
    """The system clock, moved by `offset`: an instance whose view of time is later."""

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class Watcher:
    """Every transition published under the prefix, in the order received."""

    def __init__(self, nc: NATS, prefix: str) -> None:
        self._nc = nc
        self._prefix = prefix
        self.received: list[PresenceState] = []
        self._sentinel = asyncio.Event()

    async def start(self) -> None:
        async def on_message(msg: Msg) -> None:
            if msg.data == SENTINEL:
                self._sentinel.set()
            else:
                self.received.append(decode_presence(msg.data))

        await self._nc.subscribe(presence_subject(self._prefix, "*"), cb=on_message)
        await self._nc.flush()

    async def settle(self) -> None:
        """Wait until everything published so far (on this connection) has arrived."""
        self._sentinel.clear()
        await self._nc.publish(presence_subject(self._prefix, "sentinel"), SENTINEL)
        await asyncio.wait_for(self._sentinel.wait(), 10)

    def of(self, user_id: int) -> list[Status]:
        return [state.status for state in self.received if state.user_id == user_id]


class Cluster:
    """Trackers sharing one Redis and NATS under a prefix of their own: instances."""

    def __init__(self, redis: Redis, nc: NATS) -> None:
        self.redis = redis
        self.nc = nc
        self.prefix = f"t{uuid.uuid4().hex[:10]}"
        self.store = RedisPresence(redis, key_prefix=f"{self.prefix}:")

    def instance(
        self, options: PresenceOptions | None = None, clock: ShiftedClock | None = None
    ) -> PresenceTracker:
        return PresenceTracker(
            RedisPresence(self.redis, key_prefix=f"{self.prefix}:"),
            NatsPresenceEvents(self.nc, subject_prefix=self.prefix),
            clock or ShiftedClock(),
            options or PresenceOptions(),
        )

    async def watch(self) -> Watcher:
        watcher = Watcher(self.nc, self.prefix)
        await watcher.start()
        return watcher


@pytest.fixture
async def clients(service_urls: ServiceUrls) -> AsyncIterator[tuple[Redis, NATS]]:
    redis = create_redis(service_urls.redis)
    nc = await connect_nats(service_urls.nats, name="test-presence")
    yield redis, nc
    await close_nats(nc)
    await redis.aclose()


@pytest.fixture
def cluster(clients: tuple[Redis, NATS]) -> Cluster:
    return Cluster(*clients)


async def statuses(tracker: PresenceTracker, *user_ids: int) -> list[Status]:
    snapshot = await tracker.snapshot(list(user_ids))
    return [snapshot[user_id].status for user_id in user_ids]


LATER = ShiftedClock(timedelta(minutes=1))  # sees every instance of "now" as long dead


async def test_an_instance_that_stops_beating_takes_its_users_offline_once(
    cluster: Cluster,
) -> None:
    quick = PresenceOptions(heartbeat_s=0.1, instance_ttl_s=0.6)
    a, b, c = cluster.instance(quick), cluster.instance(quick), cluster.instance(quick)
    watcher = await cluster.watch()
    for tracker in (a, b, c):
        await tracker.beat()
    await a.connected(1, "phone")
    await b.connected(1, "laptop")
    await a.connected(2, "phone")
    await b.connected(3, "phone")
    assert await statuses(c, 1, 2, 3, 4) == [ONLINE, ONLINE, ONLINE, OFFLINE]
    connected_at = datetime.now(UTC)

    first_beat = (await cluster.store.heartbeats())[a.instance_id]
    keeper_a = asyncio.create_task(a.keep())
    async with presence_keeping(b), presence_keeping(c):  # b and c both sweep

        async def a_beat_again() -> bool:
            return (await cluster.store.heartbeats()).get(a.instance_id, first_beat) > first_beat

        await eventually(a_beat_again)
        a.stop()  # a dies: no goodbye, its heartbeat just stops
        await keeper_a
        died_at = datetime.now(UTC)

        async def two_offline() -> bool:
            return await statuses(b, 2) == [OFFLINE]

        await eventually(two_offline)
        assert await statuses(c, 1, 2, 3) == [ONLINE, OFFLINE, ONLINE]
        for sweeper in (b, c):  # more sweeps change nothing
            await sweeper.sweep()
        await watcher.settle()

        assert watcher.of(1) == [ONLINE]  # the laptop on b kept them online
        assert watcher.of(2) == [ONLINE, OFFLINE]
        assert watcher.of(3) == [ONLINE]
        gone = (await b.snapshot([2]))[2]
        assert gone.last_seen_at is not None
        # last seen: a's last heartbeat, between the connection and its death
        assert connected_at - timedelta(seconds=1) <= gone.last_seen_at <= died_at
        assert [s for s in watcher.received if s.user_id == 2][-1] == gone
        assert await cluster.store.being_reaped() == {}
        assert set(await cluster.store.heartbeats()) == {b.instance_id, c.instance_id}


async def test_sockets_closing_at_once_on_two_instances_yield_one_offline(
    cluster: Cluster,
) -> None:
    a, b = cluster.instance(), cluster.instance()
    watcher = await cluster.watch()
    await a.beat()
    await b.beat()
    users = range(1, 41)
    await asyncio.gather(*(t.connected(u, f"c{u}") for u in users for t in (a, b)))
    await asyncio.gather(*(t.disconnected(u, f"c{u}") for u in users for t in (a, b)))
    await watcher.settle()

    assert {u: watcher.of(u) for u in users} == {u: [ONLINE, OFFLINE] for u in users}
    assert set(await statuses(a, *users)) == {OFFLINE}


async def test_a_storm_of_connects_and_disconnects_leaves_a_consistent_state(
    cluster: Cluster,
) -> None:
    instances = [cluster.instance(), cluster.instance()]
    watcher = await cluster.watch()
    for tracker in instances:
        await tracker.beat()
    rng = random.Random(5)
    users = list(range(1, 31))
    open_now: dict[int, set[tuple[int, str]]] = {u: set() for u in users}

    async def churn(user_id: int, device: int) -> None:
        for step in range(12):
            tracker = rng.randrange(2)
            connection = f"d{device}-{step}"
            await instances[tracker].connected(user_id, connection)
            if rng.random() < 0.7:
                await asyncio.sleep(0)
                await instances[tracker].disconnected(user_id, connection)
            else:
                open_now[user_id].add((tracker, connection))

    await asyncio.gather(*(churn(u, d) for u in users for d in range(3)))
    await watcher.settle()

    expected = [ONLINE if open_now[u] else OFFLINE for u in users]
    assert await statuses(instances[0], *users) == expected
    held = await cluster.store.held(users)
    for user_id in users:
        sockets = {(s.instance_id, s.connection_id) for s in held[user_id].sockets}
        assert sockets == {(instances[t].instance_id, c) for t, c in open_now[user_id]}
        # every change went out exactly once: they alternate, starting online
        changes = watcher.of(user_id)
        assert changes.count(ONLINE) == changes.count(OFFLINE) + (1 if open_now[user_id] else 0)
        assert changes.count(ONLINE) >= 1


async def test_sweepers_racing_over_a_dead_instance_drop_each_user_once(
    cluster: Cluster,
) -> None:
    dead = cluster.instance()
    sweepers = [cluster.instance(PresenceOptions(chunk=7), LATER) for _ in range(3)]
    watcher = await cluster.watch()
    await dead.beat()
    users = range(1, 101)
    await asyncio.gather(*(dead.connected(u, "c") for u in users))
    await asyncio.gather(*(dead.connected(u, "c2") for u in users if u % 2))

    await asyncio.gather(*(s.sweep() for s in sweepers))
    await watcher.settle()

    assert {u: watcher.of(u) for u in users} == {u: [ONLINE, OFFLINE] for u in users}
    assert set(await statuses(sweepers[0], *users)) == {OFFLINE}
    assert await cluster.store.heartbeats() == {}
    assert await cluster.store.being_reaped() == {}


async def test_an_instance_declared_dead_comes_back_under_a_new_id_with_its_sockets(
    cluster: Cluster,
) -> None:
    paused, sweeper = cluster.instance(), cluster.instance(clock=LATER)
    watcher = await cluster.watch()
    await paused.beat()
    await paused.connected(1, "phone")
    await paused.connected(1, "tablet")
    await paused.connected(2, "phone")
    old_id = paused.instance_id

    await sweeper.sweep()  # it looked dead (a long pause, say)
    assert await statuses(sweeper, 1, 2) == [OFFLINE, OFFLINE]
    await paused.beat()  # it finds out, and restores what it holds
    await paused.disconnected(1, "tablet")
    await watcher.settle()

    assert paused.instance_id != old_id
    assert await statuses(sweeper, 1, 2) == [ONLINE, ONLINE]
    assert watcher.of(1) == [ONLINE, OFFLINE, ONLINE]
    assert watcher.of(2) == [ONLINE, OFFLINE, ONLINE]
    held = await cluster.store.held([1])
    assert {s.connection_id for s in held[1].sockets} == {"phone"}
    assert {s.instance_id for s in held[1].sockets} == {paused.instance_id}
    assert old_id not in await cluster.store.heartbeats()


async def test_sockets_opened_before_the_first_heartbeat_are_recorded_at_it(
    cluster: Cluster,
) -> None:
    early = cluster.instance()
    watcher = await cluster.watch()
    await early.connected(5, "c")  # not registered yet: nothing is held
    assert await statuses(early, 5) == [OFFLINE]

    await early.beat()
    await watcher.settle()

    assert await statuses(early, 5) == [ONLINE]
    assert watcher.of(5) == [ONLINE]


async def test_leaving_takes_this_instances_users_offline_at_once(cluster: Cluster) -> None:
    leaving, other = cluster.instance(), cluster.instance()
    watcher = await cluster.watch()
    await other.beat()
    await other.connected(2, "web")
    async with presence_keeping(leaving):
        await leaving.beat()
        await leaving.connected(1, "phone")
        await leaving.connected(2, "phone")
    await watcher.settle()

    assert await statuses(other, 1, 2) == [OFFLINE, ONLINE]
    assert watcher.of(1) == [ONLINE, OFFLINE]
    assert watcher.of(2) == [ONLINE]
    assert set(await cluster.store.heartbeats()) == {other.instance_id}


async def test_closing_unknown_or_twice_closed_sockets_changes_nothing(cluster: Cluster) -> None:
    clock = ShiftedClock()
    tracker, other = cluster.instance(clock=clock), cluster.instance(clock=clock)
    watcher = await cluster.watch()
    await tracker.beat()
    await other.beat()
    await tracker.disconnected(9, "never-opened")
    await tracker.connected(9, "c")
    await tracker.disconnected(9, "c")
    seen = (await tracker.snapshot([9]))[9].last_seen_at
    clock.offset = timedelta(minutes=5)
    await tracker.disconnected(9, "c")
    await other.disconnected(9, "c")  # the same id, on another instance: not the same socket
    # and the store itself, told again: a socket it no longer holds changes nothing
    before = await cluster.store.disconnect(9, Socket(tracker.instance_id, "c"), clock.now())
    assert before.sockets == frozenset()
    await watcher.settle()

    assert watcher.of(9) == [ONLINE, OFFLINE]
    assert seen is not None
    assert (await tracker.snapshot([9]))[9].last_seen_at == seen
    assert tracker.local_users == 0


PRESENCE = "query($ids: [ID!]!) { presence(userIds: $ids) { userId status lastSeenAt } }"
HIDE = "mutation { updateProfile(input: {showActivityStatus: false}) { id showActivityStatus } }"


def block_in_db(database_url: str, blocker: Member, blocked: Member) -> None:
    """A block with the follows left in place: the block alone must hide presence."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES (%s, %s)", (blocker.id, blocked.id)
        )


def presence_of(member: Member, *people: Member | str) -> dict[str, tuple[str, bool]]:
    ids = [p if isinstance(p, str) else str(p.id) for p in people]
    answer = member.data(PRESENCE, {"ids": ids})["presence"]
    return {row["userId"]: (row["status"], row["lastSeenAt"] is not None) for row in answer}


async def test_the_presence_query_follows_privacy_follows_and_blocks(
    live_server: LiveServer,
    new_member: Callable[[], Member],
    migrated_database: str,
    clients: tuple[Redis, NATS],
) -> None:
    ana, bea, cy, dan, eve = (new_member() for _ in range(5))
    for one, other in [(ana, bea), (ana, dan), (ana, eve)]:
        follow_in_db(migrated_database, one, other)
        follow_in_db(migrated_database, other, one)
    follow_in_db(migrated_database, cy, ana)  # one way only
    # an instance of the live server's deployment, holding ana's, cy's, dan's and eve's sockets
    redis, nc = clients
    tracker = presence_tracker(live_server.settings, redis, nc, SystemClock())
    async with presence_keeping(tracker):
        await tracker.beat()
        for member in (ana, cy, dan, eve):
            await tracker.connected(member.id, "socket")

        # in the order asked; strangers, one-way follows and unknown ids are left out
        everyone: list[Member | str] = [ana, cy, dan, bea, "99999999", eve]
        # bea and ana follow each other; cy, dan and eve are strangers to bea
        assert list(presence_of(bea, *everyone)) == [str(ana.id), str(bea.id)]
        assert presence_of(bea, ana, cy, "99999999", bea) == {
            str(ana.id): ("ONLINE", False),
            str(bea.id): ("OFFLINE", False),  # never seen
        }
        assert presence_of(cy, ana) == {}  # cy follows ana, not back
        assert presence_of(ana, cy, dan, eve) == {
            str(dan.id): ("ONLINE", False),
            str(eve.id): ("ONLINE", False),
        }

        # dan hides his: nobody sees his, and he sees nobody's (not even his own)
        assert dan.data(HIDE)["updateProfile"] == {"id": str(dan.id), "showActivityStatus": False}
        assert str(dan.id) not in presence_of(ana, dan)
        assert presence_of(dan, ana, dan) == {}
        # a block, even with the follows in place, hides both ways
        block_in_db(migrated_database, eve, ana)
        assert presence_of(ana, eve) == {}
        assert presence_of(eve, ana) == {}

        await tracker.disconnected(ana.id, "socket")
        assert presence_of(bea, ana) == {str(ana.id): ("OFFLINE", True)}

    # the setting is yours only to read
    profile = "query($u: String!) { user(username: $u) { showActivityStatus } }"
    assert dan.data(profile, {"u": dan.username})["user"]["showActivityStatus"] is False
    assert ana.data(profile, {"u": ana.username})["user"]["showActivityStatus"] is True
    assert ana.data(profile, {"u": dan.username})["user"]["showActivityStatus"] is None


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([str(i) for i in range(1, 102)], "at most 100"),
        (["1", "abc"], "not a valid id"),
        (["-3"], "not a valid id"),
        (["0"], "not a valid id"),
        (["12345678901234567890123"], "not a valid id"),
    ],
)
def test_bad_presence_input_is_refused(
    new_member: Callable[[], Member], ids: list[str], message: str
) -> None:
    error = new_member().error(PRESENCE, {"ids": ids})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "userIds"
    assert message in error["message"]


def test_presence_needs_a_signed_in_viewer(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.http_url, timeout=10) as client:
        body = client.post("/graphql", json={"query": PRESENCE, "variables": {"ids": ["1"]}}).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["data"] is None


async def _break_user_key(cluster: Cluster, user_id: int) -> None:
    """The user's sockets hash replaced by a string: every command on it fails."""
    await cluster.redis.set(f"{cluster.prefix}:{{presence}}:user:{user_id}", "not a hash")


def _kinds(outcomes: Sequence[object]) -> list[str]:
    return [type(outcome).__name__ for outcome in outcomes]


def _held(outcome: HeldSockets | BaseException) -> HeldSockets:
    assert isinstance(outcome, HeldSockets), outcome
    return outcome


async def test_a_failing_change_in_a_batch_fails_only_its_own_socket(cluster: Cluster) -> None:
    # Sockets admitted together share a script call: one user's broken key must not turn
    # the others' recorded connections into errors.
    store = cluster.store
    await store.beat("i1", datetime.now(UTC), first=True)
    await _break_user_key(cluster, 2)

    outcomes = await store.connect_each(
        [(user_id, Socket("i1", f"c{user_id}")) for user_id in (1, 2, 3)]
    )

    assert _kinds(outcomes) == ["HeldSockets", "ResponseError", "HeldSockets"]
    held = await store.held([1, 3])
    assert {user: [s.connection_id for s in held[user].sockets] for user in (1, 3)} == {
        1: ["c1"],
        3: ["c3"],
    }
    with pytest.raises(Exception, match="WRONGTYPE"):
        await store.connect_many([(1, Socket("i1", "c1b")), (2, Socket("i1", "c2b"))])


async def test_a_failing_close_in_a_batch_fails_only_its_own_socket(cluster: Cluster) -> None:
    store = cluster.store
    now = datetime.now(UTC)
    await store.beat("i1", now, first=True)
    await store.connect_many([(user_id, Socket("i1", f"c{user_id}")) for user_id in (1, 2, 3)])
    await _break_user_key(cluster, 2)

    outcomes = await asyncio.gather(
        *(store.disconnect(user_id, Socket("i1", f"c{user_id}"), now) for user_id in (1, 2, 3)),
        return_exceptions=True,
    )

    assert _kinds(outcomes) == ["HeldSockets", "ResponseError", "HeldSockets"]
    assert "WRONGTYPE" in str(outcomes[1])
    # The others were let go of: each held its one socket before, none now.
    assert [len(_held(outcome).sockets) for outcome in outcomes[0::2]] == [1, 1]
    held = await store.held([1, 3])
    assert all(not held[user].sockets for user in (1, 3))
    assert all(held[user].last_seen_at is not None for user in (1, 3))


async def test_sockets_connected_together_are_held_and_announced_like_one_by_one(
    cluster: Cluster,
) -> None:
    together, other = cluster.instance(PresenceOptions(chunk=7)), cluster.instance()
    watcher = await cluster.watch()
    await together.beat()
    await other.beat()
    await other.connected(3, "laptop")
    sockets = [(u, f"c{u}") for u in range(1, 21)] + [(2, "tablet"), (3, "phone")]

    await together.connected_many(sockets)  # four chunks
    await watcher.settle()

    assert await statuses(other, *range(1, 22)) == [ONLINE] * 20 + [OFFLINE]
    assert {u: watcher.of(u) for u in range(1, 21)} == {u: [ONLINE] for u in range(1, 21)}
    held = await cluster.store.held([2, 3])
    assert {s.connection_id for s in held[2].sockets} == {"c2", "tablet"}
    assert {(s.instance_id, s.connection_id) for s in held[3].sockets} == {
        (together.instance_id, "c3"),
        (together.instance_id, "phone"),
        (other.instance_id, "laptop"),
    }
    assert together.local_users == 20
    await together.disconnected(2, "c2")
    await together.disconnected(2, "tablet")
    await watcher.settle()
    assert watcher.of(2) == [ONLINE, OFFLINE]


async def test_sockets_connected_together_before_the_first_heartbeat_are_recorded_at_it(
    cluster: Cluster,
) -> None:
    early = cluster.instance()
    await early.connected_many([(6, "a"), (7, "b")])  # not registered yet: nothing held
    assert await statuses(early, 6, 7) == [OFFLINE, OFFLINE]
    await early.beat()
    assert await statuses(early, 6, 7) == [ONLINE, ONLINE]


async def test_a_failing_socket_among_those_connected_together_fails_alone(
    cluster: Cluster,
) -> None:
    tracker, other = cluster.instance(), cluster.instance()
    watcher = await cluster.watch()
    await tracker.beat()
    await other.beat()
    await _break_user_key(cluster, 2)

    await tracker.connected_many([(1, "c1"), (2, "c2"), (3, "c3")])
    await watcher.settle()

    assert await statuses(other, 1, 3) == [ONLINE, ONLINE]
    assert watcher.of(1) == [ONLINE]
    assert watcher.of(3) == [ONLINE]
    assert watcher.of(2) == []
    old_id = tracker.instance_id
    await cluster.redis.delete(f"{cluster.prefix}:{{presence}}:user:2")
    await tracker.beat()  # the failure marked it for a restore: back under a new id
    await watcher.settle()
    assert tracker.instance_id != old_id
    assert await statuses(other, 1, 2, 3) == [ONLINE, ONLINE, ONLINE]
    assert watcher.of(2) == [ONLINE]
