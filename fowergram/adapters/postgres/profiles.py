"""Profiles, read in batches (the DataLoader's one round trip)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.posts import post_from
from fowergram.adapters.postgres.relationships import standing_columns, standing_from_row
from fowergram.domain.pagination import Page
from fowergram.domain.social.posts import PostGrid
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import Relationship

_COLUMNS = (
    "id, username, full_name, bio, website, avatar_media_id, is_private, "
    "followers_count, following_count, posts_count, created_at, "
    "deleted_at IS NOT NULL AS deleted"
)
# $1: the viewer, $2: the ids. The profiles and the viewer's relationship to each.
_BY_IDS = (
    f"SELECT {_COLUMNS}, {standing_columns('rel_')} FROM users u "  # noqa: S608  (constants)
    "WHERE id = ANY($2::bigint[])"
)
# $1: the viewer, $2: the username. The profile and the viewer's relationship to it.
_BY_USERNAME = (
    f"SELECT {_COLUMNS}, {standing_columns('rel_')} FROM users u "  # noqa: S608  (constants)
    "WHERE lower(username) = lower($2) AND deleted_at IS NULL"
)

# $3: the page size + 1. The same, then the first posts of the grid (PostgresPosts.by_author's
# page, its columns named post_*, with the viewer's likes): one row per post, or one row
# with null post columns when there is none.
_POST_COLUMNS = (
    "id", "author_id", "caption", "media_ids", "like_count", "comment_count", "created_at",
    "edited_at", "deleted",
)  # fmt: skip
_WITH_GRID = (
    f"WITH profile AS MATERIALIZED ({_BY_USERNAME}) "  # noqa: S608  (constants)
    "SELECT profile.*, grid.* FROM profile LEFT JOIN LATERAL (SELECT "
    + ", ".join(f"r.{column} AS post_{column}" for column in _POST_COLUMNS)
    + ", EXISTS (SELECT 1 FROM post_likes l WHERE l.post_id = r.id AND l.user_id = $1) "
    "AS post_viewer_liked FROM post_rows r WHERE r.author_id = profile.id "
    "AND r.deleted_at IS NULL ORDER BY r.id DESC LIMIT $3) grid ON true"
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


class PostgresProfiles:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get_many(
        self, viewer_id: int | None, user_ids: Sequence[int]
    ) -> dict[int, tuple[Profile, Relationship]]:
        rows = await self._pool.fetch(_BY_IDS, viewer_id, list(user_ids))
        return {
            row["id"]: (profile_from(row), standing_from_row(row, row["id"], viewer_id, "rel_")[1])
            for row in rows
        }

    async def get_by_username(
        self, viewer_id: int | None, username: str
    ) -> tuple[Profile, Relationship] | None:
        row = await self._pool.fetchrow(_BY_USERNAME, viewer_id, username)
        if row is None:
            return None
        return profile_from(row), standing_from_row(row, row["id"], viewer_id, "rel_")[1]

    async def get_with_grid(
        self, viewer_id: int | None, username: str, size: int
    ) -> tuple[Profile, Relationship, PostGrid] | None:
        rows = await self._pool.fetch(_WITH_GRID, viewer_id, username, size + 1)
        if not rows:
            return None
        first = rows[0]
        posts = [row for row in rows if row["post_id"] is not None]
        page = Page.from_rows([((row["post_id"],), post_from(row, "post_")) for row in posts], size)
        liked = frozenset(row["post_id"] for row in posts if row["post_viewer_liked"])
        relation = standing_from_row(first, first["id"], viewer_id, "rel_")[1]
        return profile_from(first), relation, PostGrid(page, liked)
