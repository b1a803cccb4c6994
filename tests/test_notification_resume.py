"""Resume by id and retention on a private database: ascending replay after a cursor,
bumped groups seen again, "resync required" once retention deleted past the cursor,
pruning of markers and group actors; and concurrent events racing into one group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from support.db_rows import insert_users

from fowergram.adapters.postgres.notification_audience import PostgresAudiences
from fowergram.adapters.postgres.notification_facts import PostgresEventFacts
from fowergram.adapters.postgres.notifications import PostgresNotifications
from fowergram.adapters.postgres.pool import create_pool
from fowergram.adapters.postgres.retention import prune
from fowergram.domain.events import RecordedEvent
from fowergram.domain.notifications.model import NotificationKind
from fowergram.domain.notifications.recorder import NotificationRecorder
from fowergram.domain.notifications.service import NotificationService, ResyncRequired

NOW = datetime.now(UTC)


class _Live:
    def __init__(self) -> None:
        self.sent: list[tuple[int, dict[str, Any]]] = []

    async def to_user(self, user_id: int, message: dict[str, Any]) -> None:
        self.sent.append((user_id, message))


@pytest.fixture
async def pool(private_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(private_database, min_size=1, max_size=8)
    yield pool
    await pool.close()


def _recorder(pool: asyncpg.Pool, live: _Live) -> NotificationRecorder:
    return NotificationRecorder(
        store=PostgresNotifications(pool),
        facts=PostgresEventFacts(pool),
        audiences=PostgresAudiences(pool),
        live=live,
    )


def _followed(event_id: int, actor: int, target: int, kind: str = "user.followed") -> RecordedEvent:
    return RecordedEvent(event_id, kind, target, {"actorId": actor, "targetId": target}, NOW)


async def test_concurrent_events_racing_into_one_group_are_all_counted(pool: asyncpg.Pool) -> None:
    star, *fans = await insert_users(pool, 9)
    live = _Live()
    recorder = _recorder(pool, live)
    await asyncio.gather(
        *(recorder.handle(_followed(1000 + i, fan, star)) for i, fan in enumerate(fans))
    )
    rows = await pool.fetch(
        "SELECT actor_ids, actor_count FROM notifications WHERE recipient_id = $1", star
    )
    assert len(rows) == 1
    assert rows[0]["actor_count"] == len(fans)
    assert len(rows[0]["actor_ids"]) == 3
    assert set(rows[0]["actor_ids"]) <= set(fans)
    joined = await pool.fetchval(
        "SELECT count(*) FROM notification_group_actors WHERE recipient_id = $1", star
    )
    assert joined == len(fans)
    assert len(live.sent) == len(fans)  # each event created or bumped the group once


async def _waiting_on_a_lock(pool: asyncpg.Pool) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO notifications%'"
        )
    )


async def test_an_event_that_loses_the_race_to_start_a_group_merges_into_it(
    pool: asyncpg.Pool,
) -> None:
    star, first, second = await insert_users(pool, 3)
    key = f"follow:{NOW.date().isoformat()}"
    async with pool.acquire() as rival, rival.transaction():
        # Another consumer has started the group but not committed yet.
        await rival.execute(
            "INSERT INTO notifications (recipient_id, kind, group_key, actor_ids) "
            "VALUES ($1, 'follow', $2, ARRAY[$3::bigint])",
            star,
            key,
            first,
        )
        handling = asyncio.create_task(_recorder(pool, _Live()).handle(_followed(7, second, star)))
        while not await _waiting_on_a_lock(pool):  # it saw no group and now waits to insert
            assert not handling.done(), handling
            await asyncio.sleep(0.01)
    await handling
    rows = await pool.fetch(
        "SELECT actor_ids, actor_count FROM notifications WHERE recipient_id = $1", star
    )
    assert [(row["actor_ids"], row["actor_count"]) for row in rows] == [([second, first], 2)]


async def test_resume_replays_in_id_order_and_sees_bumped_groups_again(
    pool: asyncpg.Pool,
) -> None:
    me, other, ana, bo = await insert_users(pool, 4)
    recorder, service = (
        _recorder(pool, _Live()),
        NotificationService(store=PostgresNotifications(pool)),
    )
    await recorder.handle(_followed(1, ana, me))
    await recorder.handle(_followed(2, bo, me, "follow.requested"))
    await recorder.handle(_followed(3, ana, other))
    everything = await service.since(me, 0)
    assert [n.kind for n in everything] == [
        NotificationKind.FOLLOW,
        NotificationKind.FOLLOW_REQUEST,
    ]
    assert [n.id for n in everything] == sorted(n.id for n in everything)
    cursor = everything[-1].id
    assert await service.since(me, cursor) == []

    await recorder.handle(_followed(4, bo, me))  # bumps the follow group past the cursor
    [bumped] = await service.since(me, cursor)
    assert (bumped.kind, bumped.actor_ids, bumped.actor_count) == (
        NotificationKind.FOLLOW,
        (bo, ana),
        2,
    )
    assert bumped.id > cursor
    assert len(await service.since(me, 0, limit=1)) == 1


async def test_retention_refuses_resumes_from_before_what_it_deleted(pool: asyncpg.Pool) -> None:
    me, ana, bo = await insert_users(pool, 3)
    recorder, service = (
        _recorder(pool, _Live()),
        NotificationService(store=PostgresNotifications(pool)),
    )
    await recorder.handle(_followed(1, ana, me))
    [old] = await service.since(me, 0)
    await pool.execute(
        "UPDATE notifications SET read_at = now() - interval '100 days' WHERE id = $1", old.id
    )
    await pool.execute("UPDATE handled_events SET handled_at = now() - interval '15 days'")
    await pool.execute("UPDATE notification_group_actors SET seen_at = now() - interval '4 days'")
    await recorder.handle(_followed(2, bo, me, "follow.requested"))  # kept: unread and new
    assert await service.oldest_resumable_id() == 0

    deleted = await prune(pool)
    assert deleted["notifications"] == 1
    assert deleted["handled_events"] == 1
    assert deleted["notification_group_actors"] == 1
    assert await pool.fetchval("SELECT count(*) FROM handled_events") == 1
    assert await service.oldest_resumable_id() == old.id

    with pytest.raises(ResyncRequired) as refused:
        await service.since(me, old.id - 1)
    assert refused.value.extensions()["code"] == "RESYNC_REQUIRED"
    [kept] = await service.since(me, old.id)
    assert kept.kind == NotificationKind.FOLLOW_REQUEST

    assert (await prune(pool))["notifications"] == 0
    assert await service.oldest_resumable_id() == old.id  # never goes back
