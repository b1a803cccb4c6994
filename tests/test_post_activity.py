"""Live post activity on real PostgreSQL and NATS: the publisher is fed the outbox rows of
real likes and comments and watched on the post's live subject like a subscriber would;
once more through the consumer registry and the event stream. (The message builder on
its own: test_post_activity_message.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
import orjson
import pytest
from conftest import make_settings
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from support.observed_pool import ObservedPool
from support.outbox_events import Deliver, delivering, latest_event
from support.post_writes import add_comment, create_post, like_post
from support.services import ServiceUrls
from support.social_helpers import Member

from fowergram.adapters.nats.durable_consumer import dlq_stream_name
from fowergram.adapters.nats.event_stream import JetStreamEvents, stream_name
from fowergram.adapters.nats.post_channel import NatsPostChannel, post_subject
from fowergram.adapters.postgres.post_activity import PostgresPostActivity
from fowergram.domain.events import RecordedEvent
from fowergram.domain.social.post_activity import PostActivityPublisher
from fowergram.observability.metrics import Metrics
from fowergram.realtime.consumers import ConsumerOptions
from fowergram.realtime.workers import open_consumers

PROBE = {"type": "probe"}


@pytest.fixture
async def nc(service_urls: ServiceUrls) -> AsyncIterator[NATS]:
    client = await nats.connect(service_urls.nats)
    yield client
    await client.close()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def publisher(pool: asyncpg.Pool, nc: NATS, prefix: str) -> PostActivityPublisher:
    return PostActivityPublisher(
        reads=PostgresPostActivity(pool), channel=NatsPostChannel(nc, subject_prefix=prefix)
    )


@pytest.fixture
def deliver(pool: asyncpg.Pool, publisher: PostActivityPublisher) -> Deliver:
    return delivering(pool, publisher.handle)


class Watcher:
    """A raw subscriber to one post's live subject."""

    def __init__(self, nc: NATS, subject: str) -> None:
        self._nc = nc
        self._subject = subject
        self._received: asyncio.Queue[Msg] = asyncio.Queue()

    async def start(self) -> None:
        await self._nc.subscribe(self._subject, cb=self._received.put)
        await self._nc.flush()

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        msg = await asyncio.wait_for(self._received.get(), timeout)
        assert msg.subject == self._subject
        message: dict[str, Any] = orjson.loads(msg.data)
        return message

    async def nothing_more(self) -> None:
        """Nothing was published before now: a probe sent now is the next message."""
        await self._nc.publish(self._subject, orjson.dumps(PROBE))
        assert await self.next() == PROBE


Watch = Callable[[int], Awaitable[Watcher]]


@pytest.fixture
def watch(nc: NATS, prefix: str) -> Watch:
    """Start watching a post's live subject."""

    async def start(post_id: int) -> Watcher:
        watcher = Watcher(nc, post_subject(prefix, post_id))
        await watcher.start()
        return watcher

    return start


def _delete_comment(member: Member, comment_id: int) -> None:
    member.data("mutation($id: ID!) { deleteComment(id: $id) }", {"id": comment_id})


def _counts(message: dict[str, Any]) -> tuple[int, int]:
    return message["likeCount"], message["commentCount"]


async def test_likes_and_unlikes_publish_the_counts_and_who(
    new_member: Callable[[], Member],
    deliver: Deliver,
    watch: Watch,
) -> None:
    owner, ana, bo = new_member(), new_member(), new_member()
    post_id = create_post(owner)
    watcher = await watch(post_id)

    like_post(ana, post_id)
    await deliver("post.liked", post_id)
    message = await watcher.next()
    assert message == {
        "type": "post.activity",
        "postId": post_id,
        "likeCount": 1,
        "commentCount": 0,
        "actorId": ana.id,
        "comment": None,
        "deletedCommentId": None,
    }

    like_post(bo, post_id)
    await deliver("post.liked", post_id)
    message = await watcher.next()
    assert (_counts(message), message["actorId"]) == ((2, 0), bo.id)

    like_post(ana, post_id, "unlikePost")
    await deliver("post.unliked", post_id)
    message = await watcher.next()
    assert (message["type"], _counts(message), message["actorId"]) == (
        "post.activity",
        (1, 0),
        ana.id,
    )
    await watcher.nothing_more()


