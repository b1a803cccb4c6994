from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from fowergram.domain.pagination import Page, decode_cursor
from fowergram.domain.social.comments import Comment, CommentOrder
from fowergram.graphql import loaders
from fowergram.graphql.authored import authors_and_likes
from fowergram.graphql.connection import Connection
from fowergram.graphql.context import Context

if TYPE_CHECKING:
    from fowergram.graphql.types.user import UserType

# The domain's enum, registered with Strawberry (the domain imports no GraphQL).
strawberry.enum(CommentOrder, name="CommentOrder", description="Newest or oldest first.")


@strawberry.type(name="Comment", description="A comment on a post, or a reply to one.")
class CommentType:
    id: strawberry.ID
    body: str
    created_at: datetime
    like_count: int
    reply_count: int = strawberry.field(description="Live replies; 0 for a reply.")
    post_id: strawberry.ID
    parent_id: strawberry.ID | None = strawberry.field(
        description="The top-level comment this replies to; null for a top-level comment."
    )
    # Filled in for the whole page at once (comment_nodes), as for posts.
    author: Annotated[UserType, strawberry.lazy("fowergram.graphql.types.user")] | None
    viewer_has_liked: bool
    author_id: strawberry.Private[int]

    @classmethod
    def from_domain(
        cls, comment: Comment, *, author: UserType | None, viewer_has_liked: bool
    ) -> CommentType:
        return cls(
            id=strawberry.ID(str(comment.id)),
            body=comment.body,
            created_at=comment.created_at,
            like_count=comment.like_count,
            reply_count=comment.reply_count,
            post_id=strawberry.ID(str(comment.post_id)),
            parent_id=strawberry.ID(str(comment.parent_id)) if comment.parent_id else None,
            author=author,
            viewer_has_liked=viewer_has_liked,
            author_id=comment.author_id,
        )

    @strawberry.field(description="Replies, oldest first (always empty for a reply).")
    async def replies(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[CommentType]:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        page = await info.context.services.comments.replies(
            viewer_id, int(self.id), first, decode_cursor(after)
        )
        return await comment_connection(info.context, page)


async def comment_nodes(
    context: Context, comments: Sequence[Comment], viewer_liked: Collection[int] | None = None
) -> list[CommentType]:
    """GraphQL comments with their authors and the viewer's likes, loaded for all at once
    (the likes only if `viewer_liked`, those the viewer liked, was not read with them)."""
    likes = loaders.viewer_has_liked_comment(context) if viewer_liked is None else viewer_liked
    extras = await authors_and_likes(context, comments, likes)
    return [
        CommentType.from_domain(comment, author=author, viewer_has_liked=has_liked)
        for comment, (author, has_liked) in zip(comments, extras, strict=True)
    ]


async def comment_node(context: Context, comment: Comment) -> CommentType:
    return (await comment_nodes(context, [comment]))[0]


async def comment_connection(
    context: Context, page: Page[Comment], viewer_liked: Collection[int] | None = None
) -> Connection[CommentType]:
    return Connection.with_nodes(page, await comment_nodes(context, page.items, viewer_liked))
