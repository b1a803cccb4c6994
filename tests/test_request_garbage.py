"""A request leaves no reference cycles behind: its objects go when it ends.

Whatever a request builds (context, DataLoaders, the executor and its collected fields,
Starlette's request) is freed by reference counting as soon as the answer is sent, if
nothing in it refers back to itself. A cycle keeps all of it until a collection finds it:
~160 objects per profile page did, which made the collector ~12% of the server's time
under load. The server runs in this process, so the collector sees its objects.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest
from conftest import make_settings
from support.live_server import LiveServer
from support.post_writes import add_comment, create_post, like_post
from support.services import ServiceUrls
from support.social_helpers import Member, join
from test_query_counts import POST_PAGE, PROFILE_PAGE

from fowergram.app import create_app

# Where the objects of a request's path come from (the client's are httpx's).
SERVER_PACKAGES = ("fowergram.", "graphql.", "strawberry.", "starlette.", "uvicorn.")


@pytest.fixture(scope="module")
def server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[LiveServer]:
    settings = make_settings(service_urls, migrated_database)
    with LiveServer(create_app(settings), settings) as live:
        yield live


def _server_objects_in_cycles(requests: Callable[[], None]) -> list[str]:
    """The server-side types of the objects `requests` left in reference cycles."""
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection would free is kept in gc.garbage
    try:
        requests()
        gc.collect()
        kinds = [f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return sorted({kind for kind in kinds if kind.startswith(SERVER_PACKAGES)})


def _pages(author: Member, viewer: Member, post_id: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(3):
            viewer.data(PROFILE_PAGE, {"u": author.username, "n": 12})
            viewer.data(POST_PAGE, {"id": post_id, "n": 20})
            viewer.data("{ me { id username } }")
            like_post(viewer, post_id)
            like_post(viewer, post_id, "unlikePost")

    return run


def test_pages_and_likes_leave_no_cycles(server: LiveServer) -> None:
    author, viewer = join(server.http_url), join(server.http_url)
    post_ids = [create_post(author, f"post {n}") for n in range(3)]
    add_comment(viewer, post_ids[0], "first")
    like_post(viewer, post_ids[1])
    run = _pages(author, viewer, post_ids[0])
    run()  # first sight: caches (parsed documents, compiled selections) fill

    assert _server_objects_in_cycles(run) == []


def test_the_check_sees_a_cycle(server: LiveServer) -> None:
    """The check above would see a request's objects if they were in a cycle."""
    from fowergram.graphql.context import Context

    def leave_a_cycle() -> None:
        context = Context(request=None, services=None)  # type: ignore[arg-type]
        context._loaders["self"] = context

    assert _server_objects_in_cycles(leave_a_cycle) == ["fowergram.graphql.context.Context"]
