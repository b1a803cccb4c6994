"""Rows written with SQL where a test needs many and no HTTP sign-up per row."""

from __future__ import annotations

import asyncpg


async def insert_users(pool: asyncpg.Pool, count: int) -> list[int]:
    """`count` new users (unique names and emails), their ids in ascending order."""
    rows = await pool.fetch(
        "INSERT INTO users (username, email) "
        "SELECT 'r' || g || '_' || left(md5(random()::text), 12), 'r' || g || md5(random()::text) "
        "|| '@example.com' FROM generate_series(1, $1) AS g RETURNING id",
        count,
    )
    return sorted(row["id"] for row in rows)


async def insert_posts(pool: asyncpg.Pool, author_id: int, count: int) -> list[int]:
    """`count` new text posts by `author_id`, their ids in ascending order."""
    rows = await pool.fetch(
        "INSERT INTO posts (author_id) SELECT $1 FROM generate_series(1, $2) RETURNING id",
        author_id,
        count,
    )
    return sorted(row["id"] for row in rows)


async def insert_follow(pool: asyncpg.Pool, follower_id: int, followee_id: int) -> None:
    """An accepted follow, written as the social graph writes one."""
    await pool.execute(
        "INSERT INTO follows (follower_id, followee_id, status, accepted_at) "
        "VALUES ($1, $2, 'accepted', now())",
        follower_id,
        followee_id,
    )