async def test_a_late_event_publishes_the_state_now_and_twice_the_same(
    new_member: Callable[[], Member],
    pool: asyncpg.Pool,
    publisher: PostActivityPublisher,
    watch: Watch,
) -> None:
    owner, ana, bo = new_member(), new_member(), new_member()
    post_id = create_post(owner)
    watcher = await watch(post_id)
    like_post(ana, post_id)
    first = await latest_event(pool, "post.liked", post_id)
    like_post(bo, post_id)

    # Handled after the second like was committed: the count read now, not then.
    await publisher.handle(first)
    late = await watcher.next()
    assert (_counts(late), late["actorId"]) == ((2, 0), ana.id)

    # Delivered again (a crash before the acknowledgement): the same state again.
    await publisher.handle(first)
    assert await watcher.next() == late
    await watcher.nothing_more()


async def test_comments_and_replies_publish_the_comment_with_its_author(
    new_member: Callable[[], Member],
    pool: asyncpg.Pool,
    deliver: Deliver,
    watch: Watch,
) -> None:
    owner, bo, cy = new_member(), new_member(), new_member()
    post_id = create_post(owner)
    watcher = await watch(post_id)

    top = add_comment(bo, post_id, "first! ✨")
    await deliver("comment.created", top)
    message = await watcher.next()
    created_at = await pool.fetchval("SELECT created_at FROM comments WHERE id = $1", top)
    assert (_counts(message), message["actorId"], message["deletedCommentId"]) == (
        (0, 1),
        bo.id,
        None,
    )
    assert message["comment"] == {
        "id": top,
        "body": "first! ✨",
        "parentId": None,
        "createdAt": message["comment"]["createdAt"],
        "author": {"id": bo.id, "username": bo.username},
    }
    assert datetime.fromisoformat(message["comment"]["createdAt"]) == created_at

    reply = add_comment(cy, post_id, "indeed", parent=top)
    await deliver("comment.created", reply)
    message = await watcher.next()
    assert _counts(message) == (0, 2)
    assert message["comment"]["id"] == reply
    assert message["comment"]["parentId"] == top
    assert message["comment"]["author"] == {"id": cy.id, "username": cy.username}

    # A reply to a reply is a reply to its thread's top comment.
    nested = add_comment(owner, post_id, "thanks", parent=reply)
    await deliver("comment.created", nested)
    message = await watcher.next()
    assert (message["comment"]["parentId"], message["actorId"], _counts(message)) == (
        top,
        owner.id,
        (0, 3),
    )
    await watcher.nothing_more()


async def test_deletions_name_the_comment_and_the_deleter_and_silence_its_creation(
    new_member: Callable[[], Member],
    pool: asyncpg.Pool,
    deliver: Deliver,
    watch: Watch,
) -> None:
    owner, bo, cy = new_member(), new_member(), new_member()
    post_id = create_post(owner)
    top = add_comment(bo, post_id, "hm")
    reply = add_comment(cy, post_id, "hm?", parent=top)
    kept = add_comment(cy, post_id, "stays")
    watcher = await watch(post_id)

    _delete_comment(cy, reply)  # by its author
    await deliver("comment.deleted", reply)
    message = await watcher.next()
    assert (message["deletedCommentId"], message["actorId"], message["comment"]) == (
        reply,
        cy.id,
        None,
    )
    assert _counts(message) == (0, 2)

    add_comment(cy, post_id, "again", parent=top)
    _delete_comment(owner, top)  # by the post's owner; its replies go with it
    await deliver("comment.deleted", top)
    message = await watcher.next()
    assert (message["deletedCommentId"], message["actorId"], _counts(message)) == (
        top,
        owner.id,
        (0, 1),
    )

    # Their creations handled only now: nothing to show (the deletions told the counts).
    await deliver("comment.created", top)
    await deliver("comment.created", reply)
    await watcher.nothing_more()

    # A live comment whose author's account has since been deleted is not shown either.
    await pool.execute("UPDATE users SET deleted_at = now() WHERE id = $1", cy.id)
    await deliver("comment.created", kept)
    await watcher.nothing_more()


