"""A post as the `post_rows` view holds it, read from a row, alone or beside others."""

from __future__ import annotations

import functools

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
    id_, author_id, caption, media_ids, like_count, comment_count, created, edited, deleted = (
        _names(prefix)
    )
    # Positional, in Post's field order (POST_COLUMNS'): a grid page builds 12 per request.
    return Post(
        row[id_], row[author_id], row[caption], tuple(row[media_ids]), row[like_count],
        row[comment_count], row[created], row[edited], row[deleted],
    )  # fmt: skip


@functools.cache  # a few prefixes in use: their names made once, not per row
def _names(prefix: str) -> tuple[str, ...]:
    return tuple(prefix + column for column in POST_COLUMNS)
