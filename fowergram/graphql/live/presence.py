"""`presence(userIds)`: who of these people is online, then each change, batched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.viewer import require_viewer
from fowergram.domain.presence import PresenceState, Status
from fowergram.domain.presence_service import parse_user_ids
from fowergram.graphql.context import Context
from fowergram.graphql.live.source import live_source
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.presence import PresenceType
from fowergram.realtime.live_feed import LiveFeed

log = logging.getLogger(__name__)

PRESENCE_BATCH_S = 0.2  # changes arriving this close together go out as one list


def _presence_from(message: dict[str, Any]) -> PresenceState:
    seen = message.get("lastSeenAt")
    return PresenceState(
        user_id=int(message["userId"]),
        status=Status(message["status"]),
        last_seen_at=datetime.fromisoformat(seen) if seen is not None else None,
    )


async def _presence_batches(
    feed: LiveFeed, watched: set[int], still_visible: Callable[[list[int]], Awaitable[list[int]]]
) -> AsyncIterator[list[PresenceState]]:
    """Each batch of changes, of the watched people the viewer may still see: hiding
    one's activity, unfollowing or blocking after the subscription started counts from
    one's next change (one query per batch, for its people only)."""
    async for first in feed:
        await asyncio.sleep(PRESENCE_BATCH_S)
        latest: dict[int, PresenceState] = {}
        for message in (first, *feed.take_pending()):
            try:
                state = _presence_from(message)
            except (KeyError, TypeError, ValueError):
                log.warning("malformed presence message dropped")
                continue
            if state.user_id in watched:
                latest[state.user_id] = state
        if latest:
            allowed = set(await still_visible(list(latest)))
            batch = [state for user_id, state in latest.items() if user_id in allowed]
            if batch:
                yield batch


@strawberry.type
class PresenceSubscription:
    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description="Online/offline changes of these people (at most 100), batched: first "
        "their current state, then each change. People whose presence I may not see (they "
        "hide it, I hide mine, we do not follow each other, a block) are left out.",
    )
    async def presence(
        self, info: Info[Context, None], user_ids: list[strawberry.ID]
    ) -> AsyncGenerator[list[PresenceType], None]:
        viewer = require_viewer(info.context.viewer)
        service = info.context.services.presence
        wanted = parse_user_ids(list(user_ids))
        visible = await service.visible(viewer, wanted)
        source = live_source(info)
        feed = source.open_feed("presence")
        channels = [source.topic("presence", user_id) for user_id in visible]
        try:
            for channel in channels:  # registered before the snapshot is read
                await source.join(channel)
            snapshot = await service.presence(viewer, visible)
            yield [PresenceType.from_domain(state) for state in snapshot]

            async def still_visible(user_ids: list[int]) -> list[int]:
                return await service.visible(viewer, user_ids)

            async for batch in _presence_batches(feed, set(visible), still_visible):
                yield [PresenceType.from_domain(state) for state in batch]
        finally:
            for channel in channels:
                await source.leave(channel)
            source.drop_feed(feed)
