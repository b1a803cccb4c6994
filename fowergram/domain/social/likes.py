"""Liking posts: idempotent, counted in the same transaction as the like row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page, page_size
from fowergram.domain.social.post_service import PostService


class LikeStore(Protocol):
    async def like(self, user_id: int, post_id: int, *, event: DomainEvent) -> int | None:
        """Add the like (once) and return the post's like count; None if the post is gone."""
        ...

    async def unlike(self, user_id: int, post_id: int, *, event: DomainEvent) -> int | None: ...
    async def liked(self, user_id: int, post_ids: Sequence[int]) -> set[int]: ...
    async def likers(self, post_id: int, after: Key | None, size: int) -> Page[int]: ...


class LikeService:
    def __init__(self, *, store: LikeStore, posts: PostService) -> None:
        self._store = store
        self._posts = posts

    async def like(self, viewer: Viewer, post_id: int) -> int:
        post = await self._posts.to_act_on(viewer.user_id, post_id)  # may see it: may like it
        event = DomainEvent(
            "post.liked", post.post_id, {"actorId": viewer.user_id, "authorId": post.author_id}
        )
        count = await self._store.like(viewer.user_id, post.post_id, event=event)
        return post.like_count if count is None else count

    async def unlike(self, viewer: Viewer, post_id: int) -> int:
        post = await self._posts.to_act_on(viewer.user_id, post_id)
        event = DomainEvent(
            "post.unliked", post.post_id, {"actorId": viewer.user_id, "authorId": post.author_id}
        )
        count = await self._store.unlike(viewer.user_id, post.post_id, event=event)
        return post.like_count if count is None else count

    async def liked_by_viewer(self, viewer_id: int | None, post_ids: Sequence[int]) -> set[int]:
        return await self._store.liked(viewer_id, post_ids) if viewer_id else set()

    async def likers(
        self, viewer_id: int | None, post_id: int, first: int | None, after: Key | None
    ) -> Page[int]:
        post = await self._posts.get(viewer_id, post_id)
        return await self._store.likers(post.id, after, page_size(first))
