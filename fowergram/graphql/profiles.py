"""Profiles over GraphQL."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.graphql.context import Context
from fowergram.graphql.graph_loaders import relationships
from fowergram.graphql.loaders import users
from fowergram.graphql.types.user import UserType


@strawberry.type
class ProfileQuery:
    @strawberry.field(description="A profile by username (case-insensitive).")
    async def user(self, info: Info[Context, None], username: str) -> UserType:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        profile, relation = await info.context.services.profiles.by_username(viewer_id, username)
        # The page built on this profile (its posts' authors, their `relationship`) reads
        # both from the loaders: they start with what is known already.
        users(info.context).prime(profile.id, profile)
        viewer_relationships = relationships(info.context)
        if viewer_relationships is not None and relation is not None:
            viewer_relationships.prime(profile.id, relation)
        return UserType.from_domain(profile, relation)
