"""A post as the `post_rows` view holds it, read from a row, alone or beside others."""

from __future__ import annotations

import asyncpg

from fowergram.domain.social.posts import Post

POST_COLUMNS = (
    "id", "author_id", "caption", "media_ids", "like_count", "comment_count", "created_at",
    "edited_at", "deleted",
)  # fmt: skip


def prefixed_post_columns(table: str, prefix: str) -> str:
    """The select-list of `table`'s post columns, each named `prefix` + column (beside
    another row's columns of the same names)."""
    return ", ".join(f"{table}.{column} AS {prefix}{column}" for column in POST_COLUMNS)


def post_from(row: asyncpg.Record, prefix: str = "") -> Post:
    """The post a row of `post_rows` holds (its columns named `prefix` + column)."""
    return Post(
        id=row[prefix + "id"],
        author_id=row[prefix + "author_id"],
        caption=row[prefix + "caption"],
        media_ids=tuple(row[prefix + "media_ids"]),
        like_count=row[prefix + "like_count"],
        comment_count=row[prefix + "comment_count"],
        created_at=row[prefix + "created_at"],
        edited_at=row[prefix + "edited_at"],
        deleted=row[prefix + "deleted"],
    )
