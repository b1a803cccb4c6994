"""Notifications end to end on real PostgreSQL and NATS: writes through the live server
make outbox events, the recorder turns them into grouped rows (once, however often an
event is delivered) and live messages, and the GraphQL API lists, counts and settles
them for their recipient only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import nats
import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from support.observed_pool import ObservedPool
from support.outbox_events import Deliver, delivering, latest_event
from support.post_writes import add_comment, create_post, like_post
from support.services import ServiceUrls
from support.social_helpers import Member, set_private

from fowergram.adapters.nats.live_channel import NatsLiveChannel
from fowergram.adapters.nats.session_events import user_subject
from fowergram.adapters.postgres.notification_audience import PostgresAudiences
from fowergram.adapters.postgres.notification_facts import PostgresEventFacts
from fowergram.adapters.postgres.notifications import PostgresNotifications
from fowergram.domain.notifications.grouping import merge
from fowergram.domain.notifications.model import NotificationKind, notification_from_wire
from fowergram.domain.notifications.ports import Audience
from fowergram.domain.notifications.recorder import NotificationRecorder
from fowergram.domain.notifications.rules import Intent

NOTIFICATIONS = """
query($n: Int, $a: String) {
  unreadNotificationsCount
  notifications(first: $n, after: $a) {
    edges { cursor node { id kind actorCount read actors { username } post { id }
                          comment { id body } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MARK_READ = "mutation($u: ID) { markNotificationsRead(upTo: $u) }"
SETTINGS = "{ notificationSettings { enabledKinds disabledKinds } }"
UPDATE_SETTINGS = (
    "mutation($on: [NotificationKind!]! = [], $off: [NotificationKind!]! = []) { "
    "updateNotificationSettings(input: {enable: $on, disable: $off}) { enabledKinds "
    "disabledKinds } }"
)


@pytest.fixture
async def nc(service_urls: ServiceUrls) -> AsyncIterator[NATS]:
    client = await nats.connect(service_urls.nats)
    yield client
    await client.close()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def recorder(pool: asyncpg.Pool, nc: NATS, prefix: str) -> NotificationRecorder:
    return NotificationRecorder(
        store=PostgresNotifications(pool),
        facts=PostgresEventFacts(pool),
        audiences=PostgresAudiences(pool),
        live=NatsLiveChannel(nc, subject_prefix=prefix),
    )


@pytest.fixture
def deliver(pool: asyncpg.Pool, recorder: NotificationRecorder) -> Deliver:
    return delivering(pool, recorder.handle)


async def _rows(pool: asyncpg.Pool, recipient: Member) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, kind, group_key, actor_ids, actor_count, post_id, comment_id, read_at "
        "FROM notifications WHERE recipient_id = $1 ORDER BY id DESC",
        recipient.id,
    )
    return [dict(row) for row in rows]


def _graph(member: Member, mutation: str, other: Member) -> None:
    member.data(f"mutation($u: ID!) {{ {mutation}(userId: $u) {{ userId }} }}", {"u": other.id})


async def test_likes_group_into_one_notification_updated_in_place(
    new_member: Callable[[], Member], pool: asyncpg.Pool, deliver: Deliver
) -> None:
    ana, bo, cy, owner = new_member(), new_member(), new_member(), new_member()
    post_id = create_post(owner)
    ids = []
    for fan in (cy, bo, ana):
        like_post(fan, post_id)
        await deliver("post.liked", post_id)
        ids.append((await _rows(pool, owner))[0]["id"])
    [row] = await _rows(pool, owner)
    assert row["kind"] == "like"
    assert row["actor_ids"] == [ana.id, bo.id, cy.id]  # latest first
    assert row["actor_count"] == 3
    assert row["post_id"] == post_id
    assert ids == sorted(ids)
    assert len(set(ids)) == 3  # re-keyed on each bump: it sorts first, a resume sees it

    # Un-like and like again: a new event, but bo is in the group already.
    like_post(bo, post_id, "unlikePost")
    like_post(bo, post_id)
    await deliver("post.liked", post_id)
    assert await _rows(pool, owner) == [row]

    data = owner.data(NOTIFICATIONS)
    assert data["unreadNotificationsCount"] == 1
    [edge] = data["notifications"]["edges"]
    assert edge["node"]["kind"] == "LIKE"
    assert edge["node"]["actorCount"] == 3
    assert [a["username"] for a in edge["node"]["actors"]] == [
        ana.username,
        bo.username,
        cy.username,
    ]
    assert edge["node"]["post"] == {"id": str(post_id)}
    assert edge["node"]["read"] is False


async def test_a_redelivered_event_changes_nothing_and_publishes_nothing(
    new_member: Callable[[], Member],
    pool: asyncpg.Pool,
    recorder: NotificationRecorder,
    nc: NATS,
    prefix: str,
) -> None:
    fan, owner = new_member(), new_member()
    received: asyncio.Queue[Msg] = asyncio.Queue()
    subscription = await nc.subscribe(user_subject(prefix, owner.id), cb=received.put)
    await nc.flush()
    post_id = create_post(owner)
    like_post(fan, post_id)
    event = await latest_event(pool, "post.liked", post_id)

    await recorder.handle(event)
    message = orjson.loads((await asyncio.wait_for(received.get(), 5)).data)
    [row] = await _rows(pool, owner)
    assert message["type"] == "notification"
    live = notification_from_wire(message["notification"])
    assert (live.id, live.recipient_id, live.actor_ids, live.actor_count) == (
        row["id"],
        owner.id,
        (fan.id,),
        1,
    )
    assert live.kind == "like"
    assert live.read_at is None

    await recorder.handle(event)  # delivered again, e.g. after a crash before the ack
    await recorder.handle(event)
    assert await _rows(pool, owner) == [row]
    marker = await pool.fetchval(
        "SELECT count(*) FROM handled_events WHERE consumer = 'notifications' AND event_id = $1",
        event.id,
    )
    assert marker == 1
    # Something published after the repeats arrives next: nothing was published between.
    await nc.publish(user_subject(prefix, owner.id), b'{"type": "probe"}')
    assert orjson.loads((await asyncio.wait_for(received.get(), 5)).data) == {"type": "probe"}
    await subscription.unsubscribe()


async def test_comments_and_replies_reach_the_post_author_and_the_parent_author(
    new_member: Callable[[], Member], pool: asyncpg.Pool, deliver: Deliver
) -> None:
    owner, bo, cy = new_member(), new_member(), new_member()
    post_id = create_post(owner)
    top = add_comment(bo, post_id, "first!")
    await deliver("comment.created", top)
    reply = add_comment(cy, post_id, "indeed", parent=top)
    await deliver("comment.created", reply)
    own_reply = add_comment(owner, post_id, "thanks", parent=top)  # to bo; owner is not told
    await deliver("comment.created", own_reply)

    [to_owner] = await _rows(pool, owner)
    assert (to_owner["kind"], to_owner["actor_ids"], to_owner["actor_count"]) == (
        "comment",
        [cy.id, bo.id],
        2,
    )
    assert to_owner["comment_id"] == reply  # the latest comment of the group
    [to_bo] = await _rows(pool, bo)
    assert (to_bo["kind"], to_bo["actor_ids"], to_bo["comment_id"]) == (
        "reply",
        [owner.id, cy.id],
        own_reply,
    )
    assert await _rows(pool, cy) == []

    node = owner.data(NOTIFICATIONS)["notifications"]["edges"][0]["node"]
    assert node["kind"] == "COMMENT"
    assert node["comment"] == {"id": str(reply), "body": "indeed"}


async def test_mentions_respect_blocks_and_what_the_mentioned_may_see(
    new_member: Callable[[], Member],
    pool: asyncpg.Pool,
    deliver: Deliver,
    migrated_database: str,
) -> None:
    author, friend, blocker, stranger = new_member(), new_member(), new_member(), new_member()
    _graph(blocker, "block", author)
    post_id = create_post(author, f"with @{friend.username} @{blocker.username} @{author.username}")
    await deliver("post.created", post_id)
    [row] = await _rows(pool, friend)
    assert (row["kind"], row["actor_ids"], row["post_id"]) == ("mention", [author.id], post_id)
    assert await _rows(pool, blocker) == []
    assert await _rows(pool, author) == []  # never for your own doing

    set_private(migrated_database, author)  # a stranger may not see the post: not told
    hidden = create_post(author, f"psst @{stranger.username}")
    await deliver("post.created", hidden)
    assert await _rows(pool, stranger) == []


async def test_follows_requests_and_acceptances(
    new_member: Callable[[], Member],
    pool: asyncpg.Pool,
    deliver: Deliver,
    migrated_database: str,
) -> None:
    star, fan, shy = new_member(), new_member(), new_member()
    _graph(fan, "follow", star)
    await deliver("user.followed", star.id)
    [row] = await _rows(pool, star)
    assert (row["kind"], row["actor_ids"]) == ("follow", [fan.id])
    assert row["group_key"].startswith("follow:")

    set_private(migrated_database, shy)
    _graph(fan, "follow", shy)
    await deliver("follow.requested", shy.id)
    _graph(shy, "approveFollowRequest", fan)
    await deliver("follow.accepted", fan.id)
    assert [(r["kind"], r["actor_ids"]) for r in await _rows(pool, shy)] == [
        ("follow_request", [fan.id])
    ]
    # The requester hears that the approver (the event's actor) accepted.
    assert [(r["kind"], r["actor_ids"]) for r in await _rows(pool, fan)] == [
        ("follow_accepted", [shy.id])
    ]


async def test_mutes_and_disabled_kinds_silence_only_what_they_name(
    new_member: Callable[[], Member], pool: asyncpg.Pool, deliver: Deliver
) -> None:
    owner, pest, fan = new_member(), new_member(), new_member()
    _graph(owner, "mute", pest)
    settings = owner.data(UPDATE_SETTINGS, {"off": ["COMMENT"]})["updateNotificationSettings"]
    assert settings["disabledKinds"] == ["COMMENT"]
    assert "LIKE" in settings["enabledKinds"]
    assert "COMMENT" not in settings["enabledKinds"]

    post_id = create_post(owner)
    like_post(pest, post_id)
    await deliver("post.liked", post_id)
    assert await _rows(pool, owner) == []  # muted
    await deliver("comment.created", add_comment(fan, post_id, "hey"))
    assert await _rows(pool, owner) == []  # comments turned off
    like_post(fan, post_id)
    await deliver("post.liked", post_id)
    assert [r["actor_ids"] for r in await _rows(pool, owner)] == [[fan.id]]

    owner.data(UPDATE_SETTINGS, {"on": ["COMMENT"], "off": ["FOLLOW"]})
    assert owner.data(SETTINGS)["notificationSettings"]["disabledKinds"] == ["FOLLOW"]


async def test_an_event_s_intents_are_written_once_with_its_marker(
    new_member: Callable[[], Member], pool: asyncpg.Pool
) -> None:
    """Each of an event's groups is written once, with the event's marker, per consumer."""
    actor, ana, bo = new_member(), new_member(), new_member()
    store = PostgresNotifications(pool)
    event_id = 10**12 + uuid.uuid4().int % 10**9  # no outbox row needed for the marker
    intents = [
        Intent(bo.id, NotificationKind.FOLLOW, "follow:test", actor.id),
        Intent(ana.id, NotificationKind.FOLLOW, "follow:test", actor.id),
    ]
    written = await store.record("test-consumer", event_id, intents, merge)
    assert written is not None
    assert sorted(n.recipient_id for n in written) == sorted([ana.id, bo.id])
    assert await store.record("test-consumer", event_id, intents, merge) is None
    assert [len(await _rows(pool, who)) for who in (ana, bo)] == [1, 1]
    # Another consumer's marker is its own; an event without intents is marked too.
    assert await store.record("other-consumer", event_id, [], merge) == []
    assert await store.record("other-consumer", event_id, [], merge) is None
    assert [len(await _rows(pool, who)) for who in (ana, bo)] == [1, 1]


async def test_a_recipient_s_settings_and_standings_are_one_read(
    new_member: Callable[[], Member], pool: asyncpg.Pool
) -> None:
    owner, pest, fan, blocker = new_member(), new_member(), new_member(), new_member()
    audiences = PostgresAudiences(pool)
    people = [pest.id, fan.id, blocker.id, 10**12]  # the last is nobody
    plain = await audiences.audience(owner.id, people)
    assert plain.disabled == frozenset()  # no settings row yet
    assert sorted(plain.standings) == sorted(people[:3])

    _graph(owner, "mute", pest)
    _graph(blocker, "block", owner)
    owner.data(UPDATE_SETTINGS, {"off": ["COMMENT", "FOLLOW"]})
    audience = await audiences.audience(owner.id, people)
    assert {kind.value for kind in audience.disabled} == {"comment", "follow"}
    assert audience.standings[pest.id][1].muting
    assert audience.standings[blocker.id][1].blocked_by
    assert not audience.standings[fan.id][1].muting
    # Another recipient's settings are theirs: fan turned nothing off.
    assert (await audiences.audience(fan.id, [owner.id])).disabled == frozenset()
    assert await audiences.audience(owner.id, [10**12]) == Audience()
    assert await audiences.audience(owner.id, []) == Audience()


async def test_audiences_asked_together_are_one_read_each_their_own(
    new_member: Callable[[], Member], observed: ObservedPool
) -> None:
    owner, other, pest, fan = new_member(), new_member(), new_member(), new_member()
    _graph(owner, "mute", pest)
    owner.data(UPDATE_SETTINGS, {"off": ["LIKE"]})
    _graph(other, "follow", fan)
    audiences = PostgresAudiences(observed.pool)

    mine, theirs, nobody, same_again = await asyncio.gather(
        audiences.audience(owner.id, [pest.id, fan.id]),
        audiences.audience(other.id, [pest.id, fan.id, fan.id]),
        audiences.audience(owner.id, [10**12]),
        audiences.audience(owner.id, [fan.id]),
    )

    assert len(observed.statements) == 1  # the four in one read
    assert {kind.value for kind in mine.disabled} == {"like"}
    assert mine.standings[pest.id][1].muting
    assert not mine.standings[fan.id][1].muting
    assert theirs.disabled == frozenset()  # owner's settings are owner's
    assert not theirs.standings[pest.id][1].muting
    assert theirs.standings[fan.id][1].following
    assert not mine.standings[fan.id][1].following
    assert nobody == Audience()
    assert same_again.standings.keys() == {fan.id}  # only the people it asked about
    assert {kind.value for kind in same_again.disabled} == {"like"}


async def test_content_deleted_before_the_event_is_handled_makes_nothing(
    new_member: Callable[[], Member], pool: asyncpg.Pool, deliver: Deliver
) -> None:
    owner, fan = new_member(), new_member()
    post_id = create_post(owner)
    like_post(fan, post_id)
    owner.data("mutation($id: ID!) { deletePost(id: $id) }", {"id": post_id})
    await deliver("post.liked", post_id)  # does not raise
    assert await _rows(pool, owner) == []


async def test_reading_closes_the_group_and_pages_walk_newest_first(
    new_member: Callable[[], Member], pool: asyncpg.Pool, deliver: Deliver
) -> None:
    owner, bo, cy = new_member(), new_member(), new_member()
    first_post, second_post = create_post(owner), create_post(owner)
    for post_id in (first_post, second_post):
        like_post(bo, post_id)
        await deliver("post.liked", post_id)

    page = owner.data(NOTIFICATIONS, {"n": 1})["notifications"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["edges"][0]["node"]["post"] == {"id": str(second_post)}
    rest = owner.data(NOTIFICATIONS, {"n": 1, "a": page["pageInfo"]["endCursor"]})
    assert rest["notifications"]["edges"][0]["node"]["post"] == {"id": str(first_post)}
    assert rest["notifications"]["pageInfo"]["hasNextPage"] is False

    older = page["edges"][0]["node"]["id"]
    newest_first = [r["id"] for r in await _rows(pool, owner)]
    assert owner.data(MARK_READ, {"u": str(newest_first[-1])})["markNotificationsRead"] == 1
    assert owner.data(MARK_READ)["markNotificationsRead"] == 0
    assert owner.data(NOTIFICATIONS)["unreadNotificationsCount"] == 0

    like_post(cy, second_post)  # its group was read: a new one starts
    await deliver("post.liked", second_post)
    rows = await _rows(pool, owner)
    assert [(r["actor_ids"], r["read_at"] is None) for r in rows] == [
        ([cy.id], True),
        ([bo.id], False),
        ([bo.id], False),
    ]
    assert str(rows[1]["id"]) == older


async def test_actors_and_content_hidden_since_drop_out_of_the_notification(
    new_member: Callable[[], Member], deliver: Deliver
) -> None:
    owner, fan, pest = new_member(), new_member(), new_member()
    post_id = create_post(owner)
    for liker in (fan, pest):
        like_post(liker, post_id)
        await deliver("post.liked", post_id)
    _graph(owner, "block", pest)
    node = owner.data(NOTIFICATIONS)["notifications"]["edges"][0]["node"]
    assert [actor["username"] for actor in node["actors"]] == [fan.username]
    assert node["actorCount"] == 2
    assert node["post"] == {"id": str(post_id)}

    owner.data("mutation($id: ID!) { deletePost(id: $id) }", {"id": post_id})
    node = owner.data(NOTIFICATIONS)["notifications"]["edges"][0]["node"]
    assert node["post"] is None


async def test_someone_elses_notifications_stay_theirs(
    new_member: Callable[[], Member], pool: asyncpg.Pool, deliver: Deliver
) -> None:
    owner, fan = new_member(), new_member()
    post_id = create_post(owner)
    like_post(fan, post_id)
    await deliver("post.liked", post_id)
    [row] = await _rows(pool, owner)

    seen = fan.data(NOTIFICATIONS)
    assert seen["unreadNotificationsCount"] == 0
    assert seen["notifications"]["edges"] == []
    assert fan.data(MARK_READ, {"u": str(row["id"])})["markNotificationsRead"] == 0
    assert (await _rows(pool, owner))[0]["read_at"] is None


@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        (NOTIFICATIONS, {"a": "not-a-cursor"}, "after"),
        (NOTIFICATIONS, {"n": 0}, "first"),
        (NOTIFICATIONS, {"n": 101}, "first"),
        (MARK_READ, {"u": "-3"}, "upTo"),
        (MARK_READ, {"u": "abc"}, "upTo"),
        (UPDATE_SETTINGS, {"on": ["LIKE"], "off": ["LIKE"]}, "input"),
    ],
)
def test_bad_input_is_refused_with_its_field(
    new_member: Callable[[], Member], document: str, variables: dict[str, Any], field: str
) -> None:
    error = new_member().error(document, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field


def test_an_unknown_kind_is_refused_by_the_schema(new_member: Callable[[], Member]) -> None:
    error = new_member().error(UPDATE_SETTINGS, {"off": ["POKE"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "document", [NOTIFICATIONS, SETTINGS, MARK_READ, "{ unreadNotificationsCount }"]
)
def test_signed_out_callers_are_unauthenticated(
    new_member: Callable[[], Member], document: str
) -> None:
    member = new_member()
    response = member.client.post("/graphql", json={"query": document})
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
