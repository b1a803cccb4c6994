"""Profiles, read in batches (the DataLoader's one round trip) or by username."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.post_rows import post_from, prefixed_post_columns
from fowergram.adapters.postgres.profile_rows import PROFILE_COLUMNS, profile_from
from fowergram.adapters.postgres.relationships import standing_columns, standing_from_row
from fowergram.domain.pagination import Page
from fowergram.domain.social.posts import PostGrid
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import Relationship

# $1: the viewer, $2: the ids. The profiles and the viewer's relationship to each.
_BY_IDS = (
    f"SELECT {PROFILE_COLUMNS}, {standing_columns('rel_')} "  # noqa: S608  (constants)
    "FROM users u WHERE id = ANY($2::bigint[])"
)
# $1: the viewer, $2: the username. The profile and the viewer's relationship to it.
_BY_USERNAME = (
    f"SELECT {PROFILE_COLUMNS}, {standing_columns('rel_')} "  # noqa: S608  (constants)
    "FROM users u WHERE lower(username) = lower($2) AND deleted_at IS NULL"
)

# $3: the page size + 1. The same, then the grid's first page (PostgresPosts.by_author's,
# its columns named post_*, with the viewer's likes): one row per post, or one row with
# null post columns when there is none.
_WITH_GRID = (
    f"WITH profile AS MATERIALIZED ({_BY_USERNAME}) "  # noqa: S608  (constants)
    f"SELECT profile.*, grid.* FROM profile LEFT JOIN LATERAL (SELECT "
    f"{prefixed_post_columns('r', 'post_')}, EXISTS (SELECT 1 FROM post_likes l "
    "WHERE l.post_id = r.id AND l.user_id = $1) AS post_viewer_liked FROM post_rows r "
    "WHERE r.author_id = profile.id AND r.deleted_at IS NULL ORDER BY r.id DESC LIMIT $3) "
    "grid ON true ORDER BY grid.post_id DESC"
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
