"""Relationship and owner reads, batched: one round trip for any number of people."""

from __future__ import annotations

import re
from collections.abc import Sequence

import asyncpg

from fowergram.domain.social.relationship import NONE, Owner, Relationship

# The standing of the user row `u` for the viewer ($1): privacy, deletion and every
# relationship direction; "@" before each column name is a prefix that sets them apart
# in a query that reads other rows too (see standing_columns). What content visibility
# reads comes first: a read that decides only that takes those (visibility_columns).
_VISIBILITY_COLUMNS = """
       u.is_private AS @is_private, u.deleted_at IS NOT NULL AS @deleted,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = u.id
               AND f.status = 'accepted') AS @following,
       EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 AND b.blocked_id = u.id)
           AS @blocking,
       EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $1)
           AS @blocked_by"""
_STANDING_COLUMNS = (
    _VISIBILITY_COLUMNS  # noqa: S608  (constants)
    + """,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = u.id AND f.followee_id = $1
               AND f.status = 'accepted') AS @followed_by,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = u.id
               AND f.status = 'pending') AS @requested,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = u.id AND f.followee_id = $1
               AND f.status = 'pending') AS @requested_by,
       EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = $1 AND m.muted_id = u.id) AS @muting
"""
)


_VIEWER_EXPRESSION = re.compile(r"^(\$1|[a-z_]+\.[a-z_]+)$")


def _prefixed(columns: str, prefix: str, viewer: str = "$1") -> str:
    if prefix and not prefix.replace("_", "").isalnum():
        raise ValueError(f"not a column prefix: {prefix!r}")
    if not _VIEWER_EXPRESSION.fullmatch(viewer):
        raise ValueError(f"not a viewer column: {viewer!r}")
    return columns.replace("@", prefix).replace("$1", viewer)


def standing_columns(prefix: str = "", *, viewer: str = "$1") -> str:
    """The select-list of the standing of the user row aliased `u`, for the viewer $1 (or
    the column `viewer`, e.g. `q.recipient_id`: a viewer per row); its columns named
    `prefix` + is_private, deleted, following, ..."""
    return _prefixed(_STANDING_COLUMNS, prefix, viewer)


def visibility_columns(prefix: str = "", *, viewer: str = "$1") -> str:
    """The part of `standing_columns` that content visibility reads (is_private, deleted,
    following, blocking, blocked_by), for the viewer $1 or the column `viewer`."""
    return _prefixed(_VISIBILITY_COLUMNS, prefix, viewer)


# The Relationship fields each column set holds (named as its columns, after the prefix).
_VISIBILITY_FIELDS = ("following", "blocking", "blocked_by")
_STANDING_FIELDS = (*_VISIBILITY_FIELDS, "followed_by", "requested", "requested_by", "muting")


def _from_row(
    row: asyncpg.Record, user_id: int, viewer_id: int | None, prefix: str, fields: Sequence[str]
) -> tuple[Owner, Relationship]:
    owner = Owner(user_id, row[f"{prefix}is_private"], row[f"{prefix}deleted"])
    if viewer_id is None or viewer_id == user_id:
        return owner, NONE
    return owner, Relationship(**{name: row[prefix + name] for name in fields})


def visibility_from_row(
    row: asyncpg.Record, user_id: int, viewer_id: int | None, prefix: str = ""
) -> tuple[Owner, Relationship]:
    """What `visibility_columns(prefix)` read: the relationship holds only those parts."""
    return _from_row(row, user_id, viewer_id, prefix, _VISIBILITY_FIELDS)


def standing_from_row(
    row: asyncpg.Record, user_id: int, viewer_id: int | None, prefix: str = ""
) -> tuple[Owner, Relationship]:
    """What `standing_columns(prefix)` read, for the user `user_id`."""
    return _from_row(row, user_id, viewer_id, prefix, _STANDING_FIELDS)


# Owners and the viewer's relationship to them together: one round trip per decision
# (`between` keeps the relationship only). With no viewer ($1 NULL) every comparison is
# NULL, so every EXISTS is false.
_STANDING = (
    f"SELECT u.id, {standing_columns()} FROM users u "  # noqa: S608  (constants)
    "WHERE u.id = ANY($2::bigint[])"
)


class PostgresRelationships:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def between(self, viewer_id: int, others: Sequence[int]) -> dict[int, Relationship]:
        ids = sorted({other for other in others if other != viewer_id})
        if not ids:
            return {}
        rows = await self._pool.fetch(_STANDING, viewer_id, ids)
        return {row["id"]: standing_from_row(row, row["id"], viewer_id)[1] for row in rows}

    async def standing(
        self, viewer_id: int | None, user_ids: Sequence[int]
    ) -> dict[int, tuple[Owner, Relationship]]:
        if not user_ids:
            return {}
        rows = await self._pool.fetch(_STANDING, viewer_id, list(set(user_ids)))
        return {row["id"]: standing_from_row(row, row["id"], viewer_id) for row in rows}
