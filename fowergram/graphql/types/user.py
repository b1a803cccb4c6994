from __future__ import annotations

from datetime import datetime

import strawberry

from fowergram.domain.social.profiles import Profile


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

    @classmethod
    def from_domain(cls, profile: Profile) -> UserType:
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
        )
