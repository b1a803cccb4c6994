"""Recording notifications: the events handled together, a few statements for all of them.

The notifications consumer handles a batch's lanes at once, so many events reach
`record` in the same turn of the event loop. Each used to take its own transaction of
four round trips (begin, the handled-event marker with the group's read, the write,
commit) and ~650 µs of PostgreSQL's time: under 1,000 likes/s the consumer settled ~200
events/s and fell ever further behind. Now the events of one turn share one transaction
and one statement per step, whatever their number:

1. mark every event handled by its consumer (a re-delivered one is not marked again, and
   nothing of it is written);
2. read, under lock, each intent's open group and when its actor last joined a group of
   the key (groups locked in one order: no deadlock between transactions);
3. let the domain's `merge` decide each write (pure);
4. start the new groups (an insert whose ON CONFLICT, on the open-group index, merges an
   event racing to start the same group from another transaction) and bump the open ones
   (`id = DEFAULT` re-keys a bumped group, so it sorts first and an `id > cursor` resume
   sees it), each with its actor's joining, in one statement each.

An event's groups are its own within a round: when two events of one turn touch the same
group (or are the same event delivered twice), the later goes in the next round, after
the earlier one's write. A round that fails for one event's sake (bad data, a constraint,
a deadlock) is tried again event by event, so that event fails alone (both: batch_rounds).

Known race, left: the actors' joinings are read in the statement's snapshot, taken before
any lock wait. When two instances handle events of the same group at once (the lanes
keep a group's events in order within one instance only) and the other commits the same
actor joining while this one waits for a group's lock, that actor can be counted twice
(a like notified again). One statement per group narrowed this to the group waited on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from fowergram.adapters.postgres.outbox import Conn
from fowergram.domain.notifications.grouping import MAX_ACTORS, GroupWrite, Merge, OpenGroup
from fowergram.domain.notifications.rules import Intent

COLUMNS = (
    "id",
    "recipient_id",
    "kind",
    "group_key",
    "actor_ids",
    "actor_count",
    "post_id",
    "comment_id",
    "created_at",
    "updated_at",
    "read_at",
)

_MARK = """
INSERT INTO handled_events (consumer, event_id)
SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT DO NOTHING RETURNING consumer, event_id
"""
# $1 recipients, $2 group keys, $3 actors, in lock order: one row each, in that order.
_OPEN_AND_JOINED = """
SELECT o.id, o.actor_ids, o.actor_count, o.created_at, j.group_created_at AS joined_at
FROM unnest($1::bigint[], $2::text[], $3::bigint[])
     WITH ORDINALITY AS i (recipient_id, group_key, actor_id, ord)
LEFT JOIN LATERAL (
    SELECT id, actor_ids, actor_count, created_at FROM notifications n
    WHERE n.recipient_id = i.recipient_id AND n.group_key = i.group_key AND n.read_at IS NULL
    FOR UPDATE
) AS o ON true
LEFT JOIN LATERAL (
    SELECT group_created_at FROM notification_group_actors a
    WHERE a.recipient_id = i.recipient_id AND a.group_key = i.group_key
      AND a.actor_id = i.actor_id
) AS j ON true
ORDER BY i.ord
"""
# Nothing about a deleted post or comment, nor for a deleted recipient (`i`: the input row).
_LIVE = """
EXISTS (SELECT 1 FROM users u WHERE u.id = i.recipient_id AND u.deleted_at IS NULL)
AND (i.post_id IS NULL
     OR EXISTS (SELECT 1 FROM posts p WHERE p.id = i.post_id AND p.deleted_at IS NULL))
AND (i.comment_id IS NULL
     OR EXISTS (SELECT 1 FROM comments c WHERE c.id = i.comment_id AND c.deleted_at IS NULL))
"""
# Each group written joins its newest actor (first in actor_ids: the intent's own).
_JOIN = """
, joined AS (
    INSERT INTO notification_group_actors (recipient_id, group_key, actor_id, group_created_at)
    SELECT recipient_id, group_key, actor_ids[1], created_at FROM written
    ON CONFLICT (recipient_id, group_key, actor_id)
    DO UPDATE SET group_created_at = EXCLUDED.group_created_at, seen_at = now()
)
SELECT * FROM written
"""
_START = (
    """
