"""Comments over GraphQL: add, reply (one level), delete, ordering with cursors, counters
equal to the rows (also after deletes and under concurrency), comment likes, visibility
and bad input, against a real server and database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from support.auth_helpers import bearer
from support.live_server import LiveServer
from support.social_helpers import Member, follow_in_db, join, set_private

ADD = (
    "mutation($p: ID!, $b: String!, $r: ID) { addComment(postId: $p, body: $b, parentId: $r) "
    "{ id body parentId likeCount replyCount viewerHasLiked author { username } } }"
)
DELETE = "mutation($id: ID!) { deleteComment(id: $id) }"
LIKE = "mutation($id: ID!) { likeComment(id: $id) { likeCount viewerHasLiked } }"
UNLIKE = "mutation($id: ID!) { unlikeComment(id: $id) { likeCount viewerHasLiked } }"
COMMENTS = (
    "query($id: ID!, $n: Int, $a: String, $o: CommentOrder) { post(id: $id) { commentCount "
    "comments(first: $n, after: $a, order: $o) { edges { cursor node { id body replyCount "
    "likeCount viewerHasLiked author { username } } } pageInfo { hasNextPage endCursor } } } }"
)
REPLIES = (
    "query($id: ID!, $n: Int, $a: String) { comment(id: $id) { replyCount "
    "replies(first: $n, after: $a) { edges { node { id parentId body } } "
    "pageInfo { hasNextPage endCursor } } } }"
)


@pytest.fixture
def author(new_member: Callable[[], Member]) -> Member:
    return new_member()


@pytest.fixture
def other(new_member: Callable[[], Member]) -> Member:
    return new_member()


@pytest.fixture
def third(new_member: Callable[[], Member]) -> Member:
    return new_member()


def _post(member: Member, caption: str = "comment on me") -> str:
    data = member.data(
        "mutation($c: String!) { createPost(input: {caption: $c}) { id } }", {"c": caption}
    )
    return str(data["createPost"]["id"])


def _add(member: Member, post_id: str, body: str, parent: str | None = None) -> dict[str, Any]:
    comment: dict[str, Any] = member.data(ADD, {"p": post_id, "b": body, "r": parent})["addComment"]
    return comment


def _ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


def _assert_counts_match_rows(database_url: str, post_id: str) -> int:
    """posts.comment_count = live comments; each reply_count = its live replies. Returns
    the post's count."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT p.comment_count, (SELECT count(*) FROM comments c "
            "WHERE c.post_id = p.id AND c.deleted_at IS NULL) FROM posts p WHERE p.id = %s",
            (int(post_id),),
        ).fetchone()
        wrong = conn.execute(
            "SELECT c.id, c.reply_count, (SELECT count(*) FROM comments r "
            "WHERE r.parent_id = c.id AND r.deleted_at IS NULL) AS live "
            "FROM comments c WHERE c.post_id = %s AND c.parent_id IS NULL",
            (int(post_id),),
        ).fetchall()
        likes = conn.execute(
            "SELECT c.id FROM comments c WHERE c.post_id = %s AND c.like_count <> "
            "(SELECT count(*) FROM comment_likes l WHERE l.comment_id = c.id)",
            (int(post_id),),
        ).fetchall()
    assert row is not None
    assert row[0] == row[1], f"comment_count {row[0]} but {row[1]} live comments"
    assert [r for r in wrong if r[1] != r[2]] == []
    assert likes == []
    return int(row[0])


def _events(database_url: str, kind: str, comment_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT payload FROM outbox WHERE kind = %s AND aggregate_id = %s ORDER BY id",
            (kind, int(comment_id)),
        ).fetchall()
    return [row[0] for row in rows]


def _block(database_url: str, blocker: Member, blocked: Member) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES (%s, %s)", (blocker.id, blocked.id)
        )


# --- adding and replying -------------------------------------------------------------


