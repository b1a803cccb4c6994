"""A person's public profile, as others see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fowergram.domain.social.relationship import Owner


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    username: str
    full_name: str
    bio: str
    website: str | None
    avatar_media_id: int | None
    is_private: bool
    followers_count: int
    following_count: int
    posts_count: int
    created_at: datetime
    deleted: bool = False

    @property
    def owner(self) -> Owner:
        return Owner(self.id, self.is_private, self.deleted)
