"""Search: ranking, typos, visibility, literal metacharacters, bad input, and index use.

The ranking and index tests run the adapter on a database of their own, seeded with 20,000
filler users and hashtags (the session database and its other tests stay untouched); the
visibility and bad-input tests go through GraphQL on the shared live server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import psycopg
import pytest
from support.live_server import LiveServer
from support.services import ServiceUrls, create_database, drop_database
from support.social_helpers import Member, join

from fowergram.adapters.postgres import pool as pg_pool
from fowergram.adapters.postgres.migrations import Migrator
from fowergram.adapters.postgres.search import (
    SEARCH_HASHTAGS,
    SEARCH_USERS,
    PostgresSearch,
    like_prefix,
)
from fowergram.config import DEFAULT_MIGRATIONS_DIR
from fowergram.domain.errors import BadUserInput
from fowergram.domain.social.search import normalise_query, result_size

SEARCH = "query($q: String!, $n: Int) { searchUsers(query: $q, first: $n) { id username } }"
TAGS = "query($q: String!, $n: Int) { searchHashtags(query: $q, first: $n) { tag } }"
FILLERS = 20_000


def _stem() -> str:
    """A random word of letters only (hex digits mapped to letters), unique per test."""
    return "".join(chr(ord("g") + int(c, 16)) for c in uuid.uuid4().hex[:12])


# --- query rules (pure) ---


def test_queries_are_normalised() -> None:
    assert normalise_query("  @AnnaBel ", sigil="@") == "annabel"
    assert normalise_query("＃Ｓｕｎｓｅｔ", sigil="#") == "sunset"  # fullwidth, NFKC
    assert normalise_query("#tag", sigil="@") == "#tag"


@pytest.mark.parametrize("raw", ["", "   ", "@", "a" * 65, "ann\x00a", "x\x1b[31m", "a\u0085b"])
def test_bad_queries_are_refused(raw: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        normalise_query(raw, sigil="@")
    assert refused.value.field == "query"


def test_result_size() -> None:
    assert result_size(None) == 10
    assert result_size(50) == 50
    for bad in (0, -1, 51):
        with pytest.raises(BadUserInput) as refused:
            result_size(bad)
        assert refused.value.field == "first"


def test_like_prefix_takes_metacharacters_literally() -> None:
    assert like_prefix("a_b%c\\") == "a\\_b\\%c\\\\%"


# --- the adapter on a database of its own ---


@pytest.fixture(scope="module")
def search_database(service_urls: ServiceUrls) -> Iterator[str]:
    url = create_database(service_urls.database_server, prefix="fg_search")
    Migrator(url, DEFAULT_MIGRATIONS_DIR).up()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (username, email, full_name) "
            "SELECT 'filler_' || i, 'filler_' || i || '@example.com', 'Filler Person ' || i "
            "FROM generate_series(1, %s) AS i",
            (FILLERS,),
        )
        conn.execute(
            "INSERT INTO hashtags (tag) SELECT 'fillertag' || i FROM generate_series(1, %s) AS i",
            (FILLERS,),
        )
        conn.execute("VACUUM ANALYZE users")
        conn.execute("VACUUM ANALYZE hashtags")
    yield url
    drop_database(service_urls.database_server, url)


@pytest.fixture
async def db_pool(search_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await pg_pool.create_pool(search_database, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


def _users(url: str, *rows: tuple[str, str, int]) -> None:
    """(username, full_name, followers_count) rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        for username, full_name, followers in rows:
            conn.execute(
                "INSERT INTO users (username, email, full_name, followers_count) "
                "VALUES (%s, %s, %s, %s)",
                (username, f"{username}@example.com", full_name, followers),
            )


async def _found(pool: asyncpg.Pool, query: str, limit: int = 10) -> list[str]:
    return [p.username for p in await PostgresSearch(pool).search_users(query, limit)]


