"""Comments and comment likes over GraphQL: thin resolvers over CommentService."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.viewer import require_viewer
from fowergram.domain.ids import parse_id
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.comment import CommentType, comment_node


@strawberry.type
class CommentLikeResult:
    comment_id: strawberry.ID
    like_count: int
    viewer_has_liked: bool


@strawberry.type
class CommentQuery:
    @strawberry.field(description="A comment the viewer may see (NOT_FOUND otherwise).")
    async def comment(self, info: Info[Context, None], id: strawberry.ID) -> CommentType:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        comment = await info.context.services.comments.get(viewer_id, parse_id(id, field="id"))
        return await comment_node(info.context, comment)


@strawberry.type
class CommentMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Comment on a post (1 to 2,200 characters), or reply with parentId; a "
        "reply to a reply joins the thread of its top-level comment (one level of replies).",
    )
    async def add_comment(
        self,
        info: Info[Context, None],
        post_id: strawberry.ID,
        body: str,
        parent_id: strawberry.ID | None = None,
    ) -> CommentType:
        comment = await info.context.services.comments.add(
            require_viewer(info.context.viewer),
            parse_id(post_id, field="postId"),
            body,
            parse_id(parent_id, field="parentId") if parent_id is not None else None,
        )
        return await comment_node(info.context, comment)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="By the comment's author or the post's owner; a top-level comment's "
        "replies are deleted with it.",
    )
    async def delete_comment(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        await info.context.services.comments.delete(
            require_viewer(info.context.viewer), parse_id(id, field="id")
        )
        return True

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Idempotent.")
    async def like_comment(self, info: Info[Context, None], id: strawberry.ID) -> CommentLikeResult:
        comment_id = parse_id(id, field="id")
        count = await info.context.services.comments.like(
            require_viewer(info.context.viewer), comment_id
        )
        return CommentLikeResult(
            comment_id=strawberry.ID(str(comment_id)), like_count=count, viewer_has_liked=True
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Idempotent.")
    async def unlike_comment(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> CommentLikeResult:
        comment_id = parse_id(id, field="id")
        count = await info.context.services.comments.unlike(
            require_viewer(info.context.viewer), comment_id
        )
        return CommentLikeResult(
            comment_id=strawberry.ID(str(comment_id)), like_count=count, viewer_has_liked=False
        )
