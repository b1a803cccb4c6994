from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from fowergram.domain.pagination import decode_cursor
from fowergram.domain.social.comments import Comment, CommentOrder
from fowergram.graphql import loaders
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
    author_id: strawberry.Private[int]

    @classmethod
    def from_domain(cls, comment: Comment) -> CommentType:
        return cls(
            id=strawberry.ID(str(comment.id)),
            body=comment.body,
            created_at=comment.created_at,
            like_count=comment.like_count,
            reply_count=comment.reply_count,
            post_id=strawberry.ID(str(comment.post_id)),
            parent_id=strawberry.ID(str(comment.parent_id)) if comment.parent_id else None,
            author_id=comment.author_id,
        )

    @strawberry.field
    async def author(
        self, info: Info[Context, None]
    ) -> Annotated[UserType, strawberry.lazy("fowergram.graphql.types.user")] | None:
        from fowergram.graphql.types.user import UserType

        profile = await loaders.users(info.context).load(self.author_id)
        return UserType.from_domain(profile) if profile else None

    @strawberry.field
    async def viewer_has_liked(self, info: Info[Context, None]) -> bool:
        return await loaders.viewer_has_liked_comment(info.context).load(int(self.id))

    @strawberry.field(description="Replies, oldest first (always empty for a reply).")
    async def replies(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[CommentType]:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        page = await info.context.services.comments.replies(
            viewer_id, int(self.id), first, decode_cursor(after)
        )
        return Connection.from_page(page, CommentType.from_domain)
