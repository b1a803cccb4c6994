"""The Notification type: a grouped notice, its actors, post and comment loaded in batches
with the viewer's visibility (someone hidden since, by a block or deletion, drops out)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from fowergram.domain.errors import NotFound
from fowergram.domain.notifications.model import (
    Notification,
    NotificationKind,
    NotificationSettings,
)
from fowergram.domain.social.comments import Comment
from fowergram.graphql import loaders
from fowergram.graphql.context import Context

if TYPE_CHECKING:
    from fowergram.graphql.types.comment import CommentType
    from fowergram.graphql.types.post import PostType
    from fowergram.graphql.types.user import UserType

# The domain's enum, registered with Strawberry (the domain imports no GraphQL).
strawberry.enum(NotificationKind, name="NotificationKind", description="What happened.")


def _comments(context: Context) -> DataLoader[int, Comment | None]:
    """Comments the viewer may see; None for hidden, deleted or unknown ids."""
    viewer_id = context.viewer.user_id if context.viewer else None
    comments = context.services.comments  # not the context: it holds the loader (a cycle)

    async def one(comment_id: int) -> Comment | None:
        try:
            return await comments.get(viewer_id, comment_id)
        except NotFound:
            return None

    async def load(ids: Sequence[int]) -> list[Comment | None]:
        return list(await asyncio.gather(*(one(comment_id) for comment_id in ids)))

    return context.loader("notification_comments", lambda: DataLoader(load_fn=load))


@strawberry.type(
    name="Notification",
    description='One notice, grouped: "ana and 2 others liked your post" is one '
    "notification, updated in place (with a new, higher id) while it is unread.",
)
class NotificationType:
    id: strawberry.ID
    kind: NotificationKind
    actor_count: int = strawberry.field(
        description="Everyone who did it, counted once each (actors lists the latest few)."
    )
    created_at: datetime
    updated_at: datetime = strawberry.field(description="When the group last changed.")
    read: bool
    actor_ids: strawberry.Private[tuple[int, ...]]
    post_id: strawberry.Private[int | None]
    comment_id: strawberry.Private[int | None]

    @classmethod
    def from_domain(cls, notification: Notification) -> NotificationType:
        return cls(
            id=strawberry.ID(str(notification.id)),
            kind=notification.kind,
            actor_count=notification.actor_count,
            created_at=notification.created_at,
            updated_at=notification.updated_at,
            read=notification.read,
            actor_ids=notification.actor_ids,
            post_id=notification.post_id,
            comment_id=notification.comment_id,
        )

    @strawberry.field(description="The latest actors, latest first, as far as you may see them.")
    async def actors(
        self, info: Info[Context, None]
    ) -> list[Annotated[UserType, strawberry.lazy("fowergram.graphql.types.user")]]:
        from fowergram.graphql.types.user import UserType

        profiles = await loaders.users(info.context).load_many(list(self.actor_ids))
        return [UserType.from_domain(profile) for profile in profiles if profile is not None]

    @strawberry.field(description="The post it is about; null if none or no longer visible.")
    async def post(
        self, info: Info[Context, None]
    ) -> Annotated[PostType, strawberry.lazy("fowergram.graphql.types.post")] | None:
        from fowergram.graphql.types.post import post_node

        if self.post_id is None:
            return None
        post = await loaders.posts(info.context).load(self.post_id)
        return await post_node(info.context, post) if post is not None else None

    @strawberry.field(
        description="The comment it is about (the latest one for a group of comments); "
        "null if none or no longer visible."
    )
    async def comment(
        self, info: Info[Context, None]
    ) -> Annotated[CommentType, strawberry.lazy("fowergram.graphql.types.comment")] | None:
        from fowergram.graphql.types.comment import comment_node

        if self.comment_id is None:
            return None
        comment = await _comments(info.context).load(self.comment_id)
        return await comment_node(info.context, comment) if comment is not None else None


@strawberry.type(name="NotificationSettings", description="Which kinds of notification you get.")
class NotificationSettingsType:
    enabled_kinds: list[NotificationKind]
    disabled_kinds: list[NotificationKind]

    @classmethod
    def from_domain(cls, settings: NotificationSettings) -> NotificationSettingsType:
        order = list(NotificationKind)
        return cls(
            enabled_kinds=sorted(settings.enabled, key=order.index),
            disabled_kinds=sorted(settings.disabled, key=order.index),
        )
