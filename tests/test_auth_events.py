"""Ended sessions are announced on the user's NATS subject, for every instance's live hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import orjson
import pytest
from conftest import make_settings
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from support.auth_helpers import (
    PASSWORD,
    async_http_client,
    bearer,
    new_person,
    session_of,
)
from support.live_server import LiveServer
from support.services import ServiceUrls

from fowergram.app import create_app
from fowergram.config import Settings


@dataclass(frozen=True, slots=True)
class Server:
    live: LiveServer
    settings: Settings


@pytest.fixture(scope="module")
def server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[Server]:
    # Our own server, so the subject prefix (fresh per settings) is known and ours alone.
    settings = make_settings(service_urls, migrated_database)
    with LiveServer(create_app(settings), settings) as live:
        yield Server(live, settings)


@pytest.fixture
async def nc(service_urls: ServiceUrls) -> AsyncIterator[NATS]:
    client = await nats.connect(service_urls.nats)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with async_http_client(server.live.http_url) as client:
        yield client


async def _sign_up(client: httpx.AsyncClient) -> dict[str, Any]:
    person = new_person()
    body = session_of(await client.post("/auth/signup", json=person.sign_up_body()), 201)
    body["identifier"] = person.username
    return body


async def _sign_in(client: httpx.AsyncClient, identifier: str) -> dict[str, Any]:
    response = await client.post(
        "/auth/signin", json={"identifier": identifier, "password": PASSWORD}
    )
    return session_of(response)


async def _subscribe(nc: NATS, server: Server, user_id: str) -> Subscription:
    subject = f"{server.settings.nats_subject_prefix}.user.{user_id}"
    subscription = await nc.subscribe(subject)
    await nc.flush()  # the server knows of the interest before anything is published
    return subscription


async def _next_event(subscription: Subscription) -> dict[str, Any]:
    message: Msg = await subscription.next_msg(timeout=5)
    event: dict[str, Any] = orjson.loads(message.data)
    return event


async def test_sign_out_announces_the_revoked_session(
    server: Server, nc: NATS, client: httpx.AsyncClient
) -> None:
    body = await _sign_up(client)
    subscription = await _subscribe(nc, server, body["user"]["id"])

    response = await client.post("/auth/signout", headers=bearer(body["accessToken"]))
    assert response.status_code == 200

    event = await _next_event(subscription)
    assert event == {"type": "session.revoked", "sessionIds": [body["sessionId"]]}


async def test_sign_out_everywhere_announces_every_session_once(
    server: Server, nc: NATS, client: httpx.AsyncClient
) -> None:
    first = await _sign_up(client)
    second = await _sign_in(client, first["identifier"])
    subscription = await _subscribe(nc, server, first["user"]["id"])

    response = await client.post("/auth/signout/everywhere", headers=bearer(first["accessToken"]))
    assert response.json()["sessionsRevoked"] == 2

    event = await _next_event(subscription)
    assert event["type"] == "session.revoked"
    assert sorted(event["sessionIds"]) == sorted([first["sessionId"], second["sessionId"]])
    # One announcement for the batch; nothing more follows.
    with pytest.raises(nats.errors.TimeoutError):
        await subscription.next_msg(timeout=0.3)


async def test_revocations_reach_only_their_own_user(
    server: Server, nc: NATS, client: httpx.AsyncClient
) -> None:
    mine = await _sign_up(client)
    theirs = await _sign_up(client)
    other_device = await _sign_in(client, mine["identifier"])
    my_events = await _subscribe(nc, server, mine["user"]["id"])
    their_events = await _subscribe(nc, server, theirs["user"]["id"])

    response = await client.delete(
        f"/auth/sessions/{other_device['sessionId']}", headers=bearer(mine["accessToken"])
    )
    assert response.status_code == 200

    assert await _next_event(my_events) == {
        "type": "session.revoked",
        "sessionIds": [other_device["sessionId"]],
    }
    with pytest.raises(nats.errors.TimeoutError):
        await their_events.next_msg(timeout=0.3)


async def test_refresh_token_reuse_announces_the_revocation(
    server: Server, nc: NATS, client: httpx.AsyncClient
) -> None:
    body = await _sign_up(client)
    subscription = await _subscribe(nc, server, body["user"]["id"])
    refresh = {"refreshToken": body["refreshToken"]}
    session_of(await client.post("/auth/session/refresh", json=refresh))

    replay = await client.post("/auth/session/refresh", json=refresh)
    assert replay.status_code == 401

    event = await asyncio.wait_for(_next_event(subscription), 5)
    assert event == {"type": "session.revoked", "sessionIds": [body["sessionId"]]}
