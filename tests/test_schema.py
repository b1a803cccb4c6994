"""The core schema enforces its own rules, whatever the application does."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors


@pytest.fixture
def conn(migrated_database: str) -> Iterator[psycopg.Connection]:
    # Each test runs in a transaction that is rolled back: the session database stays clean.
    with psycopg.connect(migrated_database) as connection:
        yield connection
        connection.rollback()


def _user(conn: psycopg.Connection, username: str, email: str | None = None) -> int:
    row = conn.execute(
        "INSERT INTO users (username, email) VALUES (%s, %s) RETURNING id",
        (username, email or f"{username.lower()}@example.com"),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_usernames_are_unique_case_insensitively(conn: psycopg.Connection) -> None:
    _user(conn, "Ana.Silva", "ana@example.com")
    with pytest.raises(errors.UniqueViolation):
        _user(conn, "ana.silva", "other@example.com")


def test_emails_are_unique_case_insensitively(conn: psycopg.Connection) -> None:
    _user(conn, "first", "Ana@Example.com")
    with pytest.raises(errors.UniqueViolation):
        _user(conn, "second", "ana@example.COM")


@pytest.mark.parametrize(
    "username",
    ["", "has space", "x" * 31, "semi;colon", "robert'); DROP TABLE users;--", "émile", "a\u200bb"],
)
def test_usernames_outside_the_safe_set_are_rejected(
    conn: psycopg.Connection, username: str
) -> None:
    with pytest.raises(errors.CheckViolation):
        _user(conn, username, "x@example.com")


def test_caption_is_limited_to_2200_characters(conn: psycopg.Connection) -> None:
    author = _user(conn, "author")
    conn.execute("INSERT INTO posts (author_id, caption) VALUES (%s, %s)", (author, "é" * 2200))
    with pytest.raises(errors.CheckViolation):
        conn.execute("INSERT INTO posts (author_id, caption) VALUES (%s, %s)", (author, "x" * 2201))


def test_nobody_follows_or_blocks_themselves(conn: psycopg.Connection) -> None:
    me = _user(conn, "me")
    with pytest.raises(errors.CheckViolation):
        conn.execute(
            "INSERT INTO follows (follower_id, followee_id, status) VALUES (%s, %s, 'accepted')",
            (me, me),
        )


def test_like_is_one_row_per_user_and_post(conn: psycopg.Connection) -> None:
    author = _user(conn, "poster")
    row = conn.execute("INSERT INTO posts (author_id) VALUES (%s) RETURNING id", (author,))
    post = (row.fetchone() or (0,))[0]
    conn.execute("INSERT INTO post_likes (post_id, user_id) VALUES (%s, %s)", (post, author))
    with pytest.raises(errors.UniqueViolation):
        conn.execute("INSERT INTO post_likes (post_id, user_id) VALUES (%s, %s)", (post, author))


def test_a_like_updates_its_post_in_place_without_touching_an_index(
    conn: psycopg.Connection,
) -> None:
    """Counter tables leave room in their pages (migration 0020), so a like's counter
    update is heap-only even when the posts were loaded in bulk (a full page has no room
    for the new row version: it goes elsewhere, with an entry in every index)."""
    author = _user(conn, "bulk")
    conn.execute(
        "INSERT INTO posts (author_id, caption) SELECT %s, repeat('x', 200) "
        "FROM generate_series(1, 400)",
        (author,),
    )
    fill = conn.execute(
        "SELECT reloptions FROM pg_class WHERE relname = ANY(%s) ORDER BY relname",
        (["comments", "posts", "users"],),
    ).fetchall()
    assert fill == [(["fillfactor=85"],)] * 3
    conn.execute(  # every 40th post: one per page
        "UPDATE posts SET like_count = like_count + 1 WHERE author_id = %s AND id %% 40 = 0",
        (author,),
    )
    conn.execute("SELECT pg_stat_force_next_flush()")
    updated, hot = conn.execute(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'posts'"
    ).fetchone() or (0, 0)
    assert updated == 10
    assert hot == updated


def test_outbox_insert_notifies_a_sleeping_relay_on_commit(migrated_database: str) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as listener:
        listener.execute("LISTEN fg_outbox")
        # As a relay about to sleep does (migration 0019): without it writers stay silent.
        listener.execute("INSERT INTO outbox_sleepers (pid) VALUES (pg_backend_pid())")
        with psycopg.connect(migrated_database) as writer:
            writer.execute(
                "INSERT INTO outbox (kind, payload) VALUES ('post.liked', '{}'), "
                "('post.liked', '{}')"
            )
            writer.commit()
        notices = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in notices] == ["fg_outbox"]
        with psycopg.connect(migrated_database, autocommit=True) as cleanup:
            cleanup.execute("DELETE FROM outbox")
            cleanup.execute("DELETE FROM outbox_sleepers")


def test_outbox_kind_must_be_aggregate_dot_event(conn: psycopg.Connection) -> None:
    with pytest.raises(errors.CheckViolation):
        conn.execute("INSERT INTO outbox (kind, payload) VALUES ('Post Liked', '{}')")


def test_the_viewers_likes_among_a_page_of_comments_are_found_by_key(
    conn: psycopg.Connection,
) -> None:
    """One probe per comment (migration 0021), not every comment like of the viewer: a
    heavy liker among many light ones, whom the planner's averages take for one of them."""
    author = _user(conn, "talker")
    row = conn.execute("INSERT INTO posts (author_id) VALUES (%s) RETURNING id", (author,))
    post = (row.fetchone() or (0,))[0]
    conn.execute(
        "INSERT INTO comments (post_id, author_id, body) "
        "SELECT %s, %s, 'c' || n FROM generate_series(1, 600) AS n",
        (post, author),
    )
    conn.execute(
        "INSERT INTO comment_likes (comment_id, user_id) "
        "SELECT id, %s FROM comments WHERE post_id = %s",
        (author, post),
    )
    light = [_user(conn, f"light{n}", f"light{n}@example.com") for n in range(1500)]
    conn.execute(
        "INSERT INTO comment_likes (comment_id, user_id) "
        "SELECT c.id, u FROM unnest(%s::bigint[]) AS u, "
        "LATERAL (SELECT id FROM comments WHERE post_id = %s ORDER BY random() LIMIT 2) c",
        (light, post),
    )
    conn.execute("ANALYZE comment_likes")
    first = conn.execute("SELECT min(id) FROM comments WHERE post_id = %s", (post,)).fetchone()
    ids = [(first or (0,))[0] + n for n in range(20)]
    plan = "\n".join(
        row[0]
        for row in conn.execute(
            "EXPLAIN SELECT comment_id FROM comment_likes WHERE user_id = %s "
            "AND comment_id = ANY(%s::bigint[])",
            (author, ids),
        ).fetchall()
    )
    assert "Filter" not in plan, plan  # both columns in the index condition
    assert "comment_likes_user_id_idx" not in plan, plan
