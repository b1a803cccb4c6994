"""Posts and everything written with them, each write one transaction with its event."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TypeVar

import asyncpg

from fowergram.adapters.postgres.batch_faults import one_statement_per_turn
from fowergram.adapters.postgres.batch_rows import row_per_ask
from fowergram.adapters.postgres.outbox import Conn, record_events
from fowergram.adapters.postgres.post_rows import post_from, prefixed_post_columns
from fowergram.adapters.postgres.profile_rows import PROFILE_COLUMNS, profile_from
from fowergram.adapters.postgres.relationships import (
    standing_columns,
    standing_from_row,
    visibility_columns,
    visibility_from_row,
)
from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page
from fowergram.domain.social.captions import CaptionFacts
from fowergram.domain.social.posts import AuthoredPost, NewPost, Post, PostGrid, PostStanding
from fowergram.domain.social.relationship import Owner, Relationship

T = TypeVar("T")

_BY_IDS = "SELECT * FROM post_rows WHERE id = ANY($1::bigint[])"
# $1: the viewer, $2: the posts. Each post with its author's standing for the viewer,
# read once per author however many of the posts are theirs.
_BY_IDS_WITH_AUTHORS = (
    "WITH p AS (SELECT * FROM post_rows WHERE id = ANY($2::bigint[])), "  # noqa: S608
    "authors AS MATERIALIZED ("
    f"SELECT u.id AS author_key, {standing_columns('author_')} FROM users u "
    "WHERE u.id IN (SELECT author_id FROM p)) "
    "SELECT authors.*, p.* FROM p JOIN authors ON authors.author_key = p.author_id"
)
# What acting on a post needs: its author, count and deletion, and of the author's
# standing what content visibility reads (not all of standing_columns). $1 the viewers,
# $2 the posts, pairwise (a NULL viewer: nobody signed in); a row for each pair whose
# post is there, named by its ordinal.
_STANDINGS = (
    "SELECT q.ord, p.id, p.author_id, p.like_count, "  # noqa: S608  (constants)
    "p.deleted_at IS NOT NULL AS deleted, "
    f"{visibility_columns('author_', viewer='q.viewer_id')} "
    "FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS q (viewer_id, post_id, ord) "
    "JOIN posts p ON p.id = q.post_id JOIN users u ON u.id = p.author_id"
)
# $1 the viewers, $2 the posts, pairwise: the post (columns post_*), its author's
# profile, the viewer's relationship to them (rel_*) and the viewer's like; a row for
# each pair whose post is there, named by its ordinal.
_AUTHORED = (
    f"SELECT q.ord, {prefixed_post_columns('p', 'post_')}, {PROFILE_COLUMNS}, "  # noqa: S608
    f"{standing_columns('rel_', viewer='q.viewer_id')}, EXISTS (SELECT 1 FROM post_likes l "
    "WHERE l.post_id = p.id AND l.user_id = q.viewer_id) AS viewer_liked "
    "FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS q (viewer_id, post_id, ord) "
    "JOIN post_rows p ON p.id = q.post_id JOIN users u ON u.id = p.author_id"
)
# $1: the viewer, $2: the author. The author's standing for the viewer (read once, on
# every row) and a page of their posts with whether the viewer liked each (none: one row,
# its post columns NULL; no such user: no row).
_BY_AUTHOR = (
    "WITH author AS MATERIALIZED ("  # noqa: S608  (constants)
    f"SELECT u.id AS author_key, {standing_columns('author_')} FROM users u WHERE u.id = $2) "
    "SELECT author.*, p.* FROM author LEFT JOIN LATERAL (SELECT r.*, EXISTS (SELECT 1 "
    "FROM post_likes l WHERE l.post_id = r.id AND l.user_id = $1) AS viewer_liked "
    "FROM post_rows r WHERE r.author_id = author.author_key AND r.deleted_at IS NULL "
    "AND ($3::bigint IS NULL OR r.id < $3) ORDER BY r.id DESC LIMIT $4) p ON true "
    "ORDER BY p.id DESC"
)
_BY_HASHTAG = (
    "SELECT p.* FROM post_hashtags ph JOIN hashtags h ON h.id = ph.hashtag_id "
    "JOIN post_rows p ON p.id = ph.post_id WHERE lower(h.tag) = lower($1) "
    "AND p.deleted_at IS NULL AND ($2::bigint IS NULL OR ph.post_id < $2) "
    "ORDER BY ph.post_id DESC LIMIT $3"
)
_SAVED = (
    "SELECT p.*, (extract(epoch FROM s.created_at) * 1000000)::bigint AS saved_us "
    "FROM saved_posts s JOIN post_rows p ON p.id = s.post_id "
    "WHERE s.user_id = $1 AND p.deleted_at IS NULL AND ($2::bigint IS NULL "
    "OR (s.created_at, s.post_id) < (to_timestamp($2 / 1000000.0), $3)) "
    "ORDER BY s.created_at DESC, s.post_id DESC LIMIT $4"
)
_INSERT_KEY = "INSERT INTO post_idempotency_keys (author_id, key, post_id) VALUES ($1, $2, $3)"
_USABLE_MEDIA = (
    "SELECT id FROM media WHERE id = ANY($1::bigint[]) AND owner_id = $2 AND status = 'ready'"
)


async def _write_facts(conn: Conn, post_id: int, facts: CaptionFacts) -> None:
    """Hashtags and mentions of a caption (replacing earlier ones on edit)."""
    await conn.execute("DELETE FROM post_hashtags WHERE post_id = $1", post_id)
    await conn.execute("DELETE FROM post_mentions WHERE post_id = $1", post_id)
    if facts.hashtags:
        # Upsert keeps the first spelling as the display form.
        await conn.execute(
            "INSERT INTO hashtags (tag) SELECT t FROM unnest($1::text[]) AS t "
            "ON CONFLICT (lower(tag)) DO NOTHING",
            list(facts.hashtags),
        )
        await conn.execute(
            "INSERT INTO post_hashtags (post_id, hashtag_id) "
            "SELECT $1, id FROM hashtags WHERE lower(tag) = ANY($2::text[]) "
            "ON CONFLICT DO NOTHING",
            post_id,
            [tag.lower() for tag in facts.hashtags],
        )
    if facts.mentions:
        await conn.execute(
            "INSERT INTO post_mentions (post_id, user_id) SELECT $1, id FROM users "
            "WHERE lower(username) = ANY($2::text[]) AND deleted_at IS NULL ON CONFLICT DO NOTHING",
            post_id,
            list(facts.mentions),
        )


class PostgresPosts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # Every write on a post reads its standing first: the writes of one turn of the
        # event loop (likes arriving together) read theirs in one statement.
        self._standings = one_statement_per_turn(partial(self._read_pairs, _STANDINGS, _standing))
        # A post page starts with its post, author and the viewer's like: the pages of
        # one turn read theirs in one statement too.
        self._authored = one_statement_per_turn(partial(self._read_pairs, _AUTHORED, _authored))

    async def create(
        self, post: NewPost, *, event: DomainEvent, idempotency_window_s: int
    ) -> tuple[Post, bool]:
        async with self._pool.acquire() as conn, conn.transaction():
            if post.idempotency_key is not None:
                earlier = await self._earlier(conn, post, idempotency_window_s)
                if earlier is not None:
                    return earlier, False
            post_id: int = await conn.fetchval(
                "INSERT INTO posts (author_id, caption) VALUES ($1, $2) RETURNING id",
                post.author_id,
                post.facts.text,
            )
            if post.media_ids:
                await conn.executemany(
                    "INSERT INTO post_media (post_id, media_id, position) VALUES ($1, $2, $3)",
                    [(post_id, media_id, i) for i, media_id in enumerate(post.media_ids)],
                )
            await _write_facts(conn, post_id, post.facts)
            await conn.execute(
                "UPDATE users SET posts_count = posts_count + 1 WHERE id = $1", post.author_id
            )
            if post.idempotency_key is not None:
                await conn.execute(
                    _INSERT_KEY,
                    post.author_id,
                    post.idempotency_key,
                    post_id,
                )
            await record_events(conn, [replace(event, aggregate_id=post_id)])
            row = await conn.fetchrow(_BY_IDS, [post_id])
        assert row is not None
        return post_from(row), True

    async def _earlier(self, conn: Conn, post: NewPost, window_s: int) -> Post | None:
        # The lock makes a concurrent retry with the same key wait for our commit.
        await conn.execute(
            "DELETE FROM post_idempotency_keys WHERE author_id = $1 AND key = $2 "
            "AND created_at < now() - make_interval(secs => $3)",
            post.author_id,
            post.idempotency_key,
            float(window_s),
        )
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))",
            str(post.author_id),
            post.idempotency_key,
        )
        post_id = await conn.fetchval(
            "SELECT post_id FROM post_idempotency_keys WHERE author_id = $1 AND key = $2",
            post.author_id,
            post.idempotency_key,
        )
        if post_id is None:
            return None
        row = await conn.fetchrow(_BY_IDS, [post_id])
        return post_from(row) if row else None

    async def usable_media(self, author_id: int, media_ids: Sequence[int]) -> set[int]:
        rows = await self._pool.fetch(
            _USABLE_MEDIA,
            list(media_ids),
            author_id,
        )
        return {row["id"] for row in rows}

    async def edit(self, post_id: int, facts: CaptionFacts, *, event: DomainEvent) -> Post | None:
        async with self._pool.acquire() as conn, conn.transaction():
            previous = await conn.fetchval(
                "SELECT caption FROM posts WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
                post_id,
            )
            if previous is None:
                return None
            if previous != facts.text:
                await conn.execute(
                    "INSERT INTO post_edits (post_id, previous_caption) VALUES ($1, $2)",
                    post_id,
                    previous,
                )
                await conn.execute(
                    "UPDATE posts SET caption = $2, edited_at = now() WHERE id = $1",
                    post_id,
                    facts.text,
                )
                await _write_facts(conn, post_id, facts)
                await record_events(conn, [event])
            row = await conn.fetchrow(_BY_IDS, [post_id])
        return post_from(row) if row else None

    async def delete(self, post_id: int, *, event: DomainEvent) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            author_id = await conn.fetchval(
                "UPDATE posts SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL "
                "RETURNING author_id",
                post_id,
            )
            if author_id is None:
                return False
            await conn.execute(
                "UPDATE users SET posts_count = posts_count - 1 WHERE id = $1", author_id
            )
            await record_events(conn, [event])
        return True

    async def get_many_with_authors(
        self, viewer_id: int | None, post_ids: Sequence[int]
    ) -> tuple[dict[int, Post], dict[int, tuple[Owner, Relationship]]]:
        rows = await self._pool.fetch(_BY_IDS_WITH_AUTHORS, viewer_id, list(post_ids))
        posts = {row["id"]: post_from(row) for row in rows}
        authors = {
            row["author_id"]: standing_from_row(row, row["author_id"], viewer_id, "author_")
            for row in rows
        }
        return posts, authors

    async def standing(self, viewer_id: int | None, post_id: int) -> PostStanding | None:
        return await self._standings((viewer_id, post_id))

    async def get_authored(self, viewer_id: int | None, post_id: int) -> AuthoredPost | None:
        return await self._authored((viewer_id, post_id))

    async def _read_pairs(
        self,
        query: str,
        answer: Callable[[asyncpg.Record | None, int | None], T],
        asked: list[tuple[int | None, int]],
    ) -> list[T]:
        """`query` for (viewer, post) pairs, each pair's row turned into its answer."""
        rows = await self._pool.fetch(
            query, [viewer for viewer, _ in asked], [post for _, post in asked]
        )
        return [
            answer(row, viewer_id)
            for row, (viewer_id, _) in zip(row_per_ask(rows, len(asked)), asked, strict=True)
        ]

    async def by_author(
        self, viewer_id: int | None, author_id: int, after: Key | None, size: int
    ) -> tuple[tuple[Owner, Relationship] | None, PostGrid]:
        rows = await self._pool.fetch(
            _BY_AUTHOR, viewer_id, author_id, after[0] if after else None, size + 1
        )
        if not rows:
            return None, PostGrid(Page.from_rows([], size))
        author = standing_from_row(rows[0], author_id, viewer_id, "author_")
        found = [row for row in rows if row["id"] is not None]
        page = Page.from_rows([((row["id"],), post_from(row)) for row in found], size)
        liked = frozenset(row["id"] for row in found if row["viewer_liked"])
        return author, PostGrid(page, liked)

    async def by_hashtag(self, tag: str, after: Key | None, size: int) -> Page[Post]:
        rows = await self._pool.fetch(_BY_HASHTAG, tag, after[0] if after else None, size + 1)
        return Page.from_rows([((row["id"],), post_from(row)) for row in rows], size)

    async def saved_by(self, user_id: int, after: Key | None, size: int) -> Page[Post]:
        saved_us, post_id = after if after else (None, None)
        rows = await self._pool.fetch(_SAVED, user_id, saved_us, post_id, size + 1)
        keyed = [((row["saved_us"], row["id"]), post_from(row)) for row in rows]
        return Page.from_rows(keyed, size)

    async def save(self, user_id: int, post_id: int) -> None:
        await self._pool.execute(
            "INSERT INTO saved_posts (user_id, post_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            user_id,
            post_id,
        )

    async def unsave(self, user_id: int, post_id: int) -> None:
        await self._pool.execute(
            "DELETE FROM saved_posts WHERE user_id = $1 AND post_id = $2", user_id, post_id
        )


def _authored(row: asyncpg.Record | None, viewer_id: int | None) -> AuthoredPost | None:
    if row is None:
        return None
    relation = standing_from_row(row, row["id"], viewer_id, "rel_")[1]
    return AuthoredPost(post_from(row, "post_"), profile_from(row), relation, row["viewer_liked"])


def _standing(row: asyncpg.Record | None, viewer_id: int | None) -> PostStanding | None:
    if row is None:
        return None
    author_id = row["author_id"]
    owner, relation = visibility_from_row(row, author_id, viewer_id, "author_")
    return PostStanding(
        post_id=row["id"],
        author_id=author_id,
        like_count=row["like_count"],
        deleted=row["deleted"],
        owner=owner,
        relationship=relation,
    )
