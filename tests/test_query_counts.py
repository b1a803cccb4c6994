"""The number of SQL round trips of a page does not grow with its size (DataLoaders)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import make_settings
from support.live_server import LiveServer
from support.post_writes import like_post
from support.services import ServiceUrls
from support.social_helpers import Member, join

from fowergram.app import create_app

PROFILE_PAGE = """
query($u: String!, $n: Int!) {
  user(username: $u) {
    id username fullName bio postsCount followersCount followingCount
    relationship { following followedBy }
    posts(first: $n) {
      edges { node { id caption mediaIds likeCount commentCount viewerHasLiked createdAt
                     author { id username } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

POST_PAGE = """
query($id: ID!, $n: Int!) {
  post(id: $id) {
    id caption likeCount commentCount viewerHasLiked author { id username }
    comments(first: $n) {
      edges { node { id body createdAt likeCount replyCount viewerHasLiked parentId
                     author { id username } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


@pytest.fixture(scope="module")
def server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[LiveServer]:
    # Keys are re-read hourly here, so no background read falls into a measurement.
    settings = make_settings(service_urls, migrated_database, signing_keys_refresh_s=3600)
    with LiveServer(create_app(settings), settings) as live:
        yield live


def _queries_so_far(server: LiveServer) -> float:
    metrics = httpx.get(f"{server.http_url}/metrics").text
    match = re.search(r"^fowergram_db_queries_total (\S+)$", metrics, re.M)
    assert match, "fowergram_db_queries_total is missing"
    return float(match.group(1))


def _round_trips(
    server: LiveServer, viewer: Member, document: str, variables: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    before = _queries_so_far(server)
    page = viewer.data(document, variables)
    return _queries_so_far(server) - before, page


def _profile_round_trips(
    server: LiveServer, viewer: Member, author: Member, n: int
) -> tuple[float, list[dict[str, Any]]]:
    count, page = _round_trips(server, viewer, PROFILE_PAGE, {"u": author.username, "n": n})
    edges = page["user"]["posts"]["edges"]
    assert len(edges) == n
    return count, [edge["node"] for edge in edges]


def _post_round_trips(
    server: LiveServer, viewer: Member, post_id: str, n: int
) -> tuple[float, list[dict[str, Any]]]:
    count, page = _round_trips(server, viewer, POST_PAGE, {"id": post_id, "n": n})
    edges = page["post"]["comments"]["edges"]
    assert len(edges) == n
    return count, [edge["node"] for edge in edges]


def test_profile_page_round_trips_are_constant_in_page_size(server: LiveServer) -> None:
    author, viewer = join(server.http_url), join(server.http_url)
    try:
        ids = [
            author.data(
                "mutation($c: String!) { createPost(input: {caption: $c}) { id } }",
                {"c": f"post {n} #grid"},
            )["createPost"]["id"]
            for n in range(50)
        ]
        liked = set(ids[::3])
        for post_id in liked:
            like_post(viewer, int(post_id))
        _profile_round_trips(server, viewer, author, 1)  # warm the pool and caches first
        small, _ = _profile_round_trips(server, viewer, author, 1)
        large, posts = _profile_round_trips(server, viewer, author, 50)
    finally:
        author.client.close()
        viewer.client.close()
    assert small == large
    # The user with the viewer's relationship and the grid's first page with the viewer's
    # likes, in one statement.
    assert large == 1, f"{large} round trips for one profile page"
    assert {post["id"] for post in posts if post["viewerHasLiked"]} == liked


def test_post_with_comments_round_trips_are_constant_in_page_size(server: LiveServer) -> None:
    people = [join(server.http_url) for _ in range(4)]
    author, viewer = people[0], people[1]
    try:
        post_id = author.data('mutation { createPost(input: {caption: "talk"}) { id } }')[
            "createPost"
        ]["id"]
        comment_ids = []
        for n in range(50):
            # Not the viewer: relationship reads skip the viewer's own id, which would
            # make a one-comment page cheaper for a reason unrelated to batching.
            commenter = [author, *people[2:]][n % 3]
            comment_ids.append(
                commenter.data(
                    "mutation($p: ID!, $b: String!) { addComment(postId: $p, body: $b) { id } }",
                    {"p": post_id, "b": f"comment {n}"},
                )["addComment"]["id"]
            )
        liked = set(comment_ids[::4])
        for comment_id in liked:
            viewer.data(
                "mutation($id: ID!) { likeComment(id: $id) { likeCount } }", {"id": comment_id}
            )
        _post_round_trips(server, viewer, post_id, 1)  # warm the pool and caches first
        small, _ = _post_round_trips(server, viewer, post_id, 1)
        large, comments = _post_round_trips(server, viewer, post_id, 50)
    finally:
        for person in people:
            person.client.close()
    assert small == large
    # The post with its author's profile, the viewer's relationship to them and like; the
    # comments with their authors' standing and the viewer's likes; the commenters'
    # profiles (the post's author among them is known already).
    assert large == 3, f"{large} round trips for a post with its comments"
    assert {comment["id"] for comment in comments if comment["viewerHasLiked"]} == liked
