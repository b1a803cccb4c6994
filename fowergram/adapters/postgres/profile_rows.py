"""A profile as the `users` table holds it, read from a row."""

from __future__ import annotations

import asyncpg

from fowergram.domain.social.profiles import Profile

# The select-list of the `users` row aliased `u` that profile_from reads.
PROFILE_COLUMNS = (
    "u.id, u.username, u.full_name, u.bio, u.website, u.avatar_media_id, u.is_private, "
    "u.followers_count, u.following_count, u.posts_count, u.created_at, "
    "u.deleted_at IS NOT NULL AS deleted"
)


def profile_from(row: asyncpg.Record) -> Profile:
    return Profile(
        id=row["id"],
        username=row["username"],
        full_name=row["full_name"],
        bio=row["bio"],
        website=row["website"],
        avatar_media_id=row["avatar_media_id"],
        is_private=row["is_private"],
        followers_count=row["followers_count"],
        following_count=row["following_count"],
        posts_count=row["posts_count"],
        created_at=row["created_at"],
        deleted=row["deleted"],
    )
