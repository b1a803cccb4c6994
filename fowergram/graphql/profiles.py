"""Profiles over GraphQL."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.graphql.context import Context
from fowergram.graphql.types.user import UserType


@strawberry.type
class ProfileQuery:
    @strawberry.field(description="A profile by username (case-insensitive).")
    async def user(self, info: Info[Context, None], username: str) -> UserType:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        profile = await info.context.services.profiles.by_username(viewer_id, username)
        return UserType.from_domain(profile)
