from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from fowergram.domain.pagination import decode_cursor
from fowergram.domain.social.profile_service import ProfileWithGrid
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import Relationship
from fowergram.graphql.connection import Connection
from fowergram.graphql.context import Context
from fowergram.graphql.graph_loaders import relationships
from fowergram.graphql.types.relationship import RelationshipType

if TYPE_CHECKING:
    from fowergram.graphql.types.post import PostType


@strawberry.type(name="User", description="A person's public profile.")
class UserType:
    id: strawberry.ID
    username: str
    full_name: str
    bio: str
    website: str | None
    is_private: bool
    followers_count: int
    following_count: int
    posts_count: int
    created_at: datetime
    # The viewer's relationship, when the read that found this person said it already
    # (`user(username:)`): then `relationship` needs no loader, and no task of its own.
    known_relationship: strawberry.Private[Relationship | None] = None
    # The first page of posts read with the profile (`user(username:)` on a profile page),
    # for `posts(first:)` with that `first` as asked and no cursor.
    known_posts: strawberry.Private[tuple[int | None, ProfileWithGrid] | None] = None

    @strawberry.field(
        description="Yours only: whether you show your activity status (and so see others'); "
        "null on anyone else's profile."
    )
    async def show_activity_status(self, info: Info[Context, None]) -> bool | None:
        viewer = info.context.viewer
        if viewer is None or viewer.user_id != int(self.id):
            return None
        return await info.context.services.presence.shows_activity_status(viewer.user_id)

    @strawberry.field(
        description="How the viewer stands to this person; null when signed out.",
        graphql_type=RelationshipType | None,
    )
    def relationship(
        self, info: Info[Context, None]
    ) -> RelationshipType | Awaitable[RelationshipType | None] | None:
        # Not a coroutine function: a known answer is returned as it is, and graphql-core
        # awaits only the loader's.
        if self.known_relationship is not None:
            return RelationshipType.from_domain(int(self.id), self.known_relationship)
        loader = relationships(info.context)
        if loader is None:
            return None
        return self._loaded_relationship(loader)

    async def _loaded_relationship(
        self, loader: DataLoader[int, Relationship]
    ) -> RelationshipType | None:
        return RelationshipType.from_domain(int(self.id), await loader.load(int(self.id)))

    @strawberry.field(
        description="Accepted followers, newest first; null with FORBIDDEN if the account is "
        "private and the viewer is not an approved follower."
    )
    async def followers(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[UserType] | None:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        page = await info.context.services.graph.followers(viewer_id, int(self.id), first, after)
        return Connection.from_page(page, UserType.from_domain)

    @strawberry.field(description="Accounts this person follows, newest first; as `followers`.")
    async def following(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[UserType] | None:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        page = await info.context.services.graph.following(viewer_id, int(self.id), first, after)
        return Connection.from_page(page, UserType.from_domain)

    @strawberry.field(description="The posts grid, newest first (visibility applies).")
    async def posts(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[PostType, strawberry.lazy("fowergram.graphql.types.post")]]:
        from fowergram.graphql.types.post import post_connection

        known = self.known_posts
        if known is not None and after is None and known[0] == first:
            grid = known[1].posts()
        else:
            viewer_id = info.context.viewer.user_id if info.context.viewer else None
            grid = await info.context.services.posts.by_author(
                viewer_id, int(self.id), first, decode_cursor(after)
            )
        return await post_connection(info.context, grid.page, grid.viewer_liked)

    @classmethod
    def from_domain(
        cls,
        profile: Profile,
        relationship: Relationship | None = None,
        posts: tuple[int | None, ProfileWithGrid] | None = None,
    ) -> UserType:
        return cls(
            id=strawberry.ID(str(profile.id)),
            username=profile.username,
            full_name=profile.full_name,
            bio=profile.bio,
            website=profile.website,
            is_private=profile.is_private,
            followers_count=profile.followers_count,
            following_count=profile.following_count,
            posts_count=profile.posts_count,
            created_at=profile.created_at,
            known_relationship=relationship,
            known_posts=posts,
        )
