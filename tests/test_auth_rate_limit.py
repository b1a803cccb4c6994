"""Throttling sign-in and sign-up, on a private server (a fresh Redis key prefix), so the
counters start at zero and no other test shares them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from conftest import make_settings
from support.auth_helpers import (
    PASSWORD,
    error_of,
    http_client,
    new_ip,
    new_person,
    session_of,
    sign_up,
)
from support.live_server import LiveServer
from support.services import ServiceUrls

from fowergram.app import create_app
from fowergram.domain.auth.guard import (
    FAILURES_PER_ACCOUNT,
    FAILURES_PER_IDENTIFIER_AND_IP,
    SIGN_IN_PER_IP,
    SIGN_UP_PER_IP,
)


@pytest.fixture(scope="module")
def server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[LiveServer]:
    settings = make_settings(service_urls, migrated_database)
    with LiveServer(create_app(settings), settings) as server:
        yield server


def _sign_in(server: LiveServer, identifier: str, password: str, *, ip: str) -> httpx.Response:
    with http_client(server.http_url, ip=ip) as client:
        return client.post("/auth/signin", json={"identifier": identifier, "password": password})


def _assert_rate_limited(response: httpx.Response) -> int:
    error = error_of(response, 429)
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert int(retry_after) >= 1
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": int(retry_after)}
    return int(retry_after)


def _new_account(server: LiveServer) -> tuple[str, str]:
    person = new_person()
    with http_client(server.http_url) as client:
        sign_up(client, person)
    return person.username, person.email


def test_a_guesser_is_stopped_without_locking_the_owner_out(server: LiveServer) -> None:
    """From one address, 10 failures for one identifier (however it is spelt after
    normalisation) stop that address; the owner, elsewhere, still signs in."""
    username, _ = _new_account(server)
    guesser = new_ip()
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) for ch in username)
    spellings = [username, username.upper(), fullwidth]
    assert FAILURES_PER_IDENTIFIER_AND_IP.limit == 10
    for attempt in range(FAILURES_PER_IDENTIFIER_AND_IP.limit):
        failed = _sign_in(server, spellings[attempt % 3], f"guess {attempt}", ip=guesser)
        assert error_of(failed, 401)["extensions"] == {"code": "UNAUTHENTICATED"}

    for spelling in spellings:  # even the right password, from the guesser's address
        retry_after = _assert_rate_limited(_sign_in(server, spelling, PASSWORD, ip=guesser))
        assert retry_after <= FAILURES_PER_IDENTIFIER_AND_IP.window_s
    assert session_of(_sign_in(server, username, PASSWORD, ip=new_ip()))["user"]["username"] == (
        username
    )
    # GraphQL tells the same, inside the result.
    with http_client(server.http_url, ip=guesser) as client:
        response = client.post(
            "/graphql",
            json={
                "query": "mutation($i: String!, $p: String!) "
                "{ signIn(identifier: $i, password: $p) { sessionId } }",
                "variables": {"i": username, "p": PASSWORD},
            },
        )
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= error["extensions"]["retryAfter"] <= FAILURES_PER_IDENTIFIER_AND_IP.window_s


def test_unknown_identifiers_are_throttled_the_same_way(server: LiveServer) -> None:
    """The limit keys on what was typed, so it cannot tell who has an account."""
    guesser = new_ip()
    unknown = new_person().username
    for attempt in range(FAILURES_PER_IDENTIFIER_AND_IP.limit):
        error_of(_sign_in(server, unknown, f"guess {attempt}", ip=guesser), 401)
    _assert_rate_limited(_sign_in(server, unknown, PASSWORD, ip=guesser))


def test_a_distributed_guesser_locks_the_account_for_everyone(server: LiveServer) -> None:
    username, email = _new_account(server)
    neighbour, _ = _new_account(server)
    assert FAILURES_PER_ACCOUNT.limit == 100
    for attempt in range(FAILURES_PER_ACCOUNT.limit):
        identifier = username if attempt % 2 else email
        error_of(_sign_in(server, identifier, f"guess {attempt}", ip=new_ip()), 401)
    _assert_rate_limited(_sign_in(server, username, PASSWORD, ip=new_ip()))
    _assert_rate_limited(_sign_in(server, email, PASSWORD, ip=new_ip()))
    assert session_of(_sign_in(server, neighbour, PASSWORD, ip=new_ip()))


def test_sign_ins_from_one_address_are_limited(server: LiveServer) -> None:
    username, _ = _new_account(server)
    busy_ip = new_ip()
    assert SIGN_IN_PER_IP.limit == 30

    # Different (unknown) accounts each time, so only the per-address limit can apply.
    for _ in range(SIGN_IN_PER_IP.limit):
        error_of(_sign_in(server, new_person().username, PASSWORD, ip=busy_ip), 401)

    _assert_rate_limited(_sign_in(server, username, PASSWORD, ip=busy_ip))
    assert session_of(_sign_in(server, username, PASSWORD, ip=new_ip()))  # other addresses pass


def test_sign_ups_from_one_address_are_limited(server: LiveServer) -> None:
    busy_ip = new_ip()
    with http_client(server.http_url, ip=busy_ip) as client:
        for _ in range(SIGN_UP_PER_IP.limit):
            sign_up(client, new_person())
        refused = new_person()
        _assert_rate_limited(client.post("/auth/signup", json=refused.sign_up_body()))
    with http_client(server.http_url) as elsewhere:
        # The refused account was never created; other addresses still sign up.
        never_created = {"identifier": refused.username, "password": PASSWORD}
        error_of(elsewhere.post("/auth/signin", json=never_created), 401)
        assert sign_up(elsewhere, new_person())["user"]
