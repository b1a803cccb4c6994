"""A pushed subscription whose catch-up read fails: before any frame it runs the ordinary
way (which reports the failure as it always has); after frames went out it ends with one
`error` frame rather than starting again (which would repeat them). Through a real server
and client; only the catch-up read is replaced, by one that fails on cue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import make_settings
from starlette.applications import Starlette
from support.live_server import LiveServer
from support.services import ServiceUrls
from support.social_helpers import join
from support.ws_client import TRANSPORT_WS, init, receive_skipping_pings, subscribe
from test_ws_outages import _notification
from websockets.asyncio.client import connect

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.app import create_app
from fowergram.domain.notifications.model import Notification, NotificationKind
from fowergram.graphql.live.notifications import notification_identity, notification_value
from fowergram.graphql.schema import build_schema
from fowergram.graphql.types.notification import NotificationType
from fowergram.realtime.pushed import PushedField, Pusher

LIVE = "subscription Live($after: ID) { notifications(after: $after) { id kind } }"


def _missed(user_id: int) -> NotificationType:
    now = datetime.now(UTC)
    return NotificationType.from_domain(
        Notification(8, user_id, NotificationKind.FOLLOW, "g", (1,), 1, None, None, now, now, None)
    )


def _failing_catch_up(
    arguments: Mapping[str, Any], user_id: int, services: Any
) -> AsyncIterator[list[NotificationType]] | None:
    after = arguments.get("after")
    if after is None:
        return None

    async def pages() -> AsyncIterator[list[NotificationType]]:
        if after == "after-a-page":
            yield [_missed(user_id)]
        raise RuntimeError("the database went away mid-replay")

    return pages()


@pytest.fixture(scope="module")
def served(
    service_urls: ServiceUrls, migrated_database: str
) -> Iterator[tuple[Starlette, LiveServer]]:
    settings = make_settings(service_urls, migrated_database)
    app = create_app(settings)
    with LiveServer(app, settings) as server:
        schema = build_schema(max_depth=12, max_tokens=5000, max_aliases=30, introspection=True)
        field = PushedField(
            "notification", notification_value, _failing_catch_up, notification_identity
        )
        app.state.hub.pusher = Pusher(schema, {"notifications": field})
        yield app, server


async def test_a_catch_up_failing_after_a_page_ends_with_one_error(
    served: tuple[Starlette, LiveServer],
) -> None:
    _, server = served
    member = join(server.http_url)
    async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {member.token}"})
        await subscribe(ws, "n", LIVE, after="after-a-page")
        replayed = await receive_skipping_pings(ws)
        failed = await receive_skipping_pings(ws)
        # The id is free again: a new operation may take it.
        await subscribe(ws, "n", "{ serverInfo { version } }")
        again = await receive_skipping_pings(ws)
    assert replayed["type"] == "next"
    assert replayed["payload"]["data"]["notifications"] == {"id": "8", "kind": "FOLLOW"}
    assert failed == {
        "id": "n",
        "type": "error",
        "payload": [{"message": "internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}],
    }
    assert again["id"] == "n"
    assert again["type"] == "next"


async def test_a_catch_up_failing_before_any_frame_runs_the_ordinary_way(
    served: tuple[Starlette, LiveServer], service_urls: ServiceUrls
) -> None:
    app, server = served
    member = join(server.http_url)
    nats = await connect_nats(service_urls.nats, name="test-pushed-catch-up")
    try:
        async with connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
            await init(ws, {"authorization": f"Bearer {member.token}"})
            await subscribe(ws, "n", LIVE, after="7")  # the ordinary path replays nothing
            await asyncio.sleep(0.3)  # its feed is registered
            subject = f"{server.settings.nats_subject_prefix}.user.{member.id}"
            await nats.publish(subject, _notification(member.id, 41))
            live = await receive_skipping_pings(ws)
    finally:
        await close_nats(nats)
    assert live["id"] == "n"
    assert live["payload"]["data"]["notifications"] == {"id": "41", "kind": "LIKE"}
    del app
