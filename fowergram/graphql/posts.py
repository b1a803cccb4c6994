"""Posts, saves and likes over GraphQL: thin resolvers over PostService and LikeService."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.viewer import require_viewer
from fowergram.domain.ids import parse_id
from fowergram.domain.pagination import decode_cursor
from fowergram.graphql.connection import Connection
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.post import (
    PostType,
    authored_post_node,
    post_connection,
    post_node,
)


def _viewer_id(info: Info[Context, None]) -> int | None:
    return info.context.viewer.user_id if info.context.viewer else None


@strawberry.input
class CreatePostInput:
    caption: str = ""
    media_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.type
class LikeResult:
    post_id: strawberry.ID
    like_count: int
    viewer_has_liked: bool


@strawberry.type
class PostQuery:
    @strawberry.field
    async def post(self, info: Info[Context, None], id: strawberry.ID) -> PostType:
        authored = await info.context.services.posts.authored(
            _viewer_id(info), parse_id(id, field="id")
        )
        return authored_post_node(info.context, authored)

    @strawberry.field(description="Posts with a hashtag, newest first.")
    async def hashtag_posts(
        self,
        info: Info[Context, None],
        tag: str,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[PostType]:
        page = await info.context.services.posts.by_hashtag(
            _viewer_id(info), tag, first, decode_cursor(after)
        )
        return await post_connection(info.context, page)

    @strawberry.field(permission_classes=[IsAuthenticated], description="My bookmarks.")
    async def saved_posts(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[PostType]:
        viewer = require_viewer(info.context.viewer)
        page = await info.context.services.posts.saved(viewer, first, decode_cursor(after, arity=2))
        return await post_connection(info.context, page)


@strawberry.type
class PostMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="The same idempotencyKey within an hour returns the first post.",
    )
    async def create_post(
        self,
        info: Info[Context, None],
        input: CreatePostInput,
        idempotency_key: str | None = None,
    ) -> PostType:
        post = await info.context.services.posts.create(
            require_viewer(info.context.viewer),
            caption=input.caption,
            media_ids=[parse_id(m, field="mediaIds") for m in input.media_ids],
            idempotency_key=idempotency_key,
        )
        return await post_node(info.context, post)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def edit_post(
        self, info: Info[Context, None], id: strawberry.ID, caption: str
    ) -> PostType:
        post = await info.context.services.posts.edit(
            require_viewer(info.context.viewer), parse_id(id, field="id"), caption
        )
        return await post_node(info.context, post)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def delete_post(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        await info.context.services.posts.delete(
            require_viewer(info.context.viewer), parse_id(id, field="id")
        )
        return True

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def save_post(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        await info.context.services.posts.save(
            require_viewer(info.context.viewer), parse_id(id, field="id")
        )
        return True

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def unsave_post(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        await info.context.services.posts.unsave(
            require_viewer(info.context.viewer), parse_id(id, field="id")
        )
        return True

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Idempotent.")
    async def like_post(self, info: Info[Context, None], id: strawberry.ID) -> LikeResult:
        post_id = parse_id(id, field="id")
        count = await info.context.services.likes.like(require_viewer(info.context.viewer), post_id)
        return LikeResult(
            post_id=strawberry.ID(str(post_id)), like_count=count, viewer_has_liked=True
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Idempotent.")
    async def unlike_post(self, info: Info[Context, None], id: strawberry.ID) -> LikeResult:
        post_id = parse_id(id, field="id")
        count = await info.context.services.likes.unlike(
            require_viewer(info.context.viewer), post_id
        )
        return LikeResult(
            post_id=strawberry.ID(str(post_id)), like_count=count, viewer_has_liked=False
        )
