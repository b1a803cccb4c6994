"""`postActivity(postId)`: a post's counts and comments live, one execution for all
its watchers (the hub multiplexes it)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import strawberry
from strawberry.types import Info

from fowergram.domain.ids import parse_id
from fowergram.graphql.context import Context
from fowergram.graphql.live.source import live_source
from fowergram.graphql.types.post_activity import PostActivityType
from fowergram.realtime.live_feed import LiveFeed
from fowergram.realtime.live_source import LiveSource

log = logging.getLogger(__name__)


async def authorize_post_activity(arguments: Mapping[str, Any], context: Context) -> None:
    """May this socket's viewer watch the post? NOT_FOUND (as for a read) if not."""
    post_id = parse_id(arguments["postId"], field="postId")
    viewer_id = context.viewer.user_id if context.viewer is not None else None
    await context.services.posts.get(viewer_id, post_id)


async def _post_activity(
    feed: LiveFeed, source: LiveSource, post_id: int
) -> AsyncIterator[PostActivityType]:
    async for message in feed:
        try:
            if int(message["postId"]) != post_id:
                continue
            activity = PostActivityType.from_message(message)
        except (KeyError, TypeError, ValueError):
            log.warning("malformed post activity message dropped")
            continue
        actor = message.get("actorId")
        source.note_actor(actor if isinstance(actor, int) and message.get("comment") else None)
        yield activity


@strawberry.type
class PostSubscription:
    @strawberry.subscription(
        description="Live like and comment counts and new comments of a post I may see. "
        "Identical subscriptions share one execution (multiplexed)."
    )
    async def post_activity(
        self, info: Info[Context, None], post_id: strawberry.ID
    ) -> AsyncGenerator[PostActivityType, None]:
        source = live_source(info)
        if not source.shared:  # a shared stream's sockets were authorised on joining
            await authorize_post_activity({"postId": post_id}, info.context)
        post = parse_id(post_id, field="postId")
        feed = source.open_feed("post.activity")
        channel = source.topic("post", post)
        await source.join(channel)
        try:
            async for activity in _post_activity(feed, source, post):
                yield activity
        finally:
            await source.leave(channel)
            source.drop_feed(feed)
