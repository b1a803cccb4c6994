"""Posts over GraphQL: create (idempotent), edit with history, delete, grids, hashtags,
saves, and visibility, against a real server and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import psycopg
import pytest
from support.auth_helpers import bearer
from support.live_server import LiveServer
from support.social_helpers import Member, follow_in_db, set_private

CREATE = (
    "mutation($c: String!, $m: [ID!], $k: String) "
    "{ createPost(input: {caption: $c, mediaIds: $m}, idempotencyKey: $k) "
    "{ id caption mediaIds likeCount commentCount author { username } } }"
)
POST = "query($id: ID!) { post(id: $id) { id caption editedAt author { id } } }"
GRID = (
    "query($u: String!, $n: Int, $a: String) { user(username: $u) { postsCount "
    "posts(first: $n, after: $a) { edges { cursor node { id } } "
    "pageInfo { hasNextPage endCursor } } } }"
)


@pytest.fixture
def member(new_member: Callable[[], Member]) -> Member:
    return new_member()


@pytest.fixture
def other(new_member: Callable[[], Member]) -> Member:
    return new_member()


def _create(member: Member, caption: str, key: str | None = None) -> dict[str, object]:
    post: dict[str, object] = member.data(CREATE, {"c": caption, "k": key})["createPost"]
    return post


def test_create_parses_hashtags_and_mentions_and_counts(
    member: Member, other: Member, migrated_database: str
) -> None:
    tag = f"Sun{uuid.uuid4().hex[:6]}"
    post = _create(member, f"Golden hour #{tag} #{tag.lower()} with @{other.username.upper()}!")
    assert post["author"] == {"username": member.username}
    assert (post["likeCount"], post["commentCount"], post["mediaIds"]) == (0, 0, [])
    post_id = int(str(post["id"]))
    with psycopg.connect(migrated_database) as conn:
        tags = conn.execute(
            "SELECT h.tag FROM post_hashtags ph JOIN hashtags h ON h.id = ph.hashtag_id "
            "WHERE ph.post_id = %s",
            (post_id,),
        ).fetchall()
        mentions = conn.execute(
            "SELECT user_id FROM post_mentions WHERE post_id = %s", (post_id,)
        ).fetchall()
        events = conn.execute(
            "SELECT kind, payload->>'authorId' FROM outbox WHERE aggregate_id = %s "
            "AND kind = 'post.created'",
            (post_id,),
        ).fetchall()
    assert tags == [(tag,)]  # one hashtag, first spelling kept
    assert mentions == [(other.id,)]
    assert events == [("post.created", str(member.id))]
    grid = member.data(GRID, {"u": member.username})["user"]
    assert grid["postsCount"] == 1


def test_the_same_idempotency_key_returns_the_first_post(member: Member) -> None:
    key = f"k-{uuid.uuid4()}"
    first = _create(member, "once", key)
    second = _create(member, "once, retried", key)
    assert second["id"] == first["id"]
    assert second["caption"] == "once"
    assert member.data(GRID, {"u": member.username})["user"]["postsCount"] == 1


async def test_concurrent_retries_with_one_key_make_one_post(
    live_server: LiveServer, member: Member
) -> None:
    key = f"race-{uuid.uuid4()}"
    async with httpx.AsyncClient(base_url=live_server.http_url, timeout=10) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/graphql",
                    json={"query": CREATE, "variables": {"c": "racing", "k": key}},
                    headers=bearer(member.token),
                )
                for _ in range(8)
            )
        )
    ids = {r.json()["data"]["createPost"]["id"] for r in responses}
    assert len(ids) == 1
    assert member.data(GRID, {"u": member.username})["user"]["postsCount"] == 1


@pytest.mark.parametrize(
    ("caption", "field"),
    [
        ("x" * 2201, "caption"),
        ("", "caption"),
        ("   ", "caption"),
        ("bidi \u202e override", "caption"),
        ("nul \x00 byte", "caption"),
        (" ".join(f"#t{n}" for n in range(31)), "caption"),
    ],
)
def test_bad_captions_are_refused_and_create_nothing(
    member: Member, caption: str, field: str
) -> None:
    error = member.error(CREATE, {"c": caption})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert member.data(GRID, {"u": member.username})["user"]["postsCount"] == 0


def test_captions_keep_emoji_sequences_and_newlines(member: Member) -> None:
    caption = "Family \U0001f468\u200d\U0001f469\u200d\U0001f467 time\nline two \u00e9"
    assert _create(member, caption)["caption"] == caption
    longest = _create(member, "é" * 2200)["caption"]
    assert isinstance(longest, str)
    assert len(longest) == 2200


def test_media_must_be_own_ready_and_at_most_ten(
    member: Member, other: Member, migrated_database: str
) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as conn:

        def media(owner: Member, status: str) -> str:
            row = conn.execute(
                "INSERT INTO media (owner_id, kind, status, storage_key, mime_type) "
                "VALUES (%s, 'image', %s, %s, 'image/jpeg') RETURNING id",
                (owner.id, status, f"test/{uuid.uuid4()}"),
            ).fetchone()
            assert row is not None
            return str(row[0])

        mine = [media(member, "ready") for _ in range(11)]
        pending, theirs = media(member, "pending"), media(other, "ready")
    ok = member.data(CREATE, {"c": "carousel", "m": mine[:3]})["createPost"]
    assert ok["mediaIds"] == mine[:3]
    for media_ids in (mine, [pending], [theirs], ["abc"], ["99999999999999999999"]):
        error = member.error(CREATE, {"c": "x", "m": media_ids})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "mediaIds"}


def test_edit_keeps_history_and_only_the_author_may(
    member: Member, other: Member, migrated_database: str
) -> None:
    post = _create(member, "first #draft")
    edit = "mutation($id: ID!, $c: String!) { editPost(id: $id, caption: $c) { caption editedAt } }"
    edited = member.data(edit, {"id": post["id"], "c": "second #final"})["editPost"]
    assert edited["caption"] == "second #final"
    assert edited["editedAt"] is not None
    with psycopg.connect(migrated_database) as conn:
        history = conn.execute(
            "SELECT previous_caption FROM post_edits WHERE post_id = %s", (int(str(post["id"])),)
        ).fetchall()
    assert history == [("first #draft",)]
    forbidden = other.error(edit, {"id": post["id"], "c": "hijack"})
    assert forbidden["extensions"]["code"] == "FORBIDDEN"
    assert member.data(POST, {"id": post["id"]})["post"]["caption"] == "second #final"


def test_delete_removes_the_post_from_every_list(member: Member) -> None:
    tag = f"gone{uuid.uuid4().hex[:6]}"
    post = _create(member, f"soon gone #{tag}")
    member.data("mutation($id: ID!) { savePost(id: $id) }", {"id": post["id"]})
    member.data("mutation($id: ID!) { deletePost(id: $id) }", {"id": post["id"]})

    assert member.error(POST, {"id": post["id"]})["extensions"]["code"] == "NOT_FOUND"
    grid = member.data(GRID, {"u": member.username})["user"]
    assert grid["postsCount"] == 0
    assert grid["posts"]["edges"] == []
    tagged = member.data(
        "query($t: String!) { hashtagPosts(tag: $t) { edges { node { id } } } }", {"t": tag}
    )
    assert tagged["hashtagPosts"]["edges"] == []
    saved = member.data("{ savedPosts { edges { node { id } } } }")
    assert saved["savedPosts"]["edges"] == []
    again = member.error("mutation($id: ID!) { deletePost(id: $id) }", {"id": post["id"]})
    assert again["extensions"]["code"] == "NOT_FOUND"


def test_grid_pages_with_cursors_without_gaps_or_repeats(member: Member) -> None:
    created = [_create(member, f"post {n}")["id"] for n in range(5)]
    seen: list[str] = []
    after = None
    while True:
        page = member.data(GRID, {"u": member.username, "n": 2, "a": after})["user"]["posts"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        _create(member, "inserted while paging")  # newer: must not shift the pages
    assert seen == list(reversed(created))


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"n": 0}, "first"),
        ({"n": 101}, "first"),
        ({"n": 2**31 - 1}, "first"),
        ({"a": "not-a-cursor"}, "after"),
        ({"a": "Zmcx" + "A" * 300}, "after"),
        ({"a": "' OR 1=1 --"}, "after"),
    ],
)
def test_bad_paging_arguments(member: Member, variables: dict[str, object], field: str) -> None:
    error = member.error(GRID, {"u": member.username, **variables})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


def test_private_posts_are_for_approved_followers(
    member: Member, other: Member, migrated_database: str
) -> None:
    post = _create(member, "for my followers")
    set_private(migrated_database, member)
    assert other.error(POST, {"id": post["id"]})["extensions"]["code"] == "NOT_FOUND"
    assert other.error(GRID, {"u": member.username})["extensions"]["code"] == "NOT_FOUND"
    follow_in_db(migrated_database, other, member)
    assert other.data(POST, {"id": post["id"]})["post"]["id"] == post["id"]
    assert len(other.data(GRID, {"u": member.username})["user"]["posts"]["edges"]) == 1


def test_blocks_hide_posts_both_ways(member: Member, other: Member, migrated_database: str) -> None:
    mine, theirs = _create(member, "mine"), _create(other, "theirs")
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES (%s, %s)", (member.id, other.id)
        )
    assert other.error(POST, {"id": mine["id"]})["extensions"]["code"] == "NOT_FOUND"
    assert member.error(POST, {"id": theirs["id"]})["extensions"]["code"] == "NOT_FOUND"
    like = "mutation($id: ID!) { likePost(id: $id) { likeCount } }"
    assert other.error(like, {"id": mine["id"]})["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("bad_id", ["abc", "-1", "0", "1.5", "99999999999999999999", "1; DROP"])
def test_bad_ids_are_bad_input_not_errors(member: Member, bad_id: str) -> None:
    error = member.error(POST, {"id": bad_id})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}


def test_writing_needs_a_session(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.http_url) as anonymous:
        body = anonymous.post("/graphql", json={"query": CREATE, "variables": {"c": "x"}}).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_grid_read_with_its_profile_is_the_grid_read_alone(member: Member, other: Member) -> None:
    # The first page of a profile's grid comes with the profile when asked plainly; asked
    # through an alias or a fragment it is read on its own: the same page either way.
    for n in range(3):
        _create(member, f"post {n}")
    other.data(
        "mutation($id: ID!) { likePost(id: $id) { likeCount } }",
        {"id": _create(member, "liked")["id"]},
    )
    shape = "{ edges { cursor node { id viewerHasLiked } } pageInfo { hasNextPage endCursor } }"
    plain = f"query($u: String!) {{ user(username: $u) {{ posts(first: 2) {shape} }} }}"
    aliased = f"query($u: String!) {{ user(username: $u) {{ posts: posts(first: 2) {shape} }} }}"
    fragment = (
        f"query($u: String!) {{ user(username: $u) {{ ...G }} }} "
        f"fragment G on User {{ posts(first: 2) {shape} }}"
    )
    pages = [
        other.data(q, {"u": member.username})["user"]["posts"] for q in (plain, aliased, fragment)
    ]
    assert pages[0] == pages[1] == pages[2]
    assert pages[0]["pageInfo"]["hasNextPage"] is True
    assert [edge["node"]["viewerHasLiked"] for edge in pages[0]["edges"]] == [True, False]
