"""People and hashtag search: one statement each, ranked in SQL.

Candidates are prefix matches (`LIKE 'q%'`, served by the text_pattern_ops btree on
lower(username)) or trigram matches (`%`, pg_trgm's similarity above its default 0.3
threshold, served by the partial GIN indexes, hence `deleted_at IS NULL`). Ranking: the
exact name, then prefix matches, then the best similarity, then popularity, then id.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fowergram.adapters.postgres.profile_rows import profile_from
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.search import Hashtag

# $1: the normalised query; $2: the LIKE prefix pattern (see like_prefix); $3: the limit.
SEARCH_USERS = """
SELECT id, username, full_name, bio, website, avatar_media_id, is_private,
       followers_count, following_count, posts_count, created_at, false AS deleted
FROM users
WHERE (lower(username) LIKE $2 OR lower(username) % $1 OR lower(full_name) % $1)
  AND deleted_at IS NULL
ORDER BY lower(username) = $1 DESC,
         lower(username) LIKE $2 DESC,
         greatest(similarity(lower(username), $1), similarity(lower(full_name), $1)) DESC,
         followers_count DESC,
         id
LIMIT $3
"""

# No post count: hashtags carry no counter, and counting a popular tag's posts per search
# would cost as much as the tag is popular. Ties go to the shorter tag ("love" before
# "lovely").
SEARCH_HASHTAGS = """
SELECT id, tag
FROM hashtags
WHERE lower(tag) LIKE $2 OR lower(tag) % $1
ORDER BY lower(tag) = $1 DESC,
         lower(tag) LIKE $2 DESC,
         similarity(lower(tag), $1) DESC,
         char_length(tag),
         id
LIMIT $3
"""


def like_prefix(query: str) -> str:
    """A LIKE pattern matching what starts with `query`, its metacharacters taken literally
    (backslash is LIKE's default escape character)."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class PostgresSearch:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def search_users(self, query: str, limit: int) -> Sequence[Profile]:
        rows = await self._pool.fetch(SEARCH_USERS, query, like_prefix(query), limit)
        return [profile_from(row) for row in rows]

    async def search_hashtags(self, query: str, limit: int) -> Sequence[Hashtag]:
        rows = await self._pool.fetch(SEARCH_HASHTAGS, query, like_prefix(query), limit)
        return [Hashtag(id=row["id"], tag=row["tag"]) for row in rows]
