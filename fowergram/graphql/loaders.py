"""The request's DataLoaders: each relation is fetched once per request, in one batch.

A batch function closes over the services it calls, never over the context: the context
holds the loaders, and that cycle would keep each request's objects until the collector
found them (tests/test_request_garbage.py)."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from fowergram.domain.social.posts import Post
from fowergram.domain.social.profiles import Profile
from fowergram.graphql.context import Context


def users(context: Context) -> DataLoader[int, Profile | None]:
    """Profiles the viewer may see; None for hidden (blocked, deleted) or unknown ids."""
    viewer_id = context.viewer.user_id if context.viewer else None
    services = context.services

    async def load(ids: Sequence[int]) -> list[Profile | None]:
        found = await services.profiles.visible(viewer_id, ids)
        return [found.get(user_id) for user_id in ids]

    return context.loader("users", lambda: DataLoader(load_fn=load))


def posts(context: Context) -> DataLoader[int, Post | None]:
    """Posts the viewer may see; None for hidden, deleted or unknown ids."""
    viewer_id = context.viewer.user_id if context.viewer else None
    services = context.services

    async def load(ids: Sequence[int]) -> list[Post | None]:
        found = await services.posts.visible(viewer_id, ids)
        return [found.get(post_id) for post_id in ids]

    return context.loader("posts", lambda: DataLoader(load_fn=load))


def viewer_has_liked(context: Context) -> DataLoader[int, bool]:
    viewer_id = context.viewer.user_id if context.viewer else None
    services = context.services

    async def load(ids: Sequence[int]) -> list[bool]:
        liked = await services.likes.liked_by_viewer(viewer_id, ids)
        return [post_id in liked for post_id in ids]

    return context.loader("viewer_has_liked", lambda: DataLoader(load_fn=load))


def viewer_has_liked_comment(context: Context) -> DataLoader[int, bool]:
    viewer_id = context.viewer.user_id if context.viewer else None
    services = context.services

    async def load(ids: Sequence[int]) -> list[bool]:
        liked = await services.comments.liked_by_viewer(viewer_id, ids)
        return [comment_id in liked for comment_id in ids]

    return context.loader("viewer_has_liked_comment", lambda: DataLoader(load_fn=load))
