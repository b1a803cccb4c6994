"""Auth over GraphQL through the shared real server: the mutations, `me` and `mySessions`, and
authenticating a WebSocket in `connection_init`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from support.auth_helpers import (
    ME,
    SESSION_FIELDS,
    Person,
    async_http_client,
    bearer,
    error_of,
    graphql,
    graphql_data,
    http_client,
    new_person,
    session_of,
)
from support.live_server import LiveServer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
SIGN_UP = (
    "mutation($email: String!, $username: String!, $password: String!) {"
    f" signUp(email: $email, username: $username, password: $password) {{ {SESSION_FIELDS} }} }}"
)
SIGN_IN = (
    "mutation($identifier: String!, $password: String!) {"
    f" signIn(identifier: $identifier, password: $password) {{ {SESSION_FIELDS} }} }}"
)
REFRESH = (
    f"mutation($token: String!) {{ refreshSession(refreshToken: $token) {{ {SESSION_FIELDS} }} }}"
)
MY_SESSIONS = "{ mySessions { id current userAgent ip createdAt lastSeenAt expiresAt } }"


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with http_client(live_server.http_url) as client:
        yield client


def _sign_up(client: httpx.Client, person: Person | None = None) -> dict[str, Any]:
    person = person or new_person()
    payload: dict[str, Any] = graphql_data(graphql(client, SIGN_UP, person.sign_up_body()))[
        "signUp"
    ]
    return payload


def _sign_in(client: httpx.Client, identifier: str, password: str) -> dict[str, Any]:
    variables = {"identifier": identifier, "password": password}
    payload: dict[str, Any] = graphql_data(graphql(client, SIGN_IN, variables))["signIn"]
    return payload


def _only_error(response: httpx.Response) -> dict[str, Any]:
    """A GraphQL-level error: HTTP 200, `data` null, one error with its code."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    result: dict[str, Any] = error
    return result


def test_sign_up_and_sign_in_return_tokens(client: httpx.Client) -> None:
    person = new_person()
    signed_up = _sign_up(client, Person(person.username.upper(), f" {person.email.upper()}"))

    assert signed_up["account"]["username"] == person.username
    assert signed_up["account"]["email"] == person.email
    assert signed_up["accessToken"]
    assert signed_up["refreshToken"]
    assert signed_up["antiCsrf"]

    for identifier in (person.email, person.username):
        signed_in = _sign_in(client, identifier, person.password)
        assert signed_in["account"] == signed_up["account"]
        assert signed_in["sessionId"] != signed_up["sessionId"]
        assert signed_in["accessToken"] != signed_up["accessToken"]


def test_me_and_my_sessions_with_a_bearer(client: httpx.Client) -> None:
    person = new_person()
    first = _sign_up(client, person)
    second = _sign_in(client, person.username, person.password)

    me = graphql_data(graphql(client, ME, headers=bearer(first["accessToken"])))["me"]
    assert me == {
        "id": first["account"]["id"],
        "username": person.username,
        "email": person.email,
        "emailVerified": False,
        "role": "user",
    }
    sessions = graphql_data(graphql(client, MY_SESSIONS, headers=bearer(second["accessToken"])))
    current = {s["id"]: s["current"] for s in sessions["mySessions"]}
    assert current == {first["sessionId"]: False, second["sessionId"]: True}


def test_me_without_credentials_is_unauthenticated_inside_the_result(
    client: httpx.Client,
) -> None:
    for query in (ME, MY_SESSIONS):
        error = _only_error(graphql(client, query))
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}
        assert error["path"] == [query.split()[1]]


def test_sign_in_failures_keep_their_codes(client: httpx.Client) -> None:
    person = new_person()
    _sign_up(client, person)

    wrong = _only_error(graphql(client, SIGN_IN, {"identifier": person.email, "password": "nope"}))
    assert wrong["extensions"] == {"code": "UNAUTHENTICATED"}
    taken = _only_error(graphql(client, SIGN_UP, person.sign_up_body()))
    assert taken["extensions"] == {"code": "CONFLICT", "field": "username"}
    hostile = new_person().sign_up_body() | {"username": "ana\u202eadmin"}
    bad = _only_error(graphql(client, SIGN_UP, hostile))
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "username"}


def test_sign_out_over_graphql_then_the_token_is_refused(client: httpx.Client) -> None:
    session = _sign_up(client)
    headers = bearer(session["accessToken"])

    assert graphql_data(graphql(client, "mutation { signOut }", headers=headers)) == {
        "signOut": True
    }

    refused = graphql(client, ME, headers=headers)
    assert error_of(refused, 401)["extensions"] == {"code": "UNAUTHENTICATED"}
    after = _only_error(graphql(client, REFRESH, {"token": session["refreshToken"]}))
    assert after["extensions"] == {"code": "UNAUTHENTICATED"}


def test_refresh_session_rotates(client: httpx.Client) -> None:
    first = _sign_up(client)

    second = graphql_data(graphql(client, REFRESH, {"token": first["refreshToken"]}))[
        "refreshSession"
    ]

    assert second["refreshToken"] != first["refreshToken"]
    assert second["sessionId"] == first["sessionId"]
    me = graphql_data(graphql(client, ME, headers=bearer(second["accessToken"])))["me"]
    assert me["id"] == first["account"]["id"]
    replay = _only_error(graphql(client, REFRESH, {"token": first["refreshToken"]}))
    assert replay["extensions"] == {"code": "UNAUTHENTICATED"}
    assert graphql(client, ME, headers=bearer(second["accessToken"])).status_code == 401
    # The token is a required argument: null is refused before anything runs.
    missing = _only_error(graphql(client, REFRESH, {"token": None}))
    assert missing["extensions"] == {"code": "BAD_USER_INPUT"}