async def test_a_deleted_post_publishes_nothing_at_all(
    new_member: Callable[[], Member],
    pool: asyncpg.Pool,
    publisher: PostActivityPublisher,
    deliver: Deliver,
    watch: Watch,
) -> None:
    owner, fan = new_member(), new_member()
    post_id = create_post(owner)
    like_post(fan, post_id)
    comment = add_comment(fan, post_id, "bye")
    _delete_comment(fan, comment)
    watcher = await watch(post_id)
    owner.data("mutation($id: ID!) { deletePost(id: $id) }", {"id": post_id})

    for kind, aggregate in [
        ("post.liked", post_id),
        ("comment.created", comment),
        ("comment.deleted", comment),
    ]:
        await deliver(kind, aggregate)  # does not raise
    await watcher.nothing_more()

    # Nor a post that never existed.
    missing = post_id + 10_000_000
    payload = {"actorId": fan.id}
    await publisher.handle(RecordedEvent(1, "post.liked", missing, payload, datetime.now(UTC)))
    await watcher.nothing_more()

    # Nor one whose author's account has been deleted since (nobody may see it).
    leaver = new_member()
    orphan = create_post(leaver)
    like_post(fan, orphan)
    orphan_watcher = await watch(orphan)
    await pool.execute("UPDATE users SET deleted_at = now() WHERE id = $1", leaver.id)
    await deliver("post.liked", orphan)
    await orphan_watcher.nothing_more()


async def test_the_registered_consumer_publishes_from_the_stream(
    new_member: Callable[[], Member],
    service_urls: ServiceUrls,
    migrated_database: str,
    pool: asyncpg.Pool,
    nc: NATS,
) -> None:
    settings = make_settings(service_urls, migrated_database)
    prefix = settings.nats_subject_prefix
    owner, fan = new_member(), new_member()
    post_id = create_post(owner)
    like_post(fan, post_id)
    watcher = Watcher(nc, post_subject(prefix, post_id))
    await watcher.start()
    events = JetStreamEvents(nc, subject_prefix=prefix, max_age_s=3600)
    await events.ensure_stream()
    # Another kind first: the consumer asks the stream for its kinds only.
    await events.publish(await latest_event(pool, "post.created", post_id))
    await events.publish(await latest_event(pool, "post.liked", post_id))
    options = ConsumerOptions(fetch_wait_s=0.5)
    try:
        async with open_consumers(
            settings, Metrics(), nc, pool, ["post_activity"], options=options
        ) as tasks:
            assert list(tasks) == ["post_activity"]
            message = await watcher.next(timeout=30)
        assert (message["type"], _counts(message), message["actorId"]) == (
            "post.activity",
            (1, 0),
            fan.id,
        )
        await watcher.nothing_more()
    finally:
        for stream in (stream_name(prefix), dlq_stream_name(prefix)):
            with contextlib.suppress(NotFoundError):
                await nc.jetstream().delete_stream(stream)


async def test_post_states_read_together_are_one_statement_each_their_own(
    new_member: Callable[[], Member], observed: ObservedPool
) -> None:
    owner, fan = new_member(), new_member()
    first, second = create_post(owner), create_post(owner)
    like_post(fan, second)
    comment = add_comment(fan, first, "together")
    reads = PostgresPostActivity(observed.pool)
    with_comment, plain, liked, foreign_comment, unknown = await asyncio.gather(
        reads.post_state(first, comment),
        reads.post_state(first, None),
        reads.post_state(second, None),
        reads.post_state(second, comment),  # a comment of another post is not shown
        reads.post_state(10**12, None),
    )

    assert len(observed.statements) == 1  # the five in one read
    assert with_comment is not None
    assert with_comment.comment is not None
    assert (with_comment.post_id, with_comment.comment.id) == (first, comment)
    assert with_comment.comment.author_username == fan.username
    assert plain is not None
    assert (plain.post_id, plain.comment_count, plain.comment) == (first, 1, None)
    assert liked is not None
    assert (liked.post_id, liked.like_count, liked.comment_count) == (second, 1, 0)
    assert foreign_comment is not None
    assert (foreign_comment.post_id, foreign_comment.comment) == (second, None)
    assert unknown is None
