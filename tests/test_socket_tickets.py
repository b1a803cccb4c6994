"""Browsers in cookie mode authenticate WebSockets with a one-time ticket."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from support.auth_helpers import http_client, new_person, sign_up
from support.live_server import LiveServer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

COOKIE_MODE = {"x-auth-mode": "cookie"}


async def _init(live_server: LiveServer, payload: dict[str, Any]) -> dict[str, Any]:
    async with connect(
        live_server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())
        answer: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        return answer


def _browser_ticket(live_server: LiveServer) -> tuple[str, str]:
    person = new_person()
    with http_client(live_server.http_url) as browser:
        sign_up(browser, person)
        signed_in = browser.post(
            "/auth/signin",
            json={"identifier": person.username, "password": person.password},
            headers=COOKIE_MODE,
        ).json()
        without_csrf = browser.post("/auth/socket-ticket", headers=COOKIE_MODE)
        assert without_csrf.status_code == 403  # a POST on cookies needs the anti-CSRF header
        issued = browser.post(
            "/auth/socket-ticket", headers=COOKIE_MODE | {"x-csrf-token": signed_in["antiCsrf"]}
        )
        assert issued.status_code == 200, issued.text
        assert issued.json()["expiresIn"] == 60
        return issued.json()["ticket"], signed_in["user"]["id"]


async def test_a_ticket_authenticates_one_socket_once(live_server: LiveServer) -> None:
    ticket, user_id = _browser_ticket(live_server)
    ack = await _init(live_server, {"ticket": ticket})
    assert ack == {"type": "connection_ack", "payload": {"userId": user_id}}
    with pytest.raises(ConnectionClosed) as closed:
        await _init(live_server, {"ticket": ticket})  # spent
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


@pytest.mark.parametrize("ticket", ["forged", "", "x" * 500, "' OR 1=1 --"])
async def test_unknown_tickets_are_refused(live_server: LiveServer, ticket: str) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        await _init(live_server, {"ticket": ticket})
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


def test_tickets_need_a_session(live_server: LiveServer) -> None:
    with http_client(live_server.http_url) as anonymous:
        assert anonymous.post("/auth/socket-ticket").status_code == 401


async def _answer(live_server: LiveServer, payload: dict[str, Any]) -> tuple[str, int | None]:
    try:
        answer = await _init(live_server, payload)
    except ConnectionClosed as closed:
        return "closed", closed.rcvd.code if closed.rcvd is not None else None
    return answer["type"], None


async def test_tickets_arriving_together_are_each_redeemed_once(live_server: LiveServer) -> None:
    # Answered in one batch, redeemed together: each ticket still works once.
    issued = [_browser_ticket(live_server) for _ in range(3)]
    tickets = [ticket for ticket, _ in issued]
    payloads = [{"ticket": t} for t in tickets] + [{"ticket": tickets[0]}, {"ticket": "forged"}]

    answers = await asyncio.gather(*(_answer(live_server, p) for p in payloads))

    assert answers[1:3] == [("connection_ack", None)] * 2
    assert sorted([answers[0], answers[3]]) == [("closed", 4403), ("connection_ack", None)]
    assert answers[4] == ("closed", 4403)