def test_revoke_session_and_sign_out_everywhere(client: httpx.Client) -> None:
    person = new_person()
    first = _sign_up(client, person)
    second = _sign_in(client, person.email, person.password)
    third = _sign_in(client, person.email, person.password)
    headers = bearer(first["accessToken"])

    revoke = "mutation($id: ID!) { revokeSession(id: $id) }"
    assert graphql_data(graphql(client, revoke, {"id": second["sessionId"]}, headers)) == {
        "revokeSession": True
    }
    assert graphql(client, ME, headers=bearer(second["accessToken"])).status_code == 401
    gone = _only_error(graphql(client, revoke, {"id": second["sessionId"]}, headers))
    assert gone["extensions"] == {"code": "NOT_FOUND"}
    not_an_id = _only_error(graphql(client, revoke, {"id": "../../etc"}, headers))
    assert not_an_id["extensions"] == {"code": "NOT_FOUND"}

    everywhere = graphql_data(graphql(client, "mutation { signOutEverywhere }", headers=headers))
    assert everywhere == {"signOutEverywhere": 2}
    for session in (first, third):
        assert graphql(client, ME, headers=bearer(session["accessToken"])).status_code == 401


# --- WebSocket -------------------------------------------------------------------------------


async def _send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), 5)
    message: dict[str, Any] = orjson.loads(frame)
    return message


async def _query(ws: ClientConnection, query: str, op_id: str = "q") -> dict[str, Any]:
    await _send(ws, {"id": op_id, "type": "subscribe", "payload": {"query": query}})
    result = await _receive(ws)
    assert result["id"] == op_id
    if result["type"] == "next":
        assert (await _receive(ws))["type"] == "complete"
        payload: dict[str, Any] = result["payload"]
        return payload
    assert result["type"] == "error", result
    return {"errors": result["payload"]}


async def _signed_up(live_server: LiveServer) -> dict[str, Any]:
    async with async_http_client(live_server.http_url) as client:
        response = await client.post("/auth/signup", json=new_person().sign_up_body())
    return session_of(response, 201)


async def _closed_with(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_a_socket_authenticated_with_a_bearer(live_server: LiveServer) -> None:
    session = await _signed_up(live_server)
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        init = {"authorization": f"Bearer {session['accessToken']}"}
        await _send(ws, {"type": "connection_init", "payload": init})
        ack = await _receive(ws)
        me = await _query(ws, "{ me { id username } }")

    user = session["user"]
    assert ack == {"type": "connection_ack", "payload": {"userId": user["id"]}}
    assert me == {"data": {"me": {"id": user["id"], "username": user["username"]}}}


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUifQ.eyJzdWIiOiIxIn0.c2ln",
        "Bearer garbage",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ],
    ids=["forged-jwt", "garbage", "basic", "empty-bearer"],
)
async def test_a_socket_with_bad_credentials_is_closed_with_4403(
    live_server: LiveServer, authorization: str
) -> None:
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await _send(ws, {"type": "connection_init", "payload": {"authorization": authorization}})
        assert await _closed_with(ws) == 4403


async def test_a_socket_with_a_signed_out_token_is_closed_with_4403(
    live_server: LiveServer,
) -> None:
    session = await _signed_up(live_server)
    async with async_http_client(live_server.http_url) as client:
        signed_out = await client.post("/auth/signout", headers=bearer(session["accessToken"]))
    assert signed_out.status_code == 200
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        init = {"authorization": f"Bearer {session['accessToken']}"}
        await _send(ws, {"type": "connection_init", "payload": init})
        assert await _closed_with(ws) == 4403


async def test_a_socket_without_credentials_is_anonymous(live_server: LiveServer) -> None:
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await _send(ws, {"type": "connection_init", "payload": {}})
        ack = await _receive(ws)
        me = await _query(ws, "{ me { id } }")
        sign_in = await _query(
            ws, 'mutation { signIn(identifier: "someone", password: "whatever1") { sessionId } }'
        )

    assert ack["type"] == "connection_ack"
    assert not ack.get("payload")
    assert me["data"] is None
    assert me["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    # Signing in happens over HTTP; the socket then authenticates with the token.
    assert sign_in["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_a_socket_stops_serving_a_session_once_it_is_revoked(
    live_server: LiveServer,
) -> None:
    """Signing out (or being signed out elsewhere) ends the session for its open sockets too:
    the socket is closed, or at least answers no more as that user."""
    session = await _signed_up(live_server)
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        init = {"authorization": f"Bearer {session['accessToken']}"}
        await _send(ws, {"type": "connection_init", "payload": init})
        assert (await _receive(ws))["type"] == "connection_ack"
        assert (await _query(ws, "{ me { id } }", "before"))["data"]["me"]

        async with async_http_client(live_server.http_url) as client:
            response = await client.post("/auth/signout", headers=bearer(session["accessToken"]))
        assert response.status_code == 200
        await asyncio.sleep(0.2)  # the revocation's announcement has reached the server

        try:
            after = await _query(ws, "{ me { id } }", "after")
        except ConnectionClosed:
            return  # closed: the session's socket is gone, as it should be
    assert after.get("data") is None, after
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
