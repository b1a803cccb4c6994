"""The social graph over GraphQL: follows, requests, blocks, mutes, relationships, lists,
counters and outbox events, against the shared live server and the session database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from support.graph_helpers import RELATIONSHIP, Member, act, counts, events, fails, join, ok
from support.live_server import LiveServer

from fowergram.domain.pagination import encode_cursor

RELATION = f"query($u: ID!) {{ relationship(userId: $u) {{ {RELATIONSHIP} }} }}"
FOLLOWERS = (
    "query($n: String!, $first: Int, $after: String) { user(username: $n) { "
    "followers(first: $first, after: $after) { edges { cursor node { username } } "
    "pageInfo { hasNextPage endCursor } } } }"
)
FOLLOWING = FOLLOWERS.replace("followers(", "following(")
REQUESTS = (
    "query($first: Int, $after: String) { followRequests(first: $first, after: $after) { "
    "edges { node { id username relationship { requestedBy } } } pageInfo { hasNextPage } } }"
)
USER_REL = "query($n: String!) { user(username: $n) { followersCount relationship { following } } }"


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.http_url, timeout=10) as http:
        yield http


def _make_private(database_url: str, member: Member) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET is_private = true WHERE id = %s", (int(member.id),))


def _consistent(database_url: str, *members: Member) -> None:
    for member in members:
        followers, following, counted_followers, counted_following = counts(database_url, member.id)
        assert (followers, following) == (counted_followers, counted_following), member


def test_follow_and_unfollow_are_idempotent_with_counters_and_events(
    client: httpx.Client, migrated_database: str
) -> None:
    ana, bob = join(client), join(client)

    first = act(client, ana, "follow", bob.id)
    again = act(client, ana, "follow", bob.id)

    assert first == again
    assert first["following"] is True
    assert first["requested"] is False
    assert counts(migrated_database, bob.id)[:1] == (1,)
    assert counts(migrated_database, ana.id)[1] == 1
    seen_by_ana = ok(client, ana, USER_REL, n=bob.username)["user"]
    assert seen_by_ana == {"followersCount": 1, "relationship": {"following": True}}
    assert ok(client, bob, RELATION, u=ana.id)["relationship"]["followedBy"] is True

    assert act(client, ana, "unfollow", bob.id)["following"] is False
    assert act(client, ana, "unfollow", bob.id)["following"] is False
    assert counts(migrated_database, bob.id)[0] == 0
    _consistent(migrated_database, ana, bob)
    assert [(kind, payload) for kind, _, payload in events(migrated_database, ana.id)] == [
        ("user.followed", {"actorId": int(ana.id), "targetId": int(bob.id)}),
        ("user.unfollowed", {"actorId": int(ana.id), "targetId": int(bob.id)}),
    ]  # one event per change, none for the repeated (no-op) calls
    assert events(migrated_database, ana.id)[0][1] == int(bob.id)


def test_private_account_turns_a_follow_into_a_request(
    client: httpx.Client, migrated_database: str
) -> None:
    owner, fan, other = join(client), join(client), join(client)
    _make_private(migrated_database, owner)

    assert act(client, fan, "follow", owner.id)["requested"] is True
    assert act(client, other, "follow", owner.id)["following"] is False
    assert counts(migrated_database, owner.id)[0] == 0
    listed = ok(client, owner, REQUESTS)["followRequests"]["edges"]
    assert [edge["node"]["username"] for edge in listed] == [other.username, fan.username]
    assert all(edge["node"]["relationship"] == {"requestedBy": True} for edge in listed)

    approved = act(client, owner, "approveFollowRequest", fan.id)
    assert (approved["followedBy"], approved["requestedBy"]) == (True, False)
    denied = act(client, owner, "denyFollowRequest", other.id)
    assert (denied["followedBy"], denied["requestedBy"]) == (False, False)
    assert ok(client, owner, REQUESTS)["followRequests"]["edges"] == []
    assert counts(migrated_database, owner.id)[0] == 1
    assert counts(migrated_database, fan.id)[1] == 1
    # Approving again is a no-op; approving a request that is not there is NOT_FOUND.
    assert act(client, owner, "approveFollowRequest", fan.id)["followedBy"] is True
    missing = fails(
        client,
        owner,
        "mutation($u: ID!) { approveFollowRequest(userId: $u) { following } }",
        u=other.id,
    )
    assert missing["extensions"]["code"] == "NOT_FOUND"

    # A request can be withdrawn by its author.
    assert act(client, other, "follow", owner.id)["requested"] is True
    assert act(client, other, "cancelFollowRequest", owner.id)["requested"] is False
    assert [kind for kind, _, _ in events(migrated_database, other.id)] == [
        "follow.requested",
        "follow.requested",
        "follow.cancelled",
    ]
    assert [kind for kind, _, _ in events(migrated_database, owner.id)] == [
        "follow.accepted",
        "follow.denied",
    ]
    _consistent(migrated_database, owner, fan, other)


def test_remove_follower(client: httpx.Client, migrated_database: str) -> None:
    star, fan = join(client), join(client)
    act(client, fan, "follow", star.id)

    removed = act(client, star, "removeFollower", fan.id)

    assert removed["followedBy"] is False
    assert ok(client, fan, RELATION, u=star.id)["relationship"]["following"] is False
    assert counts(migrated_database, star.id)[0] == 0
    assert counts(migrated_database, fan.id)[1] == 0
    assert [kind for kind, _, _ in events(migrated_database, star.id)] == ["user.follower_removed"]


def test_block_removes_follows_both_ways_and_hides_each_from_the_other(
    client: httpx.Client, migrated_database: str
) -> None:
    ana, bob = join(client), join(client)
    act(client, ana, "follow", bob.id)
    act(client, bob, "follow", ana.id)

    blocked = act(client, ana, "block", bob.id)

    assert blocked == {
        "userId": bob.id,
        "following": False,
        "followedBy": False,
        "requested": False,
        "requestedBy": False,
        "blocking": True,
        "blockedBy": False,
        "muting": False,
    }
    assert counts(migrated_database, ana.id) == (0, 0, 0, 0)
    assert counts(migrated_database, bob.id) == (0, 0, 0, 0)
    # Bob can no longer find, follow or list Ana: the same answer as for nobody.
    unknown = fails(client, bob, RELATION, u="999999999999")
    for query, variables in (
        (RELATION, {"u": ana.id}),
        ("mutation($u: ID!) { follow(userId: $u) { following } }", {"u": ana.id}),
        ("mutation($u: ID!) { mute(userId: $u) { muting } }", {"u": ana.id}),
        ("mutation($u: ID!) { block(userId: $u) { blocking } }", {"u": ana.id}),
        (FOLLOWERS, {"n": ana.username}),
    ):
        error = fails(client, bob, query, **variables)
        assert error["extensions"]["code"] == "NOT_FOUND", (query, error)
        assert error["message"] == unknown["message"]
    # Ana sees that she blocks Bob, must unblock before following, and can unblock.
    conflict = fails(
        client, ana, "mutation($u: ID!) { follow(userId: $u) { following } }", u=bob.id
    )
    assert conflict["extensions"] == {"code": "CONFLICT", "field": "userId"}
    assert ok(client, ana, RELATION, u=bob.id)["relationship"]["blocking"] is True
    assert act(client, ana, "unblock", bob.id)["blocking"] is False
    assert act(client, bob, "follow", ana.id)["following"] is True
    assert [kind for kind, _, _ in events(migrated_database, ana.id)] == [
        "user.followed",
        "user.blocked",
        "user.unblocked",
    ]
    _consistent(migrated_database, ana, bob)


def test_mute_and_unmute(client: httpx.Client, migrated_database: str) -> None:
    ana, bob = join(client), join(client)

    assert act(client, ana, "mute", bob.id)["muting"] is True
    assert act(client, ana, "mute", bob.id)["muting"] is True
    assert ok(client, bob, RELATION, u=ana.id)["relationship"]["muting"] is False  # private
    assert act(client, ana, "unmute", bob.id)["muting"] is False
    assert [kind for kind, _, _ in events(migrated_database, ana.id)] == [
        "user.muted",
        "user.unmuted",
    ]


def test_relationship_field_is_batched_and_null_when_signed_out(client: httpx.Client) -> None:
    viewer, a, b = join(client), join(client), join(client)
    act(client, viewer, "follow", a.id)
    query = (
        "query($a: String!, $b: String!, $me: String!) { "
        "a: user(username: $a) { relationship { following } } "
        "b: user(username: $b) { relationship { following } } "
        "me: user(username: $me) { relationship { following blocking } } }"
    )
    names = {"a": a.username, "b": b.username, "me": viewer.username}

    seen = ok(client, viewer, query, **names)
    anonymous = ok(client, None, query, **names)

    assert seen == {
        "a": {"relationship": {"following": True}},
        "b": {"relationship": {"following": False}},
        "me": {"relationship": {"following": False, "blocking": False}},
    }
    assert anonymous == {key: {"relationship": None} for key in names}


def test_lists_paginate_by_keyset_newest_first(client: httpx.Client) -> None:
    star = join(client)
    fans = [join(client) for _ in range(5)]
    for fan in fans:
        act(client, fan, "follow", star.id)
        act(client, star, "follow", fan.id)
    expected = [fan.username for fan in reversed(fans)]

    for query, field in ((FOLLOWERS, "followers"), (FOLLOWING, "following")):
        seen: list[str] = []
        after = None
        for _ in range(4):
            page = ok(client, None, query, n=star.username, first=2, after=after)["user"][field]
            seen += [edge["node"]["username"] for edge in page["edges"]]
            after = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break
        assert seen == expected, field
    # Stable under inserts: a new follower lands on top, not in the middle of a walk.
    first_page = ok(client, None, FOLLOWERS, n=star.username, first=2)["user"]["followers"]
    act(client, join(client), "follow", star.id)
    rest = ok(
        client,
        None,
        FOLLOWERS,
        n=star.username,
        first=10,
        after=first_page["pageInfo"]["endCursor"],
    )["user"]["followers"]
    assert [edge["node"]["username"] for edge in rest["edges"]] == expected[2:]


def test_lists_of_a_private_account_are_for_approved_followers(
    client: httpx.Client, migrated_database: str
) -> None:
    owner, fan, stranger, hidden = join(client), join(client), join(client), join(client)
    act(client, hidden, "follow", owner.id)
    _make_private(migrated_database, owner)
    act(client, fan, "follow", owner.id)
    act(client, owner, "approveFollowRequest", fan.id)

    refused = fails(client, stranger, FOLLOWERS, n=owner.username)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert fails(client, None, FOLLOWERS, n=owner.username)["extensions"]["code"] == "FORBIDDEN"
    names = {
        edge["node"]["username"]
        for edge in ok(client, fan, FOLLOWERS, n=owner.username)["user"]["followers"]["edges"]
    }
    assert names == {fan.username, hidden.username}
    # A follower who blocks the viewer is left out of the viewer's view of the list.
    act(client, hidden, "block", fan.id)
    names_after = [
        edge["node"]["username"]
        for edge in ok(client, fan, FOLLOWERS, n=owner.username)["user"]["followers"]["edges"]
    ]
    assert names_after == [fan.username]
    assert refused["path"] == ["user", "followers"]


@pytest.mark.parametrize(
    "user_id",
    [
        "abc",
        "-1",
        "0",
        "1.5",
        "99999999999999999999999999",
        "9223372036854775808",
        "1; DROP TABLE follows; --",
        "' OR 1=1 --",
        "１２",
        "",
    ],
)
def test_malformed_user_ids_are_bad_input(client: httpx.Client, user_id: str) -> None:
    viewer = join(client)
    for mutation in ("follow", "block", "mute", "approveFollowRequest"):
        error = fails(
            client,
            viewer,
            f"mutation($u: ID!) {{ {mutation}(userId: $u) {{ following }} }}",
            u=user_id,
        )
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "userId"}, mutation


def test_wrong_types_unknown_ids_self_and_signed_out(client: httpx.Client) -> None:
    viewer = join(client)
    follow = "mutation($u: ID!) { follow(userId: $u) { following } }"

    wrong_type = fails(client, viewer, follow, u={"id": 1})
    unknown = fails(client, viewer, follow, u="9223372036854775807")
    yourself = fails(client, viewer, follow, u=viewer.id)
    signed_out = fails(client, None, follow, u=viewer.id)
    literal = fails(client, viewer, "mutation { follow(userId: 1.5) { following } }")

    assert wrong_type["extensions"]["code"] == "BAD_USER_INPUT"
    assert unknown["extensions"]["code"] == "NOT_FOUND"
    assert yourself["extensions"] == {"code": "BAD_USER_INPUT", "field": "userId"}
    assert signed_out["extensions"]["code"] == "UNAUTHENTICATED"
    assert literal["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert fails(client, None, REQUESTS)["extensions"]["code"] == "UNAUTHENTICATED"
    assert fails(client, None, RELATION, u=viewer.id)["extensions"]["code"] == "UNAUTHENTICATED"
    assert ok(client, viewer, RELATION, u=viewer.id)["relationship"]["following"] is False


@pytest.mark.parametrize(
    ("first", "after", "field"),
    [
        (0, None, "first"),
        (101, None, "first"),
        (10, "not-a-cursor", "after"),
        (10, encode_cursor((1,)), "after"),  # wrong arity
        (10, encode_cursor((-1, 5)), "after"),
        (10, encode_cursor((10**18, 5)), "after"),  # beyond the year 9999
        (10, encode_cursor((5, 2**63)), "after"),  # beyond bigint
    ],
)
def test_bad_pagination_arguments(
    client: httpx.Client, first: int, after: str | None, field: str
) -> None:
    viewer = join(client)
    for query, variables in (
        (FOLLOWERS, {"n": viewer.username}),
        (FOLLOWING, {"n": viewer.username}),
        (REQUESTS, {}),
    ):
        error = fails(client, viewer, query, first=first, after=after, **variables)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, query
