"""`notifications(after)`: my notifications live, resumed without gap or duplicate."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.viewer import require_viewer
from fowergram.domain.ids import parse_id
from fowergram.domain.notifications.model import Notification, notification_from_wire
from fowergram.domain.notifications.service import MAX_SINCE
from fowergram.graphql.context import Context
from fowergram.graphql.live.source import live_source
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.notification import NotificationType
from fowergram.realtime.live_feed import LiveFeed
from fowergram.realtime.resume import pages_after, resumed

if TYPE_CHECKING:
    from fowergram.container import Services

log = logging.getLogger(__name__)


async def _notifications(feed: LiveFeed) -> AsyncIterator[Notification]:
    async for message in feed:
        try:
            yield notification_from_wire(message["notification"])
        except (KeyError, TypeError, ValueError):
            log.warning("malformed notification message dropped")


# The subscription as the hub pushes it (realtime/pushed.py), the same rules as below.


def notification_value(message: dict[str, Any]) -> NotificationType:
    """A live `notification` message as the subscription's value (what its resolver
    yields); KeyError/TypeError/ValueError if malformed."""
    return NotificationType.from_domain(notification_from_wire(message["notification"]))


def notification_identity(value: NotificationType) -> str:
    return str(value.id)


def notifications_missed(
    arguments: Mapping[str, Any], user_id: int, services: Services
) -> AsyncIterator[list[NotificationType]] | None:
    """What `user_id` missed since `after`, a page at a time (None without `after`).
    BAD_USER_INPUT for an `after` that is not an id; RESYNC_REQUIRED (on the first
    read) when it is older than what is kept."""
    after = arguments.get("after")
    if after is None:
        return None
    after_id = parse_id(after, field="after")
    service = services.notifications

    async def read_after(cursor: int) -> list[Notification]:
        return await service.since(user_id, cursor, MAX_SINCE)

    async def pages() -> AsyncIterator[list[NotificationType]]:
        async for batch in pages_after(read_after, after_id, lambda n: n.id, MAX_SINCE):
            yield [NotificationType.from_domain(notification) for notification in batch]

    return pages()


@strawberry.type
class NotificationSubscription:
    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description="My notifications as they are created or regrouped. With `after` (the "
        "last id received), first those missed since, then live, with no gap and no "
        "duplicate; RESYNC_REQUIRED when that point is older than what is kept.",
    )
    async def notifications(
        self, info: Info[Context, None], after: strawberry.ID | None = None
    ) -> AsyncGenerator[NotificationType, None]:
        viewer = require_viewer(info.context.viewer)
        after_id = parse_id(after, field="after") if after is not None else None
        socket = live_source(info)
        service = info.context.services.notifications
        feed = socket.open_feed("notification")  # registered before the catch-up read

        async def read_after(cursor: int) -> list[Notification]:
            return await service.since(viewer.user_id, cursor, MAX_SINCE)

        try:
            stream = resumed(_notifications(feed), read_after, after_id, lambda n: n.id, MAX_SINCE)
            async for notification in stream:
                yield NotificationType.from_domain(notification)
        finally:
            socket.drop_feed(feed)
