from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from fowergram.domain.pagination import Page, decode_cursor
from fowergram.domain.social.comments import CommentOrder
from fowergram.domain.social.posts import AuthoredPost, Post
from fowergram.graphql import loaders
from fowergram.graphql.authored import authors_and_likes
from fowergram.graphql.connection import Connection
from fowergram.graphql.context import Context
from fowergram.graphql.graph_loaders import known_person
from fowergram.graphql.types.comment import CommentType, comment_connection

if TYPE_CHECKING:
    from fowergram.graphql.types.user import UserType


@strawberry.type(name="Post")
class PostType:
    id: strawberry.ID
    caption: str
    media_ids: list[strawberry.ID]
    like_count: int
    comment_count: int
    created_at: datetime
    edited_at: datetime | None
    # Filled in for the whole page at once (post_nodes): two batched loads per page
    # instead of two awaitables, and their asyncio tasks, per post.
    author: Annotated[UserType, strawberry.lazy("fowergram.graphql.types.user")] | None
    viewer_has_liked: bool
    # The domain post it shows, which the viewer may see (every PostType comes from a
    # visibility-checked read): its comments need no second read of it.
    post: strawberry.Private[Post]

    @classmethod
    def from_domain(
        cls, post: Post, *, author: UserType | None, viewer_has_liked: bool
    ) -> PostType:
        return cls(
            id=strawberry.ID(str(post.id)),
            caption=post.caption,
            media_ids=[strawberry.ID(str(m)) for m in post.media_ids],
            like_count=post.like_count,
            comment_count=post.comment_count,
            created_at=post.created_at,
            edited_at=post.edited_at,
            author=author,
            viewer_has_liked=viewer_has_liked,
            post=post,
        )

    @strawberry.field(description="Who liked it, most recent first.")
    async def likers(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[UserType, strawberry.lazy("fowergram.graphql.types.user")]]:
        from fowergram.graphql.types.user import UserType

        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        page = await info.context.services.likes.likers(
            viewer_id, int(self.id), first, decode_cursor(after, arity=2)
        )
        users = await loaders.users(info.context).load_many(list(page.items))
        shown = {profile.id: profile for profile in users if profile is not None}
        visible = page.keep(lambda user_id: user_id in shown)
        return Connection.from_page(visible, lambda user_id: UserType.from_domain(shown[user_id]))

    @strawberry.field(description="Top-level comments, newest first unless order is OLDEST.")
    async def comments(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        order: CommentOrder | None = CommentOrder.NEWEST,
    ) -> Connection[CommentType]:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        thread = await info.context.services.comments.for_visible_post(
            viewer_id, self.post, first, decode_cursor(after), order or CommentOrder.NEWEST
        )
        return await comment_connection(info.context, thread.page, thread.viewer_liked)


async def post_nodes(
    context: Context, posts: Sequence[Post], viewer_liked: Collection[int] | None = None
) -> list[PostType]:
    """GraphQL posts with their authors and the viewer's likes, loaded for all at once
    (the likes only if `viewer_liked`, those the viewer liked, was not read with them)."""
    likes = loaders.viewer_has_liked(context) if viewer_liked is None else viewer_liked
    extras = await authors_and_likes(context, posts, likes)
    return [
        PostType.from_domain(post, author=author, viewer_has_liked=liked)
        for post, (author, liked) in zip(posts, extras, strict=True)
    ]


def authored_post_node(context: Context, authored: AuthoredPost) -> PostType:
    """A post page's post, its author and the viewer's like read with it (no batch of
    its own); the author is known to the page's loaders (commenters may include them)."""
    from fowergram.graphql.types.user import UserType

    author = authored.author
    relation = known_person(context, author, authored.relationship)
    return PostType.from_domain(
        authored.post,
        author=UserType.from_domain(author, relation),
        viewer_has_liked=authored.viewer_liked,
    )


async def post_node(context: Context, post: Post) -> PostType:
    return (await post_nodes(context, [post]))[0]


async def post_connection(
    context: Context, page: Page[Post], viewer_liked: Collection[int] | None = None
) -> Connection[PostType]:
    return Connection.with_nodes(page, await post_nodes(context, page.items, viewer_liked))
