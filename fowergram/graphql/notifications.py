"""Notifications over GraphQL: thin resolvers over NotificationService."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.viewer import require_viewer
from fowergram.domain.ids import parse_id
from fowergram.domain.notifications.model import NotificationKind
from fowergram.domain.pagination import decode_cursor
from fowergram.graphql.connection import Connection
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.notification import NotificationSettingsType, NotificationType


@strawberry.input(description="Kinds to turn on and off; the others stay as they are.")
class NotificationSettingsInput:
    enable: list[NotificationKind] = strawberry.field(default_factory=list)
    disable: list[NotificationKind] = strawberry.field(default_factory=list)


@strawberry.type
class NotificationQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="My notifications, most recently changed first.",
    )
    async def notifications(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[NotificationType]:
        page = await info.context.services.notifications.page(
            require_viewer(info.context.viewer), first, decode_cursor(after)
        )
        return Connection.from_page(page, NotificationType.from_domain)

    @strawberry.field(permission_classes=[IsAuthenticated], description="Unread notifications.")
    async def unread_notifications_count(self, info: Info[Context, None]) -> int:
        return await info.context.services.notifications.unread_count(
            require_viewer(info.context.viewer)
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def notification_settings(self, info: Info[Context, None]) -> NotificationSettingsType:
        settings = await info.context.services.notifications.settings(
            require_viewer(info.context.viewer)
        )
        return NotificationSettingsType.from_domain(settings)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Mark my notifications up to id upTo (all if omitted) read; a group "
        "updated since has a higher id and stays unread. Returns the unread count.",
    )
    async def mark_notifications_read(
        self, info: Info[Context, None], up_to: strawberry.ID | None = None
    ) -> int:
        return await info.context.services.notifications.mark_read(
            require_viewer(info.context.viewer),
            parse_id(up_to, field="upTo") if up_to is not None else None,
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def update_notification_settings(
        self, info: Info[Context, None], input: NotificationSettingsInput
    ) -> NotificationSettingsType:
        settings = await info.context.services.notifications.update_settings(
            require_viewer(info.context.viewer), enable=input.enable, disable=input.disable
        )
        return NotificationSettingsType.from_domain(settings)
