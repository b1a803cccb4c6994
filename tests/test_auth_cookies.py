"""Cookie mode for browsers: httpOnly cookies, the anti-CSRF header on writes, Secure in
production."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie

import httpx
import pytest
from conftest import make_settings
from support.auth_helpers import (
    SESSION_FIELDS,
    bearer,
    error_of,
    graphql,
    graphql_data,
    http_client,
    new_person,
    session_of,
    sign_up,
)
from support.live_server import LiveServer
from support.services import ServiceUrls

from fowergram.app import create_app

COOKIE_MODE = {"x-auth-mode": "cookie"}


@dataclass(frozen=True, slots=True)
class SetCookie:
    name: str
    value: str
    attributes: dict[str, str]  # lower-cased names; flags map to ""

    @property
    def flags(self) -> set[str]:
        return set(self.attributes)


def set_cookies(response: httpx.Response) -> dict[str, SetCookie]:
    """Every Set-Cookie header, parsed the way a browser reads it."""
    parsed: dict[str, SetCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        name_value, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = name_value.partition("=")
        attrs = {}
        for attribute in attributes:
            key, _, attr_value = attribute.partition("=")
            attrs[key.strip().lower()] = attr_value.strip()
        parsed[name] = SetCookie(name, value, attrs)
    return parsed


def cookie_header(**cookies: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in cookies.items():
        jar[name] = value
    return {"cookie": "; ".join(f"{m.key}={m.coded_value}" for m in jar.values())}


@dataclass(frozen=True, slots=True)
class CookieSession:
    access: str
    refresh: str
    anti_csrf: str
    session_id: str


def cookie_sign_in(client: httpx.Client, identifier: str, password: str) -> CookieSession:
    response = client.post(
        "/auth/signin",
        json={"identifier": identifier, "password": password},
        headers=COOKIE_MODE,
    )
    body = session_of(response)
    cookies = set_cookies(response)
    return CookieSession(
        access=cookies["fg_access"].value,
        refresh=cookies["fg_refresh"].value,
        anti_csrf=body["antiCsrf"],
        session_id=body["sessionId"],
    )


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with http_client(live_server.http_url) as client:
        yield client


def _sessions_with_cookie(client: httpx.Client, access: str) -> httpx.Response:
    return client.get("/auth/sessions", headers=cookie_header(fg_access=access))


def test_cookie_sign_in_sets_http_only_cookies_and_keeps_tokens_out_of_the_body(
    client: httpx.Client,
) -> None:
    person = new_person()
    sign_up(client, person)

    response = client.post(
        "/auth/signin",
        json={"identifier": person.username, "password": person.password},
        headers=COOKIE_MODE,
    )

    body = session_of(response)
    assert "accessToken" not in body
    assert "refreshToken" not in body
    assert body["antiCsrf"]
    assert body["user"]["username"] == person.username
    assert response.headers["x-csrf-token"] == body["antiCsrf"]
    cookies = set_cookies(response)
    access, refresh = cookies["fg_access"], cookies["fg_refresh"]
    assert access.value.count(".") == 2
    assert len(refresh.value) >= 43
    assert {"httponly", "samesite", "path", "expires"} <= access.flags
    assert access.attributes["samesite"].lower() == "lax"
    assert access.attributes["path"] == "/"
    assert {"httponly", "samesite", "path", "expires"} <= refresh.flags
    assert refresh.attributes["samesite"].lower() == "lax"
    assert refresh.attributes["path"] == "/auth/session/refresh"  # sent nowhere else
    assert "secure" not in access.flags  # development runs over plain http
    assert "secure" not in refresh.flags


def test_the_access_cookie_alone_authenticates_reads(client: httpx.Client) -> None:
    person = new_person()
    sign_up(client, person)
    session = cookie_sign_in(client, person.email, person.password)

    response = _sessions_with_cookie(client, session.access)

    assert response.status_code == 200
    [listed] = [s for s in response.json()["sessions"] if s["current"]]
    assert listed["id"] == session.session_id
    me = client.get(
        "/graphql",
        params={"query": "{ me { username } }"},
        headers=cookie_header(fg_access=session.access),
    )
    assert graphql_data(me) == {"me": {"username": person.username}}


def test_a_cookie_write_without_the_csrf_header_is_forbidden(client: httpx.Client) -> None:
    person = new_person()
    sign_up(client, person)
    session = cookie_sign_in(client, person.username, person.password)
    cookies = cookie_header(fg_access=session.access)

    for token in (None, "", "not-the-token", session.anti_csrf + "x"):
        headers = cookies | ({"x-csrf-token": token} if token is not None else {})
        refused = client.post("/auth/signout", headers=headers)
        assert error_of(refused, 403)["extensions"] == {"code": "FORBIDDEN"}
        assert "set-cookie" not in refused.headers
    assert _sessions_with_cookie(client, session.access).status_code == 200  # still signed in

    response = client.post("/auth/signout", headers=cookies | {"x-csrf-token": session.anti_csrf})

    assert response.status_code == 200
    assert response.json() == {"signedOut": True}
    cleared = set_cookies(response)
    assert cleared["fg_access"].value in ("", '""')
    assert cleared["fg_access"].attributes.get("max-age") == "0"
    assert cleared["fg_refresh"].attributes["path"] == "/auth/session/refresh"
    assert error_of(_sessions_with_cookie(client, session.access), 401)["extensions"] == {
        "code": "UNAUTHENTICATED"
    }


def test_revoking_a_session_by_cookie_needs_the_csrf_header(client: httpx.Client) -> None:
    person = new_person()
    other = sign_up(client, person)
    session = cookie_sign_in(client, person.username, person.password)
    path = f"/auth/sessions/{other['sessionId']}"
    cookies = cookie_header(fg_access=session.access)

    assert error_of(client.delete(path, headers=cookies), 403)["extensions"]["code"] == "FORBIDDEN"
    response = client.delete(path, headers=cookies | {"x-csrf-token": session.anti_csrf})
    assert response.json() == {"revoked": True}


def test_refresh_by_cookie_rotates(client: httpx.Client) -> None:
    person = new_person()
    sign_up(client, person)
    first = cookie_sign_in(client, person.username, person.password)

    response = client.post(
        "/auth/session/refresh", headers=COOKIE_MODE | cookie_header(fg_refresh=first.refresh)
    )

    body = session_of(response)
    assert "refreshToken" not in body
    assert "accessToken" not in body
    cookies = set_cookies(response)
    second = CookieSession(
        cookies["fg_access"].value, cookies["fg_refresh"].value, body["antiCsrf"], body["sessionId"]
    )
    assert second.refresh != first.refresh
    assert second.access != first.access
    assert second.session_id == first.session_id
    assert cookies["fg_refresh"].attributes["path"] == "/auth/session/refresh"
    assert _sessions_with_cookie(client, second.access).status_code == 200
    # The old refresh cookie, replayed, ends the session.
    replay = client.post(
        "/auth/session/refresh", headers=COOKIE_MODE | cookie_header(fg_refresh=first.refresh)
    )
    assert error_of(replay, 401)["extensions"] == {"code": "UNAUTHENTICATED"}
    assert _sessions_with_cookie(client, second.access).status_code == 401


def test_refresh_in_cookie_mode_without_the_cookie_is_unauthenticated(
    client: httpx.Client,
) -> None:
    response = client.post("/auth/session/refresh", headers=COOKIE_MODE)
    assert error_of(response, 401)["extensions"] == {"code": "UNAUTHENTICATED"}


def test_a_graphql_mutation_over_cookie_auth_needs_the_csrf_header(client: httpx.Client) -> None:
    person = new_person()
    sign_up(client, person)
    session = cookie_sign_in(client, person.username, person.password)
    cookies = cookie_header(fg_access=session.access)

    refused = graphql(client, "mutation { signOut }", headers=cookies)

    assert error_of(refused, 403)["extensions"] == {"code": "FORBIDDEN"}
    assert _sessions_with_cookie(client, session.access).status_code == 200
    allowed = graphql(
        client, "mutation { signOut }", headers=cookies | {"x-csrf-token": session.anti_csrf}
    )
    assert graphql_data(allowed) == {"signOut": True}
    assert "fg_access" in set_cookies(allowed)  # cleared
    assert _sessions_with_cookie(client, session.access).status_code == 401


def test_graphql_sign_in_in_cookie_mode_sets_the_cookies(client: httpx.Client) -> None:
    person = new_person()
    sign_up(client, person)
    response = graphql(
        client,
        f"mutation($i: String!, $p: String!) {{ signIn(identifier: $i, password: $p) "
        f"{{ {SESSION_FIELDS} }} }}",
        {"i": person.username, "p": person.password},
        headers=COOKIE_MODE,
    )
    payload = graphql_data(response)["signIn"]
    assert payload["accessToken"] is None
    assert payload["refreshToken"] is None
    assert payload["antiCsrf"]
    cookies = set_cookies(response)
    assert cookies["fg_refresh"].attributes["path"] == "/auth/session/refresh"
    assert _sessions_with_cookie(client, cookies["fg_access"].value).status_code == 200


def test_cookie_sessions_refresh_over_rest_not_graphql(live_server: LiveServer) -> None:
    """The refresh cookie is scoped to /auth/session/refresh, so a browser never sends it to
    /graphql: there `refreshSession` takes the token as an argument, and says so."""
    person = new_person()
    with http_client(live_server.http_url) as browser:
        sign_up(browser, person)
        browser.cookies.clear()
        signed_in = graphql(
            browser,
            "mutation($i: String!, $p: String!) { signIn(identifier: $i, password: $p) "
            "{ antiCsrf } }",
            {"i": person.username, "p": person.password},
            headers=COOKIE_MODE,
        )
        anti_csrf = graphql_data(signed_in)["signIn"]["antiCsrf"]
        assert {"fg_access", "fg_refresh"} <= set(browser.cookies.keys())

        without_token = graphql(
            browser,
            "mutation { refreshSession { sessionId } }",
            headers=COOKIE_MODE | {"x-csrf-token": anti_csrf},
        )
        assert "refreshToken" in without_token.json()["errors"][0]["message"]

        refreshed = browser.post("/auth/session/refresh", headers=COOKIE_MODE)
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["antiCsrf"] != anti_csrf


def test_a_browser_holding_a_revoked_cookie_can_sign_in_again_over_graphql(
    live_server: LiveServer,
) -> None:
    """Signed out everywhere from another device, a browser still holds its (httpOnly, so
    undeletable by script) access cookie. It must be able to sign in again: at worst after one
    401 that tells it to drop the dead cookie."""
    person = new_person()
    with http_client(live_server.http_url) as phone:
        on_phone = sign_up(phone, person)
    with http_client(live_server.http_url) as browser:
        session_of(
            browser.post(
                "/auth/signin",
                json={"identifier": person.username, "password": person.password},
                headers=COOKIE_MODE,
            )
        )
        with http_client(live_server.http_url) as phone:
            everywhere = phone.post(
                "/auth/signout/everywhere", headers=bearer(on_phone["accessToken"])
            )
            assert everywhere.json()["sessionsRevoked"] == 2

        sign_in = (
            "mutation($i: String!, $p: String!) { signIn(identifier: $i, password: $p) "
            "{ account { username } } }"
        )
        variables = {"i": person.username, "p": person.password}
        response = graphql(browser, sign_in, variables, headers=COOKIE_MODE)
        if response.status_code == 401:  # allowed once, if it clears the dead cookie
            response = graphql(browser, sign_in, variables, headers=COOKIE_MODE)

    assert graphql_data(response)["signIn"]["account"]["username"] == person.username


@pytest.fixture(scope="module")
def production_server(service_urls: ServiceUrls, migrated_database: str) -> Iterator[LiveServer]:
    settings = make_settings(service_urls, migrated_database, environment="production")
    with LiveServer(create_app(settings), settings) as server:
        yield server


def test_production_cookies_are_secure(production_server: LiveServer) -> None:
    person = new_person()
    with http_client(production_server.http_url) as client:
        signed_up = client.post("/auth/signup", json=person.sign_up_body(), headers=COOKIE_MODE)
        signed_in = client.post(
            "/auth/signin",
            json={"identifier": person.email, "password": person.password},
            headers=COOKIE_MODE,
        )
        session = session_of(signed_in)
        signed_out = client.post(
            "/auth/signout",
            headers=cookie_header(fg_access=set_cookies(signed_in)["fg_access"].value)
            | {"x-csrf-token": session["antiCsrf"]},
        )

    assert signed_up.status_code == 201
    for response in (signed_up, signed_in, signed_out):
        cookies = set_cookies(response)
        assert set(cookies) == {"fg_access", "fg_refresh"}
        for cookie in cookies.values():
            assert {"secure", "httponly"} <= cookie.flags, cookie
            assert cookie.attributes["samesite"].lower() == "lax"
