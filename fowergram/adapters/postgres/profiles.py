"""Profiles, read in batches (the DataLoader's one round trip) or by username."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.batch_faults import one_statement_per_turn
from fowergram.adapters.postgres.batch_rows import rows_per_ask
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

# $1, $2, $3: for each ask, the viewer, the username and the page size + 1. The profile
# and the viewer's relationship to it, then the grid's first page (PostgresPosts.
# by_author's, its columns named post_*, with the viewer's likes): one row per post, or
# one row with null post columns when there is none, each with its ask's ordinal `ord`.
# LATERAL keeps the username look-up an index probe per ask, whatever the estimate.
_WITH_GRIDS = (
    "WITH q AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[]) "  # noqa: S608
    "WITH ORDINALITY AS q (viewer_id, username, size, ord)), profile AS MATERIALIZED ("
    f"SELECT q.ord, q.viewer_id AS ask_viewer, q.size AS ask_size, {PROFILE_COLUMNS}, "
    f"{standing_columns('rel_', viewer='q.viewer_id')} FROM q CROSS JOIN LATERAL ("
    "SELECT * FROM users WHERE lower(username) = lower(q.username) AND deleted_at IS NULL) u) "
    "SELECT profile.*, grid.* FROM profile LEFT JOIN LATERAL (SELECT "
    f"{prefixed_post_columns('r', 'post_')}, EXISTS (SELECT 1 FROM post_likes l "
    "WHERE l.post_id = r.id AND l.user_id = profile.ask_viewer) AS post_viewer_liked "
    "FROM post_rows r WHERE r.author_id = profile.id AND r.deleted_at IS NULL "
    "ORDER BY r.id DESC LIMIT profile.ask_size) grid ON true "
    "ORDER BY profile.ord, grid.post_id DESC"
)

_ProfileAndGrid = tuple[Profile, Relationship, PostGrid]


class PostgresProfiles:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # Every profile page starts here: the pages asked in one turn of the event loop
        # are read in one statement.
        self._with_grids = one_statement_per_turn(self._read_with_grids)

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
    ) -> _ProfileAndGrid | None:
        return await self._with_grids((viewer_id, username, size))

    async def _read_with_grids(
        self, asked: list[tuple[int | None, str, int]]
    ) -> list[_ProfileAndGrid | None]:
        rows = await self._pool.fetch(
            _WITH_GRIDS,
            [viewer_id for viewer_id, _, _ in asked],
            [username for _, username, _ in asked],
            [size + 1 for _, _, size in asked],
        )
        return [
            _with_grid(ask_rows, viewer_id, size)
            for ask_rows, (viewer_id, _, size) in zip(
                rows_per_ask(rows, len(asked)), asked, strict=True
            )
        ]


def _with_grid(
    rows: list[asyncpg.Record], viewer_id: int | None, size: int
) -> _ProfileAndGrid | None:
    if not rows:
        return None
    first = rows[0]
    posts = [row for row in rows if row["post_id"] is not None]
    page = Page.from_rows([((row["post_id"],), post_from(row, "post_")) for row in posts], size)
    liked = frozenset(row["post_id"] for row in posts if row["post_viewer_liked"])
    relation = standing_from_row(first, first["id"], viewer_id, "rel_")[1]
    return profile_from(first), relation, PostGrid(page, liked)