async def test_exact_then_prefix_then_similarity_then_followers(
    db_pool: asyncpg.Pool, search_database: str
) -> None:
    _users(
        search_database,
        ("marguerita", "", 1000),  # fuzzy, similarity 0.69, popular
        ("duras_a", "Marguerite Duras", 3),  # full name, 0.65
        ("duras_b", "Marguerite Duras", 7),  # the same similarity, more followers
        ("marguerite_and_friends", "", 0),  # prefix, similarity only 0.48
        ("marguerite_x", "", 0),  # prefix, 0.85
        ("Marguerite", "", 0),  # exact (case-insensitively)
    )
    assert await _found(db_pool, "marguerite") == [
        "Marguerite",
        "marguerite_x",
        "marguerite_and_friends",  # a prefix match beats a closer fuzzy one
        "marguerita",
        "duras_b",
        "duras_a",
    ]
    assert await _found(db_pool, "marguerite", limit=2) == ["Marguerite", "marguerite_x"]


async def test_typos_and_full_names_are_found(db_pool: asyncpg.Pool, search_database: str) -> None:
    _users(search_database, ("annabel", "", 0), ("eh_42", "Evangeline Holloway", 0))
    assert await _found(db_pool, "anabell") == ["annabel"]
    assert await _found(db_pool, "holloway") == ["eh_42"]
    assert await _found(db_pool, "evangeline holoway") == ["eh_42"]


async def test_deleted_accounts_are_not_found(db_pool: asyncpg.Pool, search_database: str) -> None:
    _users(search_database, ("vanished_zed", "Vanished Zed", 0))
    assert await _found(db_pool, "vanished_zed") == ["vanished_zed"]
    with psycopg.connect(search_database, autocommit=True) as conn:
        conn.execute("UPDATE users SET deleted_at = now() WHERE username = 'vanished_zed'")
    assert await _found(db_pool, "vanished_zed") == []


async def test_like_metacharacters_are_literal(db_pool: asyncpg.Pool) -> None:
    # Unescaped, each of these would prefix-match all 20,000 "filler_<n>" users (and none is
    # similar enough to "filler_<n>" to match it as a trigram).
    for query in ("%", "_", "f%", "fi%", "f_", "fi_", "_i", "%_%"):
        assert await _found(db_pool, query) == [], query
    assert len(await _found(db_pool, "filler_1", limit=50)) == 50  # '_' itself still matches
    assert await PostgresSearch(db_pool).search_hashtags("%", 10) == []


async def test_hashtags_exact_then_prefix_then_fuzzy(
    db_pool: asyncpg.Pool, search_database: str
) -> None:
    with psycopg.connect(search_database, autocommit=True) as conn:
        for tag in ("sunsetlover", "sunet", "beach", "sunsets", "SunSet"):
            conn.execute("INSERT INTO hashtags (tag) VALUES (%s)", (tag,))
    found = await PostgresSearch(db_pool).search_hashtags("sunset", 10)
    assert [h.tag for h in found] == ["SunSet", "sunsets", "sunsetlover", "sunet"]


async def _plan(conn: asyncpg.pool.PoolConnectionProxy, statement: str, query: str) -> str:
    rows = await conn.fetch(f"EXPLAIN {statement}", query, like_prefix(query), 10)
    return "\n".join(row[0] for row in rows)


async def test_searches_use_the_trigram_indexes(db_pool: asyncpg.Pool) -> None:
    # enable_seqscan stays on: the plan asserted is the one production gets. With 2,000 rows
    # the planner rightly prefers a seq scan (cost 84 against 184 for the bitmap scans); with
    # 20,000 it picks the indexes by itself. VACUUM in the fixture flushes the GIN pending
    # lists, as autovacuum would: right after a bulk insert (plain ANALYZE) they make the
    # indexes look several times dearer than they are.
    async with db_pool.acquire() as conn:
        users = await _plan(conn, SEARCH_USERS, "annabel")
        assert "users_username_trgm_idx" in users, users
        assert "users_full_name_trgm_idx" in users, users
        # The prefix arm uses the btree range or the trigram index, as the planner's cost
        # estimates (which vary between runs) decide; either way, no scan of the table.
        assert "Seq Scan" not in users, users

        tags = await _plan(conn, SEARCH_HASHTAGS, "sunset")
        assert "hashtags_tag_trgm_idx" in tags, tags
        assert "Seq Scan" not in tags, tags

        # asyncpg re-uses prepared statements, so PostgreSQL may switch to a generic plan
        # (no parameter values): the LIKE arm then runs on the trigram index instead.
        async with conn.transaction():
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE generic_users(text, text, bigint) AS {SEARCH_USERS}")
            rows = await conn.fetch("EXPLAIN EXECUTE generic_users('annabel', 'annabel%', 10)")
            await conn.execute("DEALLOCATE generic_users")
        generic = "\n".join(row[0] for row in rows)
        assert "users_username_trgm_idx" in generic, generic
        assert "users_full_name_trgm_idx" in generic, generic
        assert "Seq Scan" not in generic, generic


