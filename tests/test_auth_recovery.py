"""Email verification and password reset through a real server and its dev mailbox."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import jwt
import psycopg
import pytest
from conftest import make_settings
from support.auth_helpers import async_http_client, new_person, session_of
from support.live_server import LiveServer
from support.services import ServiceUrls
from support.ws_client import (
    TRANSPORT_WS,
    bearer_init,
    closed_with,
    init,
    receive_skipping_pings,
    signed_up,
    subscribe,
)
from websockets.asyncio.client import connect

from fowergram.adapters.mail.dev_mailbox import DevMailbox
from fowergram.app import create_app
from fowergram.config import Settings

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server_settings(service_urls: ServiceUrls, migrated_database: str) -> Settings:
    return make_settings(
        service_urls,
        migrated_database,
        public_url="https://app.example",
        signing_keys_refresh_s=0.2,
    )


@pytest.fixture(scope="module")
def server(server_settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(create_app(server_settings), server_settings) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        yield http


def _sign_up(client: httpx.Client) -> tuple[str, dict[str, Any]]:
    name = f"u{uuid.uuid4().hex[:12]}"
    email = f"{name}@example.com"
    response = client.post(
        "/auth/signup", json={"email": email, "username": name, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return email, response.json()


async def _mailed_token(settings: Settings, to: str, page: str) -> str:
    mailbox = DevMailbox(settings.data_dir / "mail")
    for _ in range(100):  # mail goes out after the response
        message = mailbox.latest(to=to)
        if message is not None:
            body = message.get_body(("plain",))
            assert body is not None
            text = str(body.get_content())
            if page in text:
                match = re.search(rf"https://app\.example/{page}\?token=(\S+)", text)
                assert match, text
                return unquote(match.group(1))
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {page} mail for {to}")


async def test_sign_up_mails_a_link_that_verifies_the_address(
    client: httpx.Client, server_settings: Settings
) -> None:
    email, session = _sign_up(client)
    assert session["user"]["emailVerified"] is False
    token = await _mailed_token(server_settings, email, "verify-email")

    assert client.post("/auth/email/verify", json={"token": token}).json() == {"verified": True}
    me = client.post(
        "/graphql",
        json={"query": "{ me { emailVerified } }"},
        headers={"authorization": f"Bearer {session['accessToken']}"},
    )
    assert me.json() == {"data": {"me": {"emailVerified": True}}}

    again = client.post("/auth/email/verify", json={"token": token})
    assert again.status_code == 400
    assert again.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "token"}


@pytest.mark.parametrize("token", ["", "nope", "x" * 5000, "' OR 1=1 --", "\u202e\u0000"])
def test_bad_verification_tokens_are_refused(client: httpx.Client, token: str) -> None:
    response = client.post("/auth/email/verify", json={"token": token})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["field"] == "token"


async def test_password_reset_end_to_end(client: httpx.Client, server_settings: Settings) -> None:
    email, session = _sign_up(client)
    bearer = {"authorization": f"Bearer {session['accessToken']}"}
    assert client.get("/auth/sessions", headers=bearer).status_code == 200

    requested = client.post("/auth/password/reset/request", json={"email": email.upper()})
    assert (requested.status_code, requested.json()) == (202, {"requested": True})
    token = await _mailed_token(server_settings, email, "reset-password")

    weak = client.post("/auth/password/reset", json={"token": token, "newPassword": "short"})
    assert weak.json()["errors"][0]["extensions"]["field"] == "password"  # token kept

    new_password = "a brand new passphrase"
    done = client.post("/auth/password/reset", json={"token": token, "newPassword": new_password})
    assert done.json() == {"reset": True}

    # Every session ended; only the new password works.
    assert client.get("/auth/sessions", headers=bearer).status_code == 401
    old = client.post("/auth/signin", json={"identifier": email, "password": PASSWORD})
    assert old.status_code == 401
    new = client.post("/auth/signin", json={"identifier": email, "password": new_password})
    assert new.status_code == 200

    reused = client.post("/auth/password/reset", json={"token": token, "newPassword": "x" * 20})
    assert reused.status_code == 400


async def test_password_reset_closes_every_socket_of_that_account_within_a_second(
    server: LiveServer, server_settings: Settings
) -> None:
    person = new_person()
    other = await signed_up(server.http_url)
    async with async_http_client(server.http_url) as http:
        first = session_of(await http.post("/auth/signup", json=person.sign_up_body()), 201)
        credentials = {"identifier": person.email, "password": person.password}
        second = session_of(await http.post("/auth/signin", json=credentials))
        async with (
            connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as on_first,
            connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as on_second,
            connect(server.ws_url, subprotocols=[TRANSPORT_WS]) as theirs,
        ):
            await init(on_first, bearer_init(first))
            await init(on_second, bearer_init(second))
            await init(theirs, bearer_init(other))
            requested = await http.post(
                "/auth/password/reset/request", json={"email": person.email}
            )
            assert requested.status_code == 202, requested.text
            token = await _mailed_token(server_settings, person.email, "reset-password")
            reset = {"token": token, "newPassword": "a brand new passphrase"}
            assert (await http.post("/auth/password/reset", json=reset)).json() == {"reset": True}
            started = time.monotonic()
            # Both of the account's sessions ended: both sockets go, as on signing out.
            assert await closed_with(on_first, timeout=3) == 4403
            assert await closed_with(on_second, timeout=3) == 4403
            assert time.monotonic() - started < 1.0
            # Someone else's socket is untouched: the hub still serves its operations.
            await subscribe(theirs, "me", "{ me { id } }")
            assert (await receive_skipping_pings(theirs))["payload"]["data"]["me"]["id"]


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    client: httpx.Client, server_settings: Settings
) -> None:
    known, _ = _sign_up(client)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    answers = [
        client.post("/auth/password/reset/request", json={"email": address})
        for address in (known, unknown)
    ]
    assert answers[0].status_code == answers[1].status_code == 202
    assert answers[0].content == answers[1].content
    await _mailed_token(server_settings, known, "reset-password")
    assert DevMailbox(server_settings.data_dir / "mail").latest(to=unknown) is None


async def test_expired_reset_token_is_refused(
    client: httpx.Client, server_settings: Settings, migrated_database: str
) -> None:
    email, _ = _sign_up(client)
    client.post("/auth/password/reset/request", json={"email": email})
    token = await _mailed_token(server_settings, email, "reset-password")
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "UPDATE auth_tokens SET created_at = now() - interval '2 hours', "
            "expires_at = now() - interval '1 hour' "
            "WHERE email = %s AND purpose = 'reset_password'",
            (email,),
        )
    response = client.post("/auth/password/reset", json={"token": token, "newPassword": "x" * 20})
    assert response.status_code == 400


def test_reset_requests_are_throttled_per_address(client: httpx.Client) -> None:
    email = f"throttle-{uuid.uuid4().hex[:8]}@example.com"
    statuses = [
        client.post("/auth/password/reset/request", json={"email": email}).status_code
        for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]


def test_malformed_reset_request_is_400(client: httpx.Client) -> None:
    for body in ({"email": "not-an-address"}, {"email": 42}, {}):
        response = client.post("/auth/password/reset/request", json=body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["field"] == "email"


def test_cli_key_rotation_keeps_or_retires_old_tokens(
    client: httpx.Client, migrated_database: str
) -> None:
    _, session = _sign_up(client)

    def rotate(*extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "fowergram.cli", "keys", "rotate", *extra],
            env={**os.environ, "DATABASE_URL": migrated_database},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def kid(token: str) -> str:
        return str(jwt.get_unverified_header(token)["kid"])

    def sign_in() -> str:
        body = {"identifier": session["user"]["username"], "password": PASSWORD}
        return str(client.post("/auth/signin", json=body).json()["accessToken"])

    def authorized(token: str) -> bool:
        headers = {"authorization": f"Bearer {token}"}
        return client.get("/auth/sessions", headers=headers).status_code == 200

    old_kid = kid(session["accessToken"])
    assert rotate().startswith("signing with ")
    time.sleep(0.3)  # the server re-reads its keys (SIGNING_KEYS_REFRESH_S)
    rotated = sign_in()
    assert kid(rotated) != old_kid
    published = {key["kid"] for key in client.get("/auth/jwks.json").json()["keys"]}
    assert {old_kid, kid(rotated)} <= published
    assert authorized(session["accessToken"])  # rotation signs nobody out

    assert "older keys retired" in rotate("--retire-others")
    time.sleep(0.3)
    assert not authorized(session["accessToken"])
    assert not authorized(rotated)
    newest = sign_in()
    assert authorized(newest)
    assert [key["kid"] for key in client.get("/auth/jwks.json").json()["keys"]] == [kid(newest)]