def test_comments_and_replies_are_added_counted_and_recorded(
    author: Member, other: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    top = _add(other, post_id, "  Lovely cafe\u0301!  ")
    assert top["body"] == "Lovely caf\u00e9!"
    assert (top["parentId"], top["likeCount"], top["replyCount"]) == (None, 0, 0)
    assert top["author"] == {"username": other.username}
    assert top["viewerHasLiked"] is False

    reply = _add(author, post_id, "Thanks!", top["id"])
    assert reply["parentId"] == top["id"]
    # Replying to a reply joins the thread of its top-level comment: one level deep.
    nested = _add(other, post_id, "You're welcome", reply["id"])
    assert nested["parentId"] == top["id"]

    listed = author.data(COMMENTS, {"id": post_id})["post"]
    assert listed["commentCount"] == 3  # top-level comments and replies alike
    assert _ids(listed["comments"]) == [top["id"]]  # replies are not top-level
    assert listed["comments"]["edges"][0]["node"]["replyCount"] == 2
    assert _assert_counts_match_rows(migrated_database, post_id) == 3

    assert _events(migrated_database, "comment.created", nested["id"]) == [
        {
            "postId": int(post_id),
            "commentId": int(nested["id"]),
            "authorId": other.id,
            "postAuthorId": author.id,
            "parentId": int(top["id"]),
        }
    ]
    assert _events(migrated_database, "comment.created", top["id"])[0]["parentId"] is None


def test_comments_on_deleted_or_unknown_posts_are_not_found(author: Member) -> None:
    post_id = _post(author)
    author.data("mutation($id: ID!) { deletePost(id: $id) }", {"id": post_id})
    for target in (post_id, "987654321987"):
        error = author.error(ADD, {"p": target, "b": "hello?"})
        assert error["extensions"]["code"] == "NOT_FOUND"


# --- ordering and cursors -----------------------------------------------------------


def test_top_level_comments_page_both_ways_without_gaps_or_repeats(author: Member) -> None:
    post_id = _post(author)
    existing = [_add(author, post_id, f"comment {n}")["id"] for n in range(5)]

    def walk(order: str | None) -> list[str]:
        """Page through with two per page, writing a comment between pages."""
        seen: list[str] = []
        after = None
        while True:
            variables = {"id": post_id, "n": 2, "a": after, "o": order}
            page = author.data(COMMENTS, variables)["post"]["comments"]
            seen += _ids(page)
            if not page["pageInfo"]["hasNextPage"]:
                return seen
            after = page["pageInfo"]["endCursor"]
            existing.append(_add(author, post_id, "written while paging")["id"])

    # Newest first (the default): later comments never shift the pages already walked.
    for order in (None, "NEWEST"):
        before = list(existing)
        assert walk(order) == list(reversed(before))
    # Oldest first: every comment in order, then those written while paging.
    before = list(existing)
    seen = walk("OLDEST")
    assert seen[: len(before)] == before
    assert seen == existing
    assert seen == sorted(seen, key=int)


def test_replies_page_oldest_first(author: Member, other: Member) -> None:
    post_id = _post(author)
    top = _add(author, post_id, "thread")["id"]
    replies = [_add(other, post_id, f"reply {n}", top)["id"] for n in range(3)]
    first = author.data(REPLIES, {"id": top, "n": 2})["comment"]
    assert first["replyCount"] == 3
    assert _ids(first["replies"]) == replies[:2]
    assert {edge["node"]["parentId"] for edge in first["replies"]["edges"]} == {top}
    rest = author.data(
        REPLIES, {"id": top, "n": 2, "a": first["replies"]["pageInfo"]["endCursor"]}
    )["comment"]["replies"]
    assert _ids(rest) == replies[2:]
    assert rest["pageInfo"]["hasNextPage"] is False
    # A reply has no replies of its own.
    assert _ids(author.data(REPLIES, {"id": replies[0]})["comment"]["replies"]) == []


# --- deleting ------------------------------------------------------------------------


def test_only_the_author_or_the_post_owner_may_delete(
    author: Member, other: Member, third: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    first = _add(other, post_id, "first")["id"]
    second = _add(other, post_id, "second")["id"]
    assert third.error(DELETE, {"id": first})["extensions"]["code"] == "FORBIDDEN"
    assert _assert_counts_match_rows(migrated_database, post_id) == 2

    assert other.data(DELETE, {"id": first}) == {"deleteComment": True}  # its author
    assert author.data(DELETE, {"id": second}) == {"deleteComment": True}  # the post's owner
    assert _assert_counts_match_rows(migrated_database, post_id) == 0
    assert author.data(COMMENTS, {"id": post_id})["post"]["comments"]["edges"] == []
    for gone in (first, second):
        assert other.error(DELETE, {"id": gone})["extensions"]["code"] == "NOT_FOUND"
        assert other.error(LIKE, {"id": gone})["extensions"]["code"] == "NOT_FOUND"
    assert _events(migrated_database, "comment.deleted", second) == [
        {
            "postId": int(post_id),
            "commentId": int(second),
            "authorId": other.id,
            "postAuthorId": author.id,
            "parentId": None,
            "deletedBy": author.id,
            "repliesDeleted": 0,
        }
    ]


def test_deleting_a_comment_takes_its_replies_and_counts_follow(
    author: Member, other: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    top = _add(author, post_id, "thread")["id"]
    keep = _add(author, post_id, "stays")["id"]
    replies = [_add(other, post_id, f"reply {n}", top)["id"] for n in range(3)]
    assert _assert_counts_match_rows(migrated_database, post_id) == 5

    other.data(DELETE, {"id": replies[0]})  # one reply: the parent's replyCount follows
    assert author.data(REPLIES, {"id": top})["comment"]["replyCount"] == 2
    assert _assert_counts_match_rows(migrated_database, post_id) == 4

    author.data(DELETE, {"id": top})  # the thread: its two live replies go with it
    assert _assert_counts_match_rows(migrated_database, post_id) == 1
    listed = author.data(COMMENTS, {"id": post_id})["post"]
    assert (listed["commentCount"], _ids(listed["comments"])) == (1, [keep])
    assert author.error(REPLIES, {"id": top})["extensions"]["code"] == "NOT_FOUND"
    for reply in replies:
        assert other.error(REPLIES, {"id": reply})["extensions"]["code"] == "NOT_FOUND"
    assert author.error(ADD, {"p": post_id, "b": "late", "r": top})["extensions"]["code"] == (
        "NOT_FOUND"
    )
    assert _events(migrated_database, "comment.deleted", top)[0]["repliesDeleted"] == 2


async def test_concurrent_replies_and_deletes_keep_counts_equal_to_rows(
    live_server: LiveServer, author: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    threads = [_add(author, post_id, f"thread {n}")["id"] for n in range(3)]
    fans = [join(live_server.http_url) for _ in range(8)]
    try:
        async with httpx.AsyncClient(base_url=live_server.http_url, timeout=20) as client:

            async def send(member: Member, document: str, variables: dict[str, Any]) -> None:
                response = await client.post(
                    "/graphql",
                    json={"query": document, "variables": variables},
                    headers=bearer(member.token),
                )
                body = response.json()
                for error in body.get("errors", []):  # a reply may lose the race to a delete
                    assert error["extensions"]["code"] == "NOT_FOUND", body

            replying = [
                send(fan, ADD, {"p": post_id, "b": f"reply {i}", "r": threads[i % 3]})
                for i, fan in enumerate(fans)
                for _ in range(2)
            ]
            top_level = [send(fan, ADD, {"p": post_id, "b": "top"}) for fan in fans]
            deleting = [send(author, DELETE, {"id": threads[0]})]
            await asyncio.gather(*replying, *top_level, *deleting)
    finally:
        for fan in fans:
            fan.client.close()
    count = _assert_counts_match_rows(migrated_database, post_id)
    assert count >= 2 + 8  # two live threads, eight top-level comments, their replies


# --- likes ---------------------------------------------------------------------------


def test_comment_likes_are_idempotent_and_counted_with_the_rows(
    author: Member, other: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    comment = _add(author, post_id, "like me")["id"]
    assert other.data(LIKE, {"id": comment})["likeComment"] == {
        "likeCount": 1,
        "viewerHasLiked": True,
    }
    assert other.data(LIKE, {"id": comment})["likeComment"]["likeCount"] == 1
    assert _events(migrated_database, "comment.liked", comment) == [
        {"actorId": other.id, "authorId": author.id, "postId": int(post_id)}
    ]
    node = other.data(COMMENTS, {"id": post_id})["post"]["comments"]["edges"][0]["node"]
    assert (node["likeCount"], node["viewerHasLiked"]) == (1, True)
    node = author.data(COMMENTS, {"id": post_id})["post"]["comments"]["edges"][0]["node"]
    assert node["viewerHasLiked"] is False
    _assert_counts_match_rows(migrated_database, post_id)

    assert other.data(UNLIKE, {"id": comment})["unlikeComment"] == {
        "likeCount": 0,
        "viewerHasLiked": False,
    }
    assert other.data(UNLIKE, {"id": comment})["unlikeComment"]["likeCount"] == 0
    assert len(_events(migrated_database, "comment.unliked", comment)) == 1
    _assert_counts_match_rows(migrated_database, post_id)


async def test_concurrent_comment_likes_keep_the_count_equal_to_the_rows(
    live_server: LiveServer, author: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    comment = _add(author, post_id, "popular")["id"]
    fans = [join(live_server.http_url) for _ in range(12)]
    try:
        async with httpx.AsyncClient(base_url=live_server.http_url, timeout=20) as client:

            async def send(fan: Member, document: str) -> None:
                response = await client.post(
                    "/graphql",
                    json={"query": document, "variables": {"id": comment}},
                    headers=bearer(fan.token),
                )
                assert "errors" not in response.json(), response.text

            # Everyone likes twice at once, then half of them unlike, all interleaved.
            await asyncio.gather(*(send(fan, LIKE) for fan in fans for _ in range(2)))
            await asyncio.gather(
                *(send(fan, UNLIKE) for fan in fans[:6]), *(send(fan, LIKE) for fan in fans[6:])
            )
    finally:
        for fan in fans:
            fan.client.close()
    _assert_counts_match_rows(migrated_database, post_id)
    with psycopg.connect(migrated_database) as conn:
        row = conn.execute("SELECT like_count FROM comments WHERE id = %s", (int(comment),))
        assert row.fetchone() == (6,)


# --- visibility ----------------------------------------------------------------------


def test_comments_of_a_private_post_are_for_approved_followers(
    author: Member, other: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    comment = _add(author, post_id, "followers only")["id"]
    set_private(migrated_database, author)
    for document, variables in (
        (COMMENTS, {"id": post_id}),
        (REPLIES, {"id": comment}),
        (ADD, {"p": post_id, "b": "let me in"}),
        (ADD, {"p": post_id, "b": "let me in", "r": comment}),
        (LIKE, {"id": comment}),
        (DELETE, {"id": comment}),
    ):
        assert other.error(document, variables)["extensions"]["code"] == "NOT_FOUND"
    assert _assert_counts_match_rows(migrated_database, post_id) == 1

    follow_in_db(migrated_database, other, author)
    _add(other, post_id, "now I'm in", comment)
    assert other.data(REPLIES, {"id": comment})["comment"]["replyCount"] == 1


def test_blocks_leave_comments_out_both_ways(
    live_server: LiveServer, author: Member, other: Member, third: Member, migrated_database: str
) -> None:
    post_id = _post(author)
    by_other = _add(other, post_id, "from other")["id"]
    by_third = _add(third, post_id, "from third")["id"]
    by_author = _add(author, post_id, "from author")["id"]
    _block(migrated_database, other, third)  # other blocks third

    # Each of them no longer sees the other's comment; the cursor still moves past it.
    seen_by_third = third.data(COMMENTS, {"id": post_id, "n": 2})["post"]["comments"]
    assert _ids(seen_by_third) == [by_author, by_third]
    assert seen_by_third["pageInfo"]["hasNextPage"] is True
    rest = third.data(
        COMMENTS, {"id": post_id, "n": 2, "a": seen_by_third["pageInfo"]["endCursor"]}
    )["post"]["comments"]
    assert _ids(rest) == []
    assert rest["pageInfo"]["hasNextPage"] is False
    assert _ids(other.data(COMMENTS, {"id": post_id})["post"]["comments"]) == [by_author, by_other]
    # The post's owner, and anyone else, sees all three; counts count every live comment.
    listed = author.data(COMMENTS, {"id": post_id})["post"]
    assert (_ids(listed["comments"]), listed["commentCount"]) == (
        [by_author, by_third, by_other],
        3,
    )
    with httpx.Client(base_url=live_server.http_url) as anonymous:
        body = anonymous.post(
            "/graphql", json={"query": COMMENTS, "variables": {"id": post_id}}
        ).json()
    assert _ids(body["data"]["post"]["comments"]) == [by_author, by_third, by_other]

    for who, target in ((third, by_other), (other, by_third)):
        assert who.error(LIKE, {"id": target})["extensions"]["code"] == "NOT_FOUND"
        assert who.error(REPLIES, {"id": target})["extensions"]["code"] == "NOT_FOUND"
        assert who.error(DELETE, {"id": target})["extensions"]["code"] == "NOT_FOUND"
        error = who.error(ADD, {"p": post_id, "b": "reply", "r": target})
        assert error["extensions"]["code"] == "NOT_FOUND"

    # The post's owner may still delete the comment of someone they blocked.
    _block(migrated_database, author, third)
    assert author.data(DELETE, {"id": by_third}) == {"deleteComment": True}
    assert _assert_counts_match_rows(migrated_database, post_id) == 2


def test_anonymous_readers_see_public_comments_but_cannot_write(
    live_server: LiveServer, author: Member
) -> None:
    post_id = _post(author)
    comment = _add(author, post_id, "hello world")["id"]
    author.data(LIKE, {"id": comment})
    with httpx.Client(base_url=live_server.http_url) as anonymous:

        def ask(document: str, variables: dict[str, Any]) -> dict[str, Any]:
            body: dict[str, Any] = anonymous.post(
                "/graphql", json={"query": document, "variables": variables}
            ).json()
            return body

        node = ask(COMMENTS, {"id": post_id})["data"]["post"]["comments"]["edges"][0]["node"]
        assert (node["likeCount"], node["viewerHasLiked"]) == (1, False)
        for document, variables in (
            (ADD, {"p": post_id, "b": "anon"}),
            (DELETE, {"id": comment}),
            (LIKE, {"id": comment}),
        ):
            error = ask(document, variables)["errors"][0]
            assert error["extensions"]["code"] == "UNAUTHENTICATED"


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["x" * 2201, "", "   \n  ", "bidi \u202e override", "nul \x00 byte", "esc \x1b[31m red"],
)
def test_bad_bodies_are_refused_and_create_nothing(
    author: Member, body: str, migrated_database: str
) -> None:
    post_id = _post(author)
    error = author.error(ADD, {"p": post_id, "b": body})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "body"}
    assert _assert_counts_match_rows(migrated_database, post_id) == 0


def test_bodies_keep_sql_looking_text_emoji_and_the_full_length(author: Member) -> None:
    post_id = _post(author)
    for body in (
        "'); DROP TABLE comments; --",
        "Family \U0001f468\u200d\U0001f469\u200d\U0001f467\nline two",
        "\u00e9" * 2200,
    ):
        assert _add(author, post_id, body)["body"] == body


@pytest.mark.parametrize("bad_id", ["abc", "-1", "0", "1.5", "99999999999999999999", "1; DROP"])
def test_bad_ids_are_bad_input_on_their_field(author: Member, bad_id: str) -> None:
    post_id = _post(author)
    comment = _add(author, post_id, "target")["id"]
    cases = [
        (ADD, {"p": bad_id, "b": "x"}, "postId"),
        (ADD, {"p": post_id, "b": "x", "r": bad_id}, "parentId"),
        (DELETE, {"id": bad_id}, "id"),
        (LIKE, {"id": bad_id}, "id"),
        (UNLIKE, {"id": bad_id}, "id"),
        (REPLIES, {"id": bad_id}, "id"),
    ]
    for document, variables, field in cases:
        error = author.error(document, variables)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, document
    assert author.data(REPLIES, {"id": comment})["comment"]["replyCount"] == 0


def test_unknown_ids_and_a_parent_on_another_post(author: Member, migrated_database: str) -> None:
    post_id, elsewhere = _post(author), _post(author, "another")
    foreign = _add(author, elsewhere, "on the other post")["id"]
    unknown = "987654321987"
    for document, variables in (
        (ADD, {"p": post_id, "b": "x", "r": unknown}),
        (DELETE, {"id": unknown}),
        (LIKE, {"id": unknown}),
        (UNLIKE, {"id": unknown}),
        (REPLIES, {"id": unknown}),
    ):
        assert author.error(document, variables)["extensions"]["code"] == "NOT_FOUND"
    error = author.error(ADD, {"p": post_id, "b": "x", "r": foreign})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "parentId"}
    assert _assert_counts_match_rows(migrated_database, post_id) == 0
    assert _assert_counts_match_rows(migrated_database, elsewhere) == 1


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"n": 0}, "first"),
        ({"n": 101}, "first"),
        ({"a": "not-a-cursor"}, "after"),
        ({"a": "' OR 1=1 --"}, "after"),
        ({"a": "Zmcx" + "A" * 300}, "after"),
    ],
)
def test_bad_paging_arguments(author: Member, variables: dict[str, Any], field: str) -> None:
    post_id = _post(author)
    comment = _add(author, post_id, "page me")["id"]
    error = author.error(COMMENTS, {"id": post_id, **variables})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    error = author.error(REPLIES, {"id": comment, **variables})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


def test_a_wrong_order_value_is_refused(author: Member) -> None:
    post_id = _post(author)
    error = author.error(COMMENTS, {"id": post_id, "o": "RANDOM"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
