"""The number of SQL round trips of a page does not grow with its size (DataLoaders)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from conftest import make_settings
from support.live_server import LiveServer
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


def _round_trips(server: LiveServer, viewer: Member, author: Member, first: int) -> float:
    before = _queries_so_far(server)
    page = viewer.data(PROFILE_PAGE, {"u": author.username, "n": first})
    after = _queries_so_far(server)
    assert len(page["user"]["posts"]["edges"]) == first
    return after - before


def test_profile_page_round_trips_are_constant_in_page_size(server: LiveServer) -> None:
    author, viewer = join(server.http_url), join(server.http_url)
    try:
        for n in range(50):
            author.data(
                "mutation($c: String!) { createPost(input: {caption: $c}) { id } }",
                {"c": f"post {n} #grid"},
            )
        _round_trips(server, viewer, author, 1)  # warm the pool and caches first
        small = _round_trips(server, viewer, author, 1)
        large = _round_trips(server, viewer, author, 50)
    finally:
        author.client.close()
        viewer.client.close()
    assert small == large
    assert large <= 10, f"{large} round trips for one profile page"
