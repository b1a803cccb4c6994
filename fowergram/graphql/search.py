"""Search over GraphQL: ranked top-N lists, not connections (no pagination)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.graphql.context import Context
from fowergram.graphql.types.hashtag import HashtagType
from fowergram.graphql.types.user import UserType


@strawberry.type
class SearchQuery:
    @strawberry.field(
        description="People by username or full name, prefix or fuzzy (typos forgiven), best "
        "match first; `first` 1 to 50. A leading '@' is ignored. Not paginated."
    )
    async def search_users(
        self, info: Info[Context, None], query: str, first: int | None = 10
    ) -> list[UserType]:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        found = await info.context.services.search.users(viewer_id, query, first)
        return [UserType.from_domain(profile) for profile in found]

    @strawberry.field(
        description="Hashtags by prefix or fuzzy match, best first; `first` 1 to 50. A leading "
        "'#' is ignored. Not paginated."
    )
    async def search_hashtags(
        self, info: Info[Context, None], query: str, first: int | None = 10
    ) -> list[HashtagType]:
        found = await info.context.services.search.hashtags(query, first)
        return [HashtagType.from_domain(hashtag) for hashtag in found]