WITH written AS (
INSERT INTO notifications (recipient_id, kind, group_key, actor_ids, actor_count, post_id,
                           comment_id)
SELECT i.recipient_id, i.kind, i.group_key, ARRAY[i.actor_id], 1, i.post_id, i.comment_id
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
     AS i (recipient_id, kind, group_key, actor_id, post_id, comment_id)
WHERE """
    + _LIVE
    + """
ON CONFLICT (recipient_id, group_key) WHERE read_at IS NULL DO UPDATE SET
    id = DEFAULT,
    actor_ids = (EXCLUDED.actor_ids
                 || array_remove(notifications.actor_ids, EXCLUDED.actor_ids[1]))[1:$7],
    actor_count = notifications.actor_count
        + CASE WHEN EXCLUDED.actor_ids[1] = ANY (notifications.actor_ids) THEN 0 ELSE 1 END,
    post_id = coalesce(EXCLUDED.post_id, notifications.post_id),
    comment_id = coalesce(EXCLUDED.comment_id, notifications.comment_id)
RETURNING """
    + ", ".join(COLUMNS)
    + ")"
    + _JOIN
)
# Actors as array literals ('{3,1,2}'): rows of different lengths in one parameter.
_BUMP = (
    """
WITH written AS (
UPDATE notifications SET id = DEFAULT, actor_ids = i.actor_ids::bigint[],
    actor_count = i.actor_count, post_id = coalesce(i.post_id, notifications.post_id),
    comment_id = coalesce(i.comment_id, notifications.comment_id)
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
            $7::int[])
     AS i (recipient_id, group_id, group_key, post_id, comment_id, actor_ids, actor_count)
WHERE notifications.id = i.group_id AND notifications.recipient_id = i.recipient_id
  AND notifications.group_key = i.group_key AND """
    + _LIVE
    + " RETURNING "
    + ", ".join(f"notifications.{column}" for column in COLUMNS)
    + ")"
    + _JOIN
)


@dataclass(frozen=True, slots=True)
class Recording:
    """One event's call: its intents, one per group, in lock order."""

    consumer: str
    event_id: int
    intents: tuple[Intent, ...]
    merge: Merge

    @classmethod
    def of(cls, consumer: str, event_id: int, intents: Sequence[Intent], merge: Merge) -> Recording:
        # One intent per group (the first one asked for), groups in a fixed order.
        unique = {(i.recipient_id, i.group_key): i for i in reversed(intents)}
        return cls(consumer, event_id, tuple(unique[key] for key in sorted(unique)), merge)

    def groups(self) -> set[tuple[int, str]]:
        return {(intent.recipient_id, intent.group_key) for intent in self.intents}


Written = list[asyncpg.Record] | None  # the rows an event wrote; None: handled before


def touched(call: Recording) -> set[object]:
    """What a call writes: its consumer's marker of the event, and its groups."""
    return {(call.consumer, call.event_id), *call.groups()}


async def record_round(conn: Conn, calls: Sequence[Recording]) -> list[Written]:
    """One round in one transaction: each call's written rows, or None for an event its
    consumer handled already."""
    async with conn.transaction():
        # Markers in one order too: transactions marking the same events (re-deliveries
        # on two instances) would deadlock in opposite orders.
        events = sorted((call.consumer, call.event_id) for call in calls)
        marked = await conn.fetch(
            _MARK, [consumer for consumer, _ in events], [event for _, event in events]
        )
        fresh = {(row["consumer"], row["event_id"]) for row in marked}
        owners = [
            (call, intent)
            for call in calls
            if (call.consumer, call.event_id) in fresh
            for intent in call.intents
        ]
        owners.sort(key=lambda owned: (owned[1].recipient_id, owned[1].group_key))
        rows = await _write(conn, owners)
    # Every call's intents are in lock order already, so each call's rows come out in it.
    written: dict[int, list[asyncpg.Record]] = {id(call): [] for call in calls}
    for (call, _), row in zip(owners, rows, strict=True):
        if row is not None:
            written[id(call)].append(row)
    return [
        written[id(call)] if (call.consumer, call.event_id) in fresh else None for call in calls
    ]


async def _write(
    conn: Conn, owners: Sequence[tuple[Recording, Intent]]
) -> list[asyncpg.Record | None]:
    """Each intent's row as written (None: `merge` or the content's liveness left it out)."""
    if not owners:
        return []
    intents = [intent for _, intent in owners]
    opened = await conn.fetch(
        _OPEN_AND_JOINED,
        [intent.recipient_id for intent in intents],
        [intent.group_key for intent in intents],
        [intent.actor_id for intent in intents],
    )
    changes = [
        call.merge(intent, _open_group(row), row["joined_at"])
        for (call, intent), row in zip(owners, opened, strict=True)
    ]
    starts = [
        intent
        for intent, change in zip(intents, changes, strict=True)
        if change is not None and change.group_id is None
    ]
    bumps = [
        (intent, change)
        for intent, change in zip(intents, changes, strict=True)
        if change is not None and change.group_id is not None
    ]
    rows = [*await _start(conn, starts), *await _bump(conn, bumps)]
    by_group = {(row["recipient_id"], row["group_key"]): row for row in rows}
    return [by_group.get((intent.recipient_id, intent.group_key)) for intent in intents]


def _open_group(row: asyncpg.Record) -> OpenGroup | None:
    if row["id"] is None:
        return None
    return OpenGroup(row["id"], tuple(row["actor_ids"]), row["actor_count"], row["created_at"])


async def _start(conn: Conn, intents: Sequence[Intent]) -> list[asyncpg.Record]:
    if not intents:
        return []
    return await conn.fetch(
        _START,
        [intent.recipient_id for intent in intents],
        [intent.kind.value for intent in intents],
        [intent.group_key for intent in intents],
        [intent.actor_id for intent in intents],
        [intent.post_id for intent in intents],
        [intent.comment_id for intent in intents],
        MAX_ACTORS,
    )


async def _bump(conn: Conn, bumps: Sequence[tuple[Intent, GroupWrite]]) -> list[asyncpg.Record]:
    if not bumps:
        return []
    return await conn.fetch(
        _BUMP,
        [intent.recipient_id for intent, _ in bumps],
        [change.group_id for _, change in bumps],
        [intent.group_key for intent, _ in bumps],
        [intent.post_id for intent, _ in bumps],
        [intent.comment_id for intent, _ in bumps],
        ["{" + ",".join(map(str, change.actor_ids)) + "}" for _, change in bumps],
        [change.actor_count for _, change in bumps],
    )