# --- GraphQL on the shared server ---


@pytest.fixture
def people(live_server: LiveServer) -> Iterator[list[Member]]:
    members = [join(live_server.http_url) for _ in range(6)]
    yield members
    for member in members:
        member.client.close()


def _name(database_url: str, member: Member, full_name: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET full_name = %s WHERE id = %s", (full_name, member.id))


def test_blocked_and_deleted_people_are_not_found_private_ones_are(
    people: list[Member], migrated_database: str
) -> None:
    viewer, blocker, blocked, deleted, private, plain = people
    stem = _stem()
    for member in (blocker, blocked, deleted, private, plain):
        _name(migrated_database, member, f"{stem} {member.username[-4:]}")
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES (%s, %s), (%s, %s)",
            (blocker.id, viewer.id, viewer.id, blocked.id),
        )
        conn.execute("UPDATE users SET deleted_at = now() WHERE id = %s", (deleted.id,))
        conn.execute("UPDATE users SET is_private = true WHERE id = %s", (private.id,))

    found = viewer.data(SEARCH, {"q": stem})["searchUsers"]
    assert {int(user["id"]) for user in found} == {private.id, plain.id}
    anonymous = plain.client.post("/graphql", json={"query": SEARCH, "variables": {"q": stem}})
    assert {int(u["id"]) for u in anonymous.json()["data"]["searchUsers"]} == {
        blocker.id,
        blocked.id,
        private.id,
        plain.id,
    }


def test_an_exact_username_comes_first(people: list[Member]) -> None:
    target = people[1]
    found = people[0].data(SEARCH, {"q": f"@{target.username.upper()}", "n": 1})
    assert found["searchUsers"] == [{"id": str(target.id), "username": target.username}]


def test_hashtags_over_graphql(people: list[Member], migrated_database: str) -> None:
    stem = _stem()
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute("INSERT INTO hashtags (tag) VALUES (%s), (%s)", (stem, f"{stem}Life"))
    found = people[0].data(TAGS, {"q": f"#{stem.upper()}"})["searchHashtags"]
    assert found == [{"tag": stem}, {"tag": f"{stem}Life"}]


@pytest.mark.parametrize("document", [SEARCH, TAGS])
@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"q": ""}, "query"),
        ({"q": "  "}, "query"),
        ({"q": "x" * 65}, "query"),
        ({"q": "robert\u0000"}, "query"),
        ({"q": "\x1b[2J"}, "query"),
        ({"q": "anna", "n": 0}, "first"),
        ({"q": "anna", "n": 51}, "first"),
        ({"q": "anna", "n": 10**6}, "first"),
    ],
)
def test_bad_input_is_refused(
    people: list[Member], document: str, variables: dict[str, object], field: str
) -> None:
    error = people[0].error(document, variables)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error


@pytest.mark.parametrize(
    "query",
    [
        "'; DROP TABLE users; --",
        "' OR '1'='1",
        "annabel\\",
        "\\%",
        "%' OR 1=1 --",
        "$1",
        "💐🌸",
        "Ω≈ç√∫",
        "e\u0301",
    ],
)
def test_odd_queries_are_safe(people: list[Member], query: str) -> None:
    for document in (SEARCH, TAGS):
        body = people[0].query(document, {"q": query})
        assert "errors" not in body, body
        assert isinstance(next(iter(body["data"].values())), list)
