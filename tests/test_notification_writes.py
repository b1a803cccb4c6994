"""Notifications recorded together: events of one turn of the event loop share one
transaction, events touching one group (or one event twice) go one after the other, and
an event that cannot be written fails alone; the reads made together (audiences, post
states) fail only the caller that cannot be answered. Real PostgreSQL; the round rule and
whose failure is whose are pure."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from support.db_rows import insert_users

from fowergram.adapters.postgres.batch_faults import may_be_one_caller_s
from fowergram.adapters.postgres.batch_rounds import rounds
from fowergram.adapters.postgres.notification_audience import PostgresAudiences
from fowergram.adapters.postgres.notification_writes import Recording, touched
from fowergram.adapters.postgres.notifications import PostgresNotifications
from fowergram.adapters.postgres.post_activity import PostgresPostActivity
from fowergram.domain.notifications.grouping import merge
from fowergram.domain.notifications.model import NotificationKind
from fowergram.domain.notifications.ports import Audience
from fowergram.domain.notifications.rules import Intent
from fowergram.domain.social.post_activity import PostState

LIKE = NotificationKind.LIKE


def _event() -> int:
    return 10**12 + uuid.uuid4().int % 10**11  # no outbox row needed for the marker


def _like(recipient: int, actor: int, key: str = "like:test") -> Intent:
    return Intent(recipient, LIKE, key, actor)


def _call(event_id: int, *intents: Intent) -> Recording:
    return Recording.of("test-consumer", event_id, intents, merge)


def test_calls_sharing_an_event_or_a_group_go_in_later_rounds() -> None:
    a, b, c, again, d = (
        _call(1, _like(10, 1)),
        _call(2, _like(11, 1)),
        _call(3, _like(10, 2), _like(12, 2)),  # group (10, like:test) as a's: after a
        _call(2, _like(13, 1)),  # event 2 again: after b
        _call(4, _like(12, 3)),  # group (12, like:test) as c's: after c
    )
    assert rounds([a, b, c, again, d], touched) == [[a, b], [c, again], [d]]
    assert rounds([], touched) == []


def test_an_event_s_intents_are_one_per_group_in_lock_order() -> None:
    call = _call(1, _like(12, 1), _like(10, 1), _like(12, 2, "like:other"), _like(12, 3))
    assert [(i.recipient_id, i.group_key, i.actor_id) for i in call.intents] == [
        (10, "like:test", 1),
        (12, "like:other", 2),
        (12, "like:test", 1),  # the first asked for of its group
    ]


async def test_events_of_one_turn_are_written_in_one_transaction(pool: asyncpg.Pool) -> None:
    store = PostgresNotifications(pool)
    *recipients, actor = await insert_users(pool, 6)

    written = await asyncio.gather(
        *(store.record("test-consumer", _event(), [_like(r, actor)], merge) for r in recipients)
    )

    assert [[n.recipient_id for n in rows or ()] for rows in written] == [[r] for r in recipients]
    transactions = await pool.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM notifications WHERE recipient_id = ANY($1)",
        recipients,
    )
    assert transactions == 1


async def test_events_meeting_in_a_group_merge_in_order(pool: asyncpg.Pool) -> None:
    store = PostgresNotifications(pool)
    owner, ana, bo, cy = await insert_users(pool, 4)
    repeated = _event()

    first, second, third, again = await asyncio.gather(
        store.record("test-consumer", _event(), [_like(owner, ana)], merge),
        store.record("test-consumer", repeated, [_like(owner, bo)], merge),
        store.record("test-consumer", _event(), [_like(owner, cy)], merge),
        store.record("test-consumer", repeated, [_like(owner, bo)], merge),  # delivered twice
    )

    assert again is None  # the same event in the same turn is written once
    assert first is not None
    assert second is not None
    assert third is not None
    assert first[0].id < second[0].id < third[0].id  # each write re-keys the group
    row = await pool.fetchrow(
        "SELECT actor_ids, actor_count FROM notifications WHERE recipient_id = $1", owner
    )
    assert row is not None
    assert (row["actor_ids"], row["actor_count"]) == ([cy, bo, ana], 3)
    assert third[0].actor_ids == (cy, bo, ana)


async def test_an_event_that_cannot_be_written_fails_alone(pool: asyncpg.Pool) -> None:
    store = PostgresNotifications(pool)
    one, two, actor = await insert_users(pool, 3)
    broken = _event()

    ok_one, failed, ok_two = await asyncio.gather(
        store.record("test-consumer", _event(), [_like(one, actor)], merge),
        store.record("test-consumer", broken, [_like(one, actor, "x" * 201)], merge),
        store.record("test-consumer", _event(), [_like(two, actor)], merge),
        return_exceptions=True,
    )

    assert isinstance(failed, asyncpg.CheckViolationError)  # group keys are 1-200 characters
    assert isinstance(ok_one, list)
    assert isinstance(ok_two, list)
    assert [n.recipient_id for n in ok_one] == [one]
    assert [n.recipient_id for n in ok_two] == [two]
    # Nothing of the failed event stands, not even its marker: it can be tried again.
    marked = await pool.fetchval(
        "SELECT count(*) FROM handled_events WHERE consumer = 'test-consumer' AND event_id = $1",
        broken,
    )
    assert marked == 0


def test_only_failures_one_caller_can_cause_are_tried_one_by_one() -> None:
    assert may_be_one_caller_s(asyncpg.CheckViolationError("a group key of 201"))
    assert may_be_one_caller_s(asyncpg.DataError("an id out of int64 range"))
    assert may_be_one_caller_s(asyncpg.DeadlockDetectedError("deadlock detected"))
    assert not may_be_one_caller_s(asyncpg.ConnectionDoesNotExistError("connection lost"))
    assert not may_be_one_caller_s(asyncpg.AdminShutdownError("the server shuts down"))
    assert not may_be_one_caller_s(asyncpg.InterfaceError("pool is closed"))
    assert not may_be_one_caller_s(OSError("connection refused"))


async def test_a_read_that_cannot_be_made_fails_only_its_caller(pool: asyncpg.Pool) -> None:
    owner, fan = await insert_users(pool, 2)
    post = await pool.fetchval(
        "INSERT INTO posts (author_id, caption) VALUES ($1, 'x') RETURNING id", owner
    )
    audiences, posts = PostgresAudiences(pool), PostgresPostActivity(pool)
    too_big = 2**63  # no bigint: the batch's statement cannot even be sent

    audience, bad_audience, state, bad_state = await asyncio.gather(
        audiences.audience(owner, [fan]),
        audiences.audience(owner, [fan, too_big]),
        posts.post_state(post, None),
        posts.post_state(too_big, None),
        return_exceptions=True,
    )

    assert isinstance(audience, Audience)
    assert audience.standings.keys() == {fan}
    assert isinstance(bad_audience, asyncpg.DataError)
    assert isinstance(state, PostState)
    assert (state.post_id, state.like_count) == (post, 0)
    assert isinstance(bad_state, asyncpg.DataError)
